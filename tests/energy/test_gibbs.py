"""The Gibbs distribution over a finite set against naive sums."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.energy import GibbsDistribution


def test_probabilities_partition_and_nll_match_naive_sums() -> None:
    energies = torch.randn(3, 5, dtype=torch.float64)
    target = torch.tensor([0, 4, 2])
    for beta in (0.5, 2.0):
        gibbs = GibbsDistribution(energies, beta)
        for b in range(3):
            z = sum(math.exp(-beta * float(e)) for e in energies[b])
            assert float(gibbs.log_partition[b]) == pytest.approx(math.log(z))
            assert float(gibbs.free_energy[b]) == pytest.approx(-math.log(z) / beta)
            for k in range(5):
                p = math.exp(-beta * float(energies[b, k])) / z
                assert float(gibbs.probs[b, k]) == pytest.approx(p)
            p_target = math.exp(-beta * float(energies[b, target[b]])) / z
            assert float(gibbs.nll(target)[b]) == pytest.approx(-math.log(p_target))


def test_nll_gradient_pushes_down_the_target_and_up_every_answer_by_its_probability() -> None:
    energies = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([1, 3])
    beta = 1.5
    gibbs = GibbsDistribution(energies, beta)
    (grad,) = torch.autograd.grad(gibbs.nll(target).sum(), energies)
    expected = beta * (torch.nn.functional.one_hot(target, 4) - gibbs.probs.detach())
    torch.testing.assert_close(grad, expected)


def test_shift_invariance_and_zero_temperature_limit() -> None:
    energies = torch.randn(2, 6)
    gibbs, shifted = GibbsDistribution(energies), GibbsDistribution(energies + 3.0)
    torch.testing.assert_close(gibbs.probs, shifted.probs)
    torch.testing.assert_close(shifted.free_energy, gibbs.free_energy + 3.0)
    cold = GibbsDistribution(energies, beta=1e4)
    torch.testing.assert_close(cold.free_energy, energies.min(1).values, atol=1e-3, rtol=0)
    assert float(GibbsDistribution(torch.zeros(1, 4)).entropy()) == pytest.approx(math.log(4))


def test_samples_follow_the_probabilities() -> None:
    energies = torch.tensor([[0.0, math.log(3.0)]])  # P = (0.75, 0.25)
    draws = GibbsDistribution(energies).sample(20_000, torch.Generator().manual_seed(0))
    # standard error sqrt(0.75·0.25/20000) ≈ 0.003
    assert float((draws == 0).float().mean()) == pytest.approx(0.75, abs=0.015)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match=r"energies must be a tensor of shape \(B, K\)"):
        GibbsDistribution(torch.zeros(3))
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        GibbsDistribution(torch.zeros(1, 3), beta=math.inf)
    with pytest.raises(ValueError, match="NaN or Inf"):
        GibbsDistribution(torch.tensor([[0.0, math.inf]]))
    gibbs = GibbsDistribution(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"target indices must lie in \[0, 3\)"):
        gibbs.nll(torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one integer index per sample"):
        gibbs.nll(torch.tensor([0.0, 1.0]))
