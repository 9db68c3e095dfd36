"""Score matching estimators against the formula, each other, and their known minimizers."""

from __future__ import annotations

import pytest
import torch

from eblearn.energy import Energy, MLPEnergy, QuadraticEnergy
from eblearn.losses import (
    ScoreMatchingLoss,
    denoising_score_matching,
    exact_score_matching,
    sliced_score_matching,
)


class SymmetricQuadratic(Energy):
    """F(y) = ½ yᵀ A y with a trainable symmetric A (score -A y, Hessian A)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.raw = torch.nn.Parameter(torch.eye(dim, dtype=torch.float64))

    @property
    def matrix(self) -> torch.Tensor:
        return 0.5 * (self.raw + self.raw.T)

    def forward(self, y, x=None):
        return 0.5 * ((y @ self.matrix) * y).sum(1)


def test_exact_score_matching_is_half_gradient_norm_minus_laplacian() -> None:
    torch.manual_seed(0)
    energy = MLPEnergy(3, hidden=(16,)).double()
    y = torch.randn(5, 3, dtype=torch.float64)
    got = exact_score_matching(energy, y, reduction="none")
    for b in range(5):
        point = y[b : b + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(point).sum(), point, create_graph=True)
        hessian = torch.autograd.functional.hessian(lambda v: energy(v[None]).sum(), y[b])
        naive = 0.5 * grad.pow(2).sum() - torch.trace(hessian)
        assert got[b].item() == pytest.approx(naive.item(), abs=1e-8)


def test_quadratic_objective_in_closed_form() -> None:
    # For F = ½ yᵀAy: J = ½ yᵀA²y - tr A; sliced with projection v: vᵀ(-A)v + ½ (vᵀ A y)².
    energy = SymmetricQuadratic(2)
    with torch.no_grad():
        energy.raw.copy_(torch.tensor([[2.0, 0.3], [0.3, 0.5]]))
    a = energy.matrix.detach()
    y = torch.randn(4, 2, dtype=torch.float64)
    expected = (0.5 * ((y @ a @ a) * y).sum(1) - torch.trace(a)).mean()
    torch.testing.assert_close(exact_score_matching(energy, y), expected)
    gen = torch.Generator().manual_seed(0)
    got = sliced_score_matching(energy, y, variance_reduction=False, generator=gen)
    v = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    naive = sum(-(v[b] @ a @ v[b]) + 0.5 * (v[b] @ (a @ y[b])) ** 2 for b in range(4)) / 4
    torch.testing.assert_close(got, naive)


def test_sliced_estimators_average_to_the_exact_objective() -> None:
    torch.manual_seed(1)
    energy = MLPEnergy(2, hidden=(16,)).double()
    y = torch.randn(8, 2, dtype=torch.float64)
    exact = exact_score_matching(energy, y)
    gen = torch.Generator().manual_seed(0)
    for vr in (True, False):
        sliced = sliced_score_matching(
            energy, y, n_projections=4000, variance_reduction=vr, generator=gen
        )
        # Monte Carlo over 8 × 4000 directions: the estimate is within a few percent
        assert sliced.item() == pytest.approx(exact.item(), abs=0.05 * abs(exact.item()) + 0.02)


def test_denoising_score_matching_matches_a_per_sample_loop() -> None:
    torch.manual_seed(2)
    energy = MLPEnergy(2, hidden=(8,)).double()
    y = torch.randn(4, 2, dtype=torch.float64)
    sigma = 0.3
    got = denoising_score_matching(
        energy, y, sigma=sigma, generator=torch.Generator().manual_seed(5)
    )
    noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    total = 0.0
    for b in range(4):
        noisy = (y[b] + sigma * noise[b]).requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(noisy[None]).sum(), noisy)
        score = -grad
        target = -(noisy.detach() - y[b]) / sigma**2
        total += 0.5 * float((score - target).pow(2).sum())
    assert got.item() == pytest.approx(total / 4)


@pytest.mark.parametrize("estimator", ["exact", "sliced", "denoising"])
def test_minimizers_recover_the_data_precision(estimator: str) -> None:
    # Data N(0, S): score matching's minimizer is A = S⁻¹ (the true precision); denoising
    # matches the blurred data, A = (S + σ² I)⁻¹.
    gen = torch.Generator().manual_seed(0)
    cov = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
    y = torch.randn(3000, 2, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    sample_cov = y.T @ y / len(y)
    sigma = 0.5
    target = torch.linalg.inv(
        sample_cov + (sigma**2 * torch.eye(2) if estimator == "denoising" else 0)
    )
    energy = SymmetricQuadratic(2)
    loss_fn = ScoreMatchingLoss(estimator, sigma=sigma, n_projections=2)
    optimizer = torch.optim.Adam(energy.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss_fn(energy, y, generator=gen).backward()
        optimizer.step()
    # exact: the objective's minimizer is S⁻¹ for the sample S; stochastic estimators carry
    # their own noise (errors ≈ 0.04 at this seed; 0.1 on entries of order 1)
    tol = 0.02 if estimator == "exact" else 0.1
    torch.testing.assert_close(energy.matrix.detach(), target, atol=tol, rtol=0)


def test_parameters_get_gradients_and_conditional_energies_work() -> None:
    energy = MLPEnergy(2, dim_x=1, hidden=(8,))
    y, x = torch.randn(6, 2), torch.randn(6, 1)
    for estimator in ScoreMatchingLoss.ESTIMATORS:
        energy.zero_grad()
        ScoreMatchingLoss(estimator)(energy, y, x).backward()
        grads = [p.grad for p in energy.parameters()]
        assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def test_bad_inputs_are_named() -> None:
    energy = QuadraticEnergy(torch.zeros(2))
    with pytest.raises(ValueError, match="unknown estimator 'ratio'"):
        ScoreMatchingLoss("ratio")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        denoising_score_matching(energy, torch.zeros(3, 2), sigma=0.0)
    with pytest.raises(ValueError, match="n_projections must be >= 1"):
        sliced_score_matching(energy, torch.zeros(3, 2), n_projections=0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        exact_score_matching(energy, torch.full((3, 2), float("nan")))
