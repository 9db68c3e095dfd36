"""Analytic energies against torch.distributions, and the trainable energies' contracts."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from eblearn.energy import (
    DecoderLatentEnergy,
    FunctionEnergy,
    GaussianMixtureEnergy,
    LatentEnergy,
    MLPEnergy,
    QuadraticEnergy,
    energy_and_grad,
    mlp,
)
from eblearn.energy.base import check_answers


def test_mixture_energy_is_minus_the_log_density() -> None:
    means = torch.tensor([[0.0, 1.0], [2.0, -1.0], [-1.0, -1.0]])
    covs = torch.stack([torch.eye(2) * 0.5, torch.tensor([[1.0, 0.3], [0.3, 0.4]]), torch.eye(2)])
    weights = torch.tensor([0.2, 0.5, 0.3])
    energy = GaussianMixtureEnergy(means, covs, weights)
    reference = MixtureSameFamily(Categorical(weights), MultivariateNormal(means, covs))
    y = torch.randn(50, 2) * 2
    torch.testing.assert_close(energy(y), -reference.log_prob(y), atol=1e-5, rtol=1e-5)


def test_mixture_moments_match_exact_samples() -> None:
    energy = GaussianMixtureEnergy(torch.tensor([[-1.0, 0.0], [1.5, 1.0]]), [0.3, 0.6], [1, 3])
    mean, cov = energy.moments()
    samples = energy.sample(40_000, torch.Generator().manual_seed(0))
    # standard errors ≈ sqrt(1.2 / 40000) ≈ 0.006 for the mean, ~0.01 for the covariance
    torch.testing.assert_close(samples.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(samples.T), cov, atol=0.05, rtol=0)


def test_gaussian_energy_and_its_moments() -> None:
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    energy = QuadraticEnergy(torch.tensor([1.0, -1.0]), cov)
    y = torch.randn(10, 2)
    centered = y - torch.tensor([1.0, -1.0])
    naive = torch.stack([0.5 * c @ torch.linalg.inv(cov) @ c for c in centered])
    torch.testing.assert_close(energy(y), naive)
    values, grad = energy_and_grad(energy, y)
    torch.testing.assert_close(grad, centered @ torch.linalg.inv(cov))
    assert not values.requires_grad
    assert energy.moments()[1].tolist() == cov.tolist()


def test_mixture_density_integrates_to_one() -> None:
    energy = GaussianMixtureEnergy(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), 0.3)
    axis = torch.linspace(-4, 5, 300)
    grid = torch.cartesian_prod(axis, axis)
    cell = float(axis[1] - axis[0]) ** 2
    assert float(torch.exp(-energy(grid)).sum() * cell) == pytest.approx(1.0, abs=1e-3)


def test_trainable_energies() -> None:
    energy = MLPEnergy(2, dim_x=3, hidden=(8, 8))
    y, x = torch.randn(5, 2), torch.randn(5, 3)
    values = energy(y, x)
    assert values.shape == (5,)
    # softplus of the MLP on [x, y] (x first), the same network with nonnegative=False.
    raw = MLPEnergy(2, dim_x=3, hidden=(8, 8), nonnegative=False)
    raw.load_state_dict(energy.state_dict())
    torch.testing.assert_close(values, torch.nn.functional.softplus(raw(y, x)))
    torch.testing.assert_close(raw(y, x), energy.net(torch.cat([x, y], 1))[:, 0])
    with pytest.raises(ValueError, match="conditional"):
        energy(torch.randn(5, 2))
    latent = DecoderLatentEnergy(2, latent_dim=1, periodic=True)
    z = torch.rand(4, 1)
    torch.testing.assert_close(latent.decode(z), latent.decode(z + 2 * math.pi), atol=1e-5, rtol=0)
    y = latent.decode(z).detach()
    torch.testing.assert_close(latent(y, z), torch.zeros(4))
    assert len(mlp([3, 4, 5, 1])) == 5


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="positive definite"):
        QuadraticEnergy(torch.zeros(2), torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="symmetric"):
        QuadraticEnergy(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"mean must have shape \(D,\)"):
        QuadraticEnergy(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="weights must be 2 positive numbers"):
        GaussianMixtureEnergy(torch.zeros(2, 1), weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="expected 2 covariances"):
        GaussianMixtureEnergy(torch.zeros(2, 1), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="at least two positive widths"):
        mlp([3])
    with pytest.raises(ValueError, match=r"one energy per sample, shape \(4,\)"):
        energy_and_grad(FunctionEnergy(lambda y: y.sum()), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"batch of shape \(B, ...\)"):
        check_answers(torch.zeros(2), None)


def test_decoder_energy_table_shortcut_matches_the_generic_path() -> None:
    torch.manual_seed(0)
    latent = DecoderLatentEnergy(2, latent_dim=1, periodic=True, hidden=(8,), latent_weight=0.1)
    y = torch.randn(5, 2, dtype=torch.float64)
    latent.double()
    z = torch.rand(7, 1, dtype=torch.float64).unsqueeze(0).expand(5, 7, 1)  # shared, expanded
    generic = LatentEnergy.energy_table(latent, y, z)
    torch.testing.assert_close(latent.energy_table(y, z), generic)
    naive = torch.stack(
        [torch.stack([latent(y[b : b + 1], z[b, k][None])[0] for k in range(7)]) for b in range(5)]
    )
    torch.testing.assert_close(generic, naive)
