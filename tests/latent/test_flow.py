"""RealNVP flow: invertibility, log-determinants against brute-force Jacobians, normalization,
maximum likelihood against a Gaussian fitted by moments, masks and input checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from eblearn.data.toy2d import load_toy
from eblearn.energy import as_energy
from eblearn.latent import LATENT_MODELS, ActNorm, AffineCoupling, RealNVP, alternating_mask


def perturbed(
    dim: int, n_layers: int = 4, seed: int = 0, spread: float = 0.3, linear: bool = False
) -> RealNVP:
    """A float64 flow whose every parameter is random (a fresh flow is the identity)."""
    generator = torch.Generator().manual_seed(seed)
    flow = RealNVP(dim, n_layers=n_layers, hidden=(16,), linear=linear).double()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(spread * torch.randn(parameter.shape, generator=generator).double())
    return flow.eval()


def test_a_fresh_flow_is_the_identity_and_its_energy_the_standard_normal():
    flow = RealNVP(3, n_layers=2, hidden=(8,))
    y = torch.randn(5, 3)
    z, log_det = flow(y)
    torch.testing.assert_close(z, y)
    torch.testing.assert_close(log_det, torch.zeros(5))
    expected = -multivariate_normal(np.zeros(3), np.eye(3)).logpdf(y.numpy())
    torch.testing.assert_close(flow.energy(y), torch.tensor(expected, dtype=torch.float32))


@pytest.mark.parametrize(
    ("dim", "linear", "dtype", "tolerance"),
    [
        (2, False, torch.float32, 1e-5),
        (6, False, torch.float32, 1e-5),
        (6, True, torch.float64, 1e-10),  # float32 loses ~2e-5 through the 6 linear solves
    ],
)
def test_the_inverse_undoes_the_forward_pass(dim, linear, dtype, tolerance):
    flow = perturbed(dim, n_layers=6, spread=0.1, linear=linear).to(dtype)
    y = torch.randn(64, dim, generator=torch.Generator().manual_seed(1)).to(dtype)
    with torch.no_grad():
        z, _ = flow(y)
        torch.testing.assert_close(flow.inverse(z), y, atol=tolerance, rtol=0)
        assert float((z - y).abs().max()) > 0.1  # the map is not the identity
        torch.testing.assert_close(flow(flow.inverse(y))[0], y, atol=tolerance, rtol=0)


@pytest.mark.parametrize(("dim", "linear"), [(2, False), (6, False), (2, True), (6, True)])
def test_the_log_determinant_is_the_brute_force_jacobian_determinant(dim, linear):
    flow = perturbed(dim, seed=dim, linear=linear)
    y = torch.randn(5, dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _, log_det = flow(y)
    for n in range(len(y)):
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], y[n])
        sign, log_abs = torch.linalg.slogdet(jacobian)
        assert float(sign) != 0
        torch.testing.assert_close(log_det[n], log_abs)
    z, _ = flow(y)  # and the energy is the change of variables written out
    expected = 0.5 * z.pow(2).sum(1) + 0.5 * dim * math.log(2 * math.pi) - log_det
    torch.testing.assert_close(flow.energy(y), expected)
    torch.testing.assert_close(flow.log_prob(y), -expected)


def _grid(half_width: float, points: int) -> tuple[torch.Tensor, float]:
    axis = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    return grid, float(axis[1] - axis[0]) ** 2


def test_the_density_integrates_to_one_and_the_samples_follow_it():
    flow = perturbed(2, seed=3, spread=0.15)
    grid, cell = _grid(9.0, 361)
    with torch.no_grad():
        energy = flow.energy(grid)
    density = (-energy).exp()
    mass = float(density.sum()) * cell
    assert mass == pytest.approx(1.0, abs=0.02)
    assert float(energy.min()) < 0.5  # far from N(0, I), whose minimum is log 2π = 1.84
    # the sample mean agrees with the mean of the density on the grid
    grid_mean = (density[:, None] * grid).sum(0) * cell / mass
    samples = flow.sample(20000, generator=torch.Generator().manual_seed(4))
    assert samples.shape == (20000, 2) and samples.dtype == torch.float64
    spread = samples.std(0) / math.sqrt(len(samples))
    assert bool(((samples.mean(0) - grid_mean).abs() < 5 * spread).all())


def test_fitting_two_moons_beats_a_gaussian_fitted_by_moments():
    torch.manual_seed(0)
    train = load_toy("two-moons", 512, generator=torch.Generator().manual_seed(0)).y
    test = load_toy("two-moons", 512, generator=torch.Generator().manual_seed(1)).y
    mean, cov = train.numpy().mean(0), np.cov(train.numpy(), rowvar=False, bias=True)
    gaussian_nll = -multivariate_normal(mean, cov).logpdf(test.numpy()).mean()
    flow = RealNVP(2, n_layers=4, hidden=(16, 16))
    flow.fit(train, epochs=30, batch_size=128, lr=1e-2, seed=0)
    assert flow.history_[-1] < flow.history_[0]
    with torch.no_grad():
        flow_nll = float(flow.energy(test).mean())
    assert flow_nll < gaussian_nll - 0.4, (flow_nll, gaussian_nll)  # 2.0 against 2.7 nats


def test_masks_alternate_and_every_dimension_is_transformed():
    flow = perturbed(5, n_layers=3)
    couplings = [layer for layer in flow.layers if isinstance(layer, AffineCoupling)]
    assert len(couplings) == 3 and sum(isinstance(la, ActNorm) for la in flow.layers) == 3
    for first, second in itertools.pairwise(couplings):
        torch.testing.assert_close(first.mask + second.mask, torch.ones(5, dtype=torch.float64))
    y = torch.randn(8, 5, dtype=torch.float64)
    changed = torch.zeros(5, dtype=torch.bool)
    with torch.no_grad():
        for coupling in couplings:
            out, _ = coupling(y)
            fixed = coupling.mask.bool()
            torch.testing.assert_close(out[:, fixed], y[:, fixed])  # the fixed half passes
            assert bool(((out - y).abs().amax(0)[~fixed] > 1e-3).all())  # the rest moves
            changed |= ~fixed
    assert bool(changed.all())


def test_actnorm_initialization_standardizes_what_reaches_it():
    y = 3.0 + 2.0 * torch.randn(256, 4, generator=torch.Generator().manual_seed(5)).double()
    flow = perturbed(4, n_layers=2)
    flow.initialize(y)
    with torch.no_grad():
        first, log_det = flow.layers[0](y)
    torch.testing.assert_close(first.mean(0), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(
        first.std(0, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0
    )
    expected = -y.std(0, unbiased=False).log().sum()
    torch.testing.assert_close(log_det, expected.expand(256), atol=1e-6, rtol=1e-6)


def test_the_flow_is_a_registered_energy_with_gradients():
    assert LATENT_MODELS.get("flow") is RealNVP
    flow = perturbed(2)
    y = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(as_energy(flow)(y), flow.energy(y))
    (grad,) = torch.autograd.grad(flow.energy(y).sum(), y)
    assert torch.isfinite(grad).all() and bool(grad.abs().sum() > 0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RealNVP(1), r"dim must be an integer >= 2, got 1"),
        (lambda: RealNVP(2, n_layers=1), r"n_layers must be an integer >= 2, got 1"),
        (lambda: AffineCoupling(torch.ones(3)), r"mask must hold zeros and ones, at least one"),
        (lambda: AffineCoupling(torch.tensor([0.0, 2.0])), r"mask must hold zeros and ones"),
        (lambda: AffineCoupling(alternating_mask(2, 0), scale=0), r"scale must be > 0"),
    ],
)
def test_bad_settings_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_inputs_are_named():
    flow = RealNVP(2, n_layers=2, hidden=(4,))
    with pytest.raises(ValueError, match=r"y must have 2 features, got shape \(3, 5\)"):
        flow.energy(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"y must be a tensor of shape \(N, D\), got shape \(3,\)"):
        flow.energy(torch.zeros(3))
    with pytest.raises(ValueError, match=r"z must have 2 features"):
        flow.inverse(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"unconditional energy F\(y\): x must be None"):
        flow.energy(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"y holds 1 NaN or Inf value"):
        flow.fit(torch.tensor([[0.0, 1.0], [float("nan"), 2.0]]), epochs=1)
    with pytest.raises(ValueError, match=r"fit needs at least 2 samples, got 1"):
        flow.fit(torch.zeros(1, 2), epochs=1)
    with pytest.raises(
        ValueError, match=r"y is torch.float64 on cpu but the flow is torch.float32"
    ):
        flow.energy(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        flow.sample(0)
