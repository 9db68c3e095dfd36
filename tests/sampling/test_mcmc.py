"""Langevin (ULA, MALA) and HMC against analytic energies with known moments.

Tolerances: with N independent chains, the standard error of a mean coordinate is
sqrt(var/N) and that of a covariance entry about sqrt(2/N)·var; each check allows about five
standard errors plus the sampler's own bias (ULA's O(η) inflation of the variance).
"""

from __future__ import annotations

import pytest
import torch

from eblearn.energy import FreeEnergy, GaussianMixtureEnergy, MLPEnergy, QuadraticEnergy
from eblearn.energy.free_energy import Enumerate
from eblearn.energy.models import DecoderLatentEnergy
from eblearn.sampling import HMCSampler, LangevinSampler

N = 2000
MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[1.0, 0.4], [0.4, 0.6]])


def _check_moments(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, extra: float):
    var = float(cov.diagonal().max())
    se_mean = (var / len(samples)) ** 0.5
    se_cov = (2 / len(samples)) ** 0.5 * var
    torch.testing.assert_close(samples.mean(0), mean, atol=5 * se_mean + extra, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=5 * se_cov + extra, rtol=0)


@pytest.fixture
def gaussian() -> QuadraticEnergy:
    return QuadraticEnergy(MEAN, COV)


@pytest.fixture
def mixture() -> GaussianMixtureEnergy:
    # two overlapping components, so that chains cross between them within the budget
    return GaussianMixtureEnergy(
        torch.tensor([[-0.8, 0.0], [0.8, 0.6]]), [0.4, 0.3], weights=[0.4, 0.6]
    )


def test_unadjusted_langevin_on_a_gaussian(gaussian: QuadraticEnergy) -> None:
    gen = torch.Generator().manual_seed(0)
    sampler = LangevinSampler(step_size=0.02, steps=500)
    samples = sampler(gaussian, torch.zeros(N, 2), generator=gen)
    # ULA inflates the variance by 1/(1 - ηλ/2) ≤ 1.04 here: allow 0.04 more
    _check_moments(samples, MEAN, COV, extra=0.04)


def test_mala_on_a_mixture(mixture: GaussianMixtureEnergy) -> None:
    gen = torch.Generator().manual_seed(1)
    chain = LangevinSampler(step_size=0.1, steps=400, metropolis=True).trace(
        mixture, torch.zeros(N, 2), generator=gen, record=False
    )
    mean, cov = mixture.moments()
    _check_moments(chain.final, mean, cov, extra=0.0)
    assert 0.5 < float(chain.acceptance_rate.mean()) < 1.0


def test_hmc_on_a_gaussian_and_a_mixture(
    gaussian: QuadraticEnergy, mixture: GaussianMixtureEnergy
) -> None:
    gen = torch.Generator().manual_seed(2)
    sampler = HMCSampler(step_size=0.25, n_leapfrog=5, steps=100)
    for energy in (gaussian, mixture):
        chain = sampler.trace(energy, torch.zeros(N, 2), generator=gen, record=False)
        mean, cov = energy.moments()
        _check_moments(chain.final, mean, cov, extra=0.0)
        assert float(chain.acceptance_rate.mean()) > 0.6


def test_temperature_scales_the_covariance(gaussian: QuadraticEnergy) -> None:
    gen = torch.Generator().manual_seed(3)
    samples = HMCSampler(step_size=0.1, n_leapfrog=5, steps=100, beta=4.0)(
        gaussian, MEAN.expand(N, 2), generator=gen
    )
    _check_moments(samples, MEAN, COV / 4, extra=0.0)


def test_trace_records_states_and_their_energies(gaussian: QuadraticEnergy) -> None:
    for sampler in (
        LangevinSampler(steps=7),
        LangevinSampler(steps=7, metropolis=True),
        HMCSampler(steps=7, n_leapfrog=3),
    ):
        chain = sampler.trace(gaussian, torch.randn(5, 2))
        assert chain.states.shape == (8, 5, 2)
        assert chain.energies.shape == (8, 5)
        torch.testing.assert_close(chain.energies[-1], gaussian(chain.states[-1]))
        torch.testing.assert_close(chain.states[-1], chain.final)


def test_same_generator_same_chain(mixture: GaussianMixtureEnergy) -> None:
    for sampler in (LangevinSampler(steps=20), HMCSampler(steps=5, n_leapfrog=3)):
        runs = [
            sampler(mixture, torch.zeros(10, 2), generator=torch.Generator().manual_seed(7))
            for _ in range(2)
        ]
        torch.testing.assert_close(runs[0], runs[1], atol=0, rtol=0)


def test_sampling_leaves_parameter_gradients_alone() -> None:
    energy = MLPEnergy(2, hidden=(8,))
    LangevinSampler(steps=3)(energy, torch.randn(4, 2))
    HMCSampler(steps=2, n_leapfrog=2)(energy, torch.randn(4, 2))
    assert all(p.grad is None for p in energy.parameters())


def test_samplers_work_on_free_energies_and_conditional_energies() -> None:
    latent = DecoderLatentEnergy(2, latent_dim=1, periodic=True, hidden=(8,))
    free = FreeEnergy(latent, Enumerate(torch.linspace(0, 6.28, 32)[:, None]), beta=5.0)
    assert LangevinSampler(steps=3)(free, torch.randn(6, 2)).shape == (6, 2)
    conditional = MLPEnergy(2, dim_x=1, hidden=(8,))
    assert HMCSampler(steps=2)(conditional, torch.randn(6, 2), torch.randn(6, 1)).shape == (6, 2)


def test_bounds_clamp_the_chain(gaussian: QuadraticEnergy) -> None:
    samples = LangevinSampler(steps=50, step_size=0.1, bounds=(-0.2, 0.2))(
        gaussian, torch.zeros(100, 2)
    )
    assert float(samples.abs().max()) == pytest.approx(0.2)  # reached, not passed


def test_zero_steps_return_the_start(gaussian: QuadraticEnergy) -> None:
    y0 = torch.randn(3, 2)
    torch.testing.assert_close(LangevinSampler()(gaussian, y0, steps=0), y0)


def test_bad_inputs_are_named(gaussian: QuadraticEnergy) -> None:
    with pytest.raises(ValueError, match="metropolis=True needs the default noise_scale"):
        LangevinSampler(metropolis=True, noise_scale=0.1)
    with pytest.raises(ValueError, match="step_size must be > 0"):
        LangevinSampler(step_size=-1.0)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        HMCSampler(steps=-1)
    with pytest.raises(ValueError, match="n_leapfrog must be an integer >= 1"):
        HMCSampler(n_leapfrog=0)
    with pytest.raises(ValueError, match=r"y0 must be a batch of shape \(B, ...\)"):
        LangevinSampler()(gaussian, torch.zeros(2))
    with pytest.raises(ValueError, match="x and y0 must hold the same number of samples"):
        LangevinSampler()(gaussian, torch.zeros(3, 2), torch.zeros(2, 1))
