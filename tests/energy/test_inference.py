"""Inference over y: multi-start descent returns every minimum; enumeration is an argmin."""

from __future__ import annotations

import pytest
import torch

from eblearn.energy import (
    FunctionEnergy,
    GaussianMixtureEnergy,
    QuadraticEnergy,
    infer_descent,
    infer_enumerate,
)


def test_descent_returns_all_minima_of_a_two_well_energy() -> None:
    # Wells at -2 (weight 0.3) and +2 (weight 0.7): both are solutions, +2 is the best.
    energy = GaussianMixtureEnergy(torch.tensor([[-2.0], [2.0]]), 0.2, weights=[0.3, 0.7])
    result = infer_descent(energy, torch.linspace(-4, 4, 9)[:, None], steps=300, step_size=0.05)
    assert result.y.shape == (1, 9, 1)
    assert bool((result.energy[:, 1:] >= result.energy[:, :-1]).all())  # sorted
    solutions = result.distinct(tol=0.05)[0].flatten()
    assert solutions.tolist() == pytest.approx([2.0, -2.0], abs=1e-3)
    assert float(result.best) == pytest.approx(2.0, abs=1e-3)
    # max_gap keeps only the answers within 0.5 of the best energy (log(0.7/0.3) ≈ 0.85 apart)
    assert result.distinct(tol=0.05, max_gap=0.5)[0].flatten().tolist() == pytest.approx([2.0])


def test_conditional_descent_finds_a_ring_of_answers() -> None:
    # F(x, y) = (||y||² - x²)²: every y on the circle of radius x is an answer.
    energy = FunctionEnergy(lambda y, x: (y.pow(2).sum(1) - x.pow(2).sum(1)).pow(2), True)
    x = torch.tensor([[1.0], [2.0]])
    starts = torch.randn(16, 2)
    result = infer_descent(energy, starts, x, steps=400, step_size=0.01)
    assert result.y.shape == (2, 16, 2)
    torch.testing.assert_close(result.y.norm(dim=2), x.expand(2, 16), atol=1e-3, rtol=0)
    assert all(len(s) > 4 for s in result.distinct(tol=0.1))  # many different answers


def test_per_sample_starts_and_bounds() -> None:
    energy = QuadraticEnergy(torch.tensor([3.0, 0.0]))
    starts = torch.zeros(2, 3, 2)  # (B, S, D)
    result = infer_descent(
        energy, starts, per_sample=True, steps=200, step_size=0.2, bounds=(-1.0, 1.0)
    )
    torch.testing.assert_close(result.best, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))


def test_enumeration_matches_a_naive_loop() -> None:
    torch.manual_seed(0)
    energy = FunctionEnergy(lambda y, x: (y - x).pow(2).sum(1) + y[:, 0].sin(), True)
    x = torch.randn(4, 2)
    candidates = torch.randn(30, 2)
    result = infer_enumerate(energy, candidates, x)
    for b in range(4):
        naive = [float(energy(c[None], x[b : b + 1])) for c in candidates]
        best = min(range(30), key=naive.__getitem__)
        torch.testing.assert_close(result.best[b], candidates[best])
        assert result.energy[b].tolist() == pytest.approx(sorted(naive), abs=1e-5)


def test_enumeration_keeps_the_graph_for_losses() -> None:
    energy = QuadraticEnergy(torch.zeros(2))
    candidates = torch.randn(5, 2, requires_grad=True)
    infer_enumerate(energy, candidates).energy.sum().backward()
    # Σ_c ½||c||² over the (sorted) candidates: the gradient is each candidate itself.
    torch.testing.assert_close(candidates.grad, candidates.detach())


def test_bad_inputs_are_named() -> None:
    energy = QuadraticEnergy(torch.zeros(2))
    with pytest.raises(ValueError, match=r"starts must have shape \(S, ...\)"):
        infer_descent(energy, torch.zeros(2))
    with pytest.raises(ValueError, match=r"per-sample options must have shape \(B=3"):
        infer_descent(energy, torch.zeros(2, 4, 2), torch.zeros(3, 1), per_sample=True)
    with pytest.raises(ValueError, match="step_size must be > 0"):
        infer_descent(energy, torch.zeros(3, 2), step_size=0.0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        infer_enumerate(energy, torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match=r"must return one energy per sample"):
        infer_enumerate(FunctionEnergy(lambda y: y), torch.zeros(3, 2))
