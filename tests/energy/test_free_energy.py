"""Free energies against closed forms, limits in β, and the three ways of eliminating z."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from eblearn.energy import (
    Enumerate,
    FreeEnergy,
    GradientDescent,
    LatentEnergy,
    MonteCarlo,
    free_energy,
    infer_latent,
    latent_energies,
    soft_minimum,
)


class QuadraticLatent(LatentEnergy):
    """E(y, z) = ||y - W z||² + λ||z||², convex in z, with a closed-form free energy."""

    def __init__(self, weight: Tensor, lam: float = 0.5) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight.clone())
        self.lam = lam
        self.latent_dim = weight.shape[1]
        self.calls = 0

    def forward(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        self.calls += 1
        return (y - z @ self.weight.T).pow(2).sum(1) + self.lam * z.pow(2).sum(1)

    def exact(self, y: Tensor, beta: float) -> Tensor:
        """F∞ = min_z E and F_β = F∞ + 1/(2β) log det(β H / 2π), H = 2(WᵀW + λI)."""
        w = self.weight.detach().double()
        hessian = 2 * (w.T @ w + self.lam * torch.eye(w.shape[1], dtype=w.dtype))
        z_star = torch.linalg.solve(hessian / 2, (y.double() @ w).T).T
        f_inf = (y.double() - z_star @ w.T).pow(2).sum(1) + self.lam * z_star.pow(2).sum(1)
        if math.isinf(beta):
            return f_inf
        return f_inf + 0.5 * torch.logdet(beta * hessian / (2 * math.pi)) / beta


def grid_1d(low: float, high: float, k: int) -> tuple[Tensor, float]:
    """Midpoint grid of k cells on [low, high] and the cell width."""
    width = (high - low) / k
    return (low + width * (torch.arange(k) + 0.5))[:, None], width


@pytest.fixture
def model_1d() -> QuadraticLatent:
    return QuadraticLatent(torch.tensor([[1.5], [-0.5]]), lam=0.5)  # y in R², z in R


def test_enumeration_matches_closed_form_at_every_beta(model_1d: QuadraticLatent) -> None:
    y = torch.randn(6, 2)
    grid, width = grid_1d(-8, 8, 2000)
    for beta in (math.inf, 0.5, 2.0, 20.0):
        got = free_energy(model_1d, y, method=Enumerate(grid, width), beta=beta)
        # midpoint quadrature of a smooth Gaussian integrand is accurate far below 1e-3
        torch.testing.assert_close(got.double(), model_1d.exact(y, beta), atol=2e-3, rtol=0)


def test_f_beta_tends_to_f_infinity_as_beta_grows(model_1d: QuadraticLatent) -> None:
    y = torch.randn(5, 2)
    grid, width = grid_1d(-8, 8, 4000)
    f_inf = free_energy(model_1d, y, method=Enumerate(grid, width))
    gaps = [
        (free_energy(model_1d, y, method=Enumerate(grid, width), beta=b) - f_inf).abs().max()
        for b in (10.0, 100.0, 1000.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 5e-3
    # the gap is log(βh/2π)/(2β) with h = 6: 0.11, 0.023, 0.0034


def test_f_beta_tends_to_mean_energy_plus_constant_as_beta_vanishes(
    model_1d: QuadraticLatent,
) -> None:
    # On z ∈ [-1, 1] (volume V = 2): F_β + log(V)/β → mean_z E as β → 0, error O(β).
    y = torch.randn(4, 2, dtype=torch.float64)
    grid, width = grid_1d(-1, 1, 200)
    grid = grid.double()
    model_1d.double()
    mean_energy = latent_energies(model_1d, y, grid).mean(1)
    errors = []
    for beta in (1e-1, 1e-2, 1e-3):
        f = free_energy(model_1d, y, method=Enumerate(grid, width), beta=beta)
        errors.append((f + math.log(2.0) / beta - mean_energy).abs().max())
    assert errors[2] < 1e-2
    assert errors[0] / errors[2] > 50  # linear in β


def test_gradient_descent_and_enumeration_agree_on_a_convex_case() -> None:
    torch.manual_seed(1)
    model = QuadraticLatent(torch.randn(3, 2), lam=0.3)  # z in R², convex
    y = torch.randn(5, 3)
    axis = torch.linspace(-4, 4, 161)
    grid = torch.cartesian_prod(axis, axis)
    by_grid = free_energy(model, y, method=Enumerate(grid))
    by_descent = free_energy(model, y, method=GradientDescent(steps=300, step_size=0.05))
    torch.testing.assert_close(by_descent.double(), model.exact(y, math.inf), atol=1e-4, rtol=0)
    # the grid minimum is within a grid cell (0.05) of the true one: E rises by O(0.05²)
    assert bool((by_grid >= by_descent - 1e-5).all())
    assert float((by_grid - by_descent).max().detach()) < 0.02
    z_grid = infer_latent(model, y, method=Enumerate(grid))
    z_descent = infer_latent(model, y, method=GradientDescent(steps=300, step_size=0.05))
    assert float((z_grid - z_descent).abs().max()) <= 0.05


def test_bounded_descent_agrees_with_enumeration_inside_the_box(
    model_1d: QuadraticLatent,
) -> None:
    y = torch.tensor([[3.0, -1.0], [-3.0, 1.0], [0.1, 0.0]])  # z* = 1.5, -1.5, ~0.06
    grid = torch.linspace(-0.5, 0.5, 1001)[:, None]  # holds the bounds themselves
    method = GradientDescent(steps=200, step_size=0.1, bounds=(-0.5, 0.5))
    z = infer_latent(model_1d, y, method=method)
    assert z[:2].flatten().tolist() == pytest.approx([0.5, -0.5])
    torch.testing.assert_close(
        free_energy(model_1d, y, method=method),
        free_energy(model_1d, y, method=Enumerate(grid)),
        atol=1e-4,
        rtol=0,
    )


def test_projection_keeps_z_on_the_unit_circle() -> None:
    model = QuadraticLatent(torch.eye(2), lam=0.0)
    y = torch.tensor([[3.0, 0.0], [0.0, -0.5]])
    method = GradientDescent(
        steps=300,
        step_size=0.1,
        starts=torch.tensor([[0.6, 0.8]]),
        project=lambda z: z / z.norm(dim=1, keepdim=True),
    )
    z = infer_latent(model, y, method=method)
    torch.testing.assert_close(z, torch.tensor([[1.0, 0.0], [0.0, -1.0]]), atol=1e-4, rtol=0)


def test_several_starts_find_the_global_minimum() -> None:
    class DoubleWell(LatentEnergy):
        latent_dim = 1

        def forward(self, y, z, x=None):
            return (z.pow(2) - 1).pow(2).squeeze(1) + 0.3 * z.squeeze(1) + 0 * y.sum(1)

    y = torch.zeros(2, 1)
    one_start = GradientDescent(steps=300, step_size=0.02, starts=torch.tensor([[0.9]]))
    two_starts = GradientDescent(steps=300, step_size=0.02, starts=torch.tensor([[0.9], [-0.9]]))
    assert float(infer_latent(DoubleWell(), y, method=one_start)[0]) > 0
    assert float(infer_latent(DoubleWell(), y, method=two_starts)[0]) < 0


def test_laplace_is_exact_for_quadratic_energies(model_1d: QuadraticLatent) -> None:
    y = torch.randn(4, 2)
    for beta in (0.5, 3.0):
        got = free_energy(model_1d, y, method=GradientDescent(steps=200, step_size=0.1), beta=beta)
        torch.testing.assert_close(got.double(), model_1d.exact(y, beta), atol=1e-4, rtol=0)


def test_monte_carlo_matches_closed_form_within_sampling_error(model_1d: QuadraticLatent) -> None:
    y = torch.randn(4, 2)
    gen = torch.Generator().manual_seed(0)
    beta = 1.0
    # Gaussian proposal N(0, 2²) covers the posterior (std ≈ 0.4 around |z*| < 2); with 20k
    # samples the relative error of the integral is ~1%, i.e. ~0.01 in F.
    gaussian = MonteCarlo(n_samples=20_000, scale=2.0, generator=gen)
    torch.testing.assert_close(
        free_energy(model_1d, y, method=gaussian, beta=beta).double(),
        model_1d.exact(y, beta),
        atol=0.04,
        rtol=0,
    )
    box = MonteCarlo(n_samples=20_000, low=-6.0, high=6.0, generator=gen)
    torch.testing.assert_close(
        free_energy(model_1d, y, method=box, beta=beta).double(),
        model_1d.exact(y, beta),
        atol=0.04,
        rtol=0,
    )


def test_enumeration_is_one_batched_call(model_1d: QuadraticLatent) -> None:
    grid, width = grid_1d(-3, 3, 1000)
    model_1d.calls = 0
    free_energy(model_1d, torch.randn(7, 2), method=Enumerate(grid, width), beta=2.0)
    assert model_1d.calls == 1


def test_per_sample_grids() -> None:
    model = QuadraticLatent(torch.tensor([[1.0]]), lam=0.0)
    y = torch.tensor([[1.0], [2.0]])
    grids = torch.tensor([[[0.0], [1.0]], [[0.0], [1.0]]]) * torch.tensor([1.0, 2.0])[:, None, None]
    torch.testing.assert_close(free_energy(model, y, method=Enumerate(grids)), torch.zeros(2))


def test_gradient_of_the_zero_temperature_free_energy_is_the_envelope(
    model_1d: QuadraticLatent,
) -> None:
    # F∞(y) = yᵀ (I - W (WᵀW + λ)⁻¹ Wᵀ) y, so ∇_y F∞ = 2 (I - W (WᵀW + λ)⁻¹ Wᵀ) y
    y = torch.randn(3, 2, requires_grad=True)
    for method in (Enumerate(grid_1d(-6, 6, 24001)[0]), GradientDescent(steps=200, step_size=0.1)):
        (grad,) = torch.autograd.grad(free_energy(model_1d, y, method=method).sum(), y)
        w = model_1d.weight.detach()
        projector = torch.eye(2) - w @ w.T / (w.T @ w + model_1d.lam)
        torch.testing.assert_close(grad, 2 * y.detach() @ projector, atol=2e-3, rtol=0)


def test_parameters_receive_gradients_through_every_method(model_1d: QuadraticLatent) -> None:
    y = torch.randn(3, 2)
    methods = [
        (Enumerate(grid_1d(-5, 5, 500)[0], 0.02), 2.0),
        (GradientDescent(steps=50), 2.0),
        (MonteCarlo(n_samples=100), 1.0),
    ]
    for method, beta in methods:
        model_1d.zero_grad()
        free_energy(model_1d, y, method=method, beta=beta).sum().backward()
        assert model_1d.weight.grad is not None
        assert bool(torch.isfinite(model_1d.weight.grad).all())
        assert float(model_1d.weight.grad.abs().sum()) > 0


def test_free_energy_module_is_an_energy(model_1d: QuadraticLatent) -> None:
    grid, width = grid_1d(-8, 8, 2000)
    energy = FreeEnergy(model_1d, Enumerate(grid, width), beta=2.0)
    y = torch.randn(4, 2)
    torch.testing.assert_close(energy(y).double(), model_1d.exact(y, 2.0), atol=2e-3, rtol=0)


def test_soft_minimum_matches_a_naive_loop() -> None:
    e = torch.randn(3, 5)
    for beta in (0.3, 4.0):
        naive = torch.tensor(
            [-math.log(sum(0.1 * math.exp(-beta * float(v)) for v in row)) / beta for row in e]
        )
        torch.testing.assert_close(soft_minimum(e, beta, math.log(0.1)), naive)
    torch.testing.assert_close(soft_minimum(e, math.inf), e.min(1).values)


def test_bad_inputs_are_named(model_1d: QuadraticLatent) -> None:
    y = torch.randn(3, 2)
    grid = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="beta must be > 0"):
        free_energy(model_1d, y, method=Enumerate(grid), beta=0.0)
    with pytest.raises(ValueError, match=r"latent values must have shape \(K, Dz=1\)"):
        free_energy(model_1d, y, method=Enumerate(torch.zeros(4, 3)))
    with pytest.raises(ValueError, match="per-sample latent values must have B=3"):
        free_energy(model_1d, y, method=Enumerate(torch.zeros(2, 4, 1)))
    with pytest.raises(ValueError, match="cell_volume must be > 0"):
        free_energy(model_1d, y, method=Enumerate(grid, 0.0), beta=1.0)
    with pytest.raises(ValueError, match="method must be Enumerate, GradientDescent or MonteCarlo"):
        free_energy(model_1d, y, method="grid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"starts must have shape \(S, Dz=1\)"):
        free_energy(model_1d, y, method=GradientDescent(starts=torch.zeros(2, 2)))
    with pytest.raises(ValueError, match="bounds must satisfy low < high"):
        free_energy(model_1d, y, method=GradientDescent(bounds=(1.0, -1.0)))
    with pytest.raises(ValueError, match="give both low and high"):
        free_energy(model_1d, y, method=MonteCarlo(low=-1.0))
    with pytest.raises(ValueError, match="x and y must hold the same number"):
        free_energy(model_1d, y, torch.zeros(2, 1), method=Enumerate(grid))

    class Concave(LatentEnergy):
        latent_dim = 1

        def forward(self, y, z, x=None):
            return -z.pow(2).squeeze(1) + 0 * y.sum(1)

    with pytest.raises(ValueError, match="positive-definite Hessian"):
        free_energy(Concave(), y, method=GradientDescent(steps=3, bounds=(-1.0, 1.0)), beta=1.0)
