"""The paired bootstrap of an accuracy difference: exact cases, and the normal approximation."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.evaluate.bootstrap import paired_bootstrap


def test_hits_shared_by_both_classifiers_cancel_in_every_draw():
    a = torch.tensor([True, False, True, True, False])
    same = paired_bootstrap(a, a, draws=200)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    always = paired_bootstrap(torch.ones(7), torch.zeros(7), draws=200)
    assert (always.difference, always.low, always.high) == (1.0, 1.0, 1.0)
    assert str(always) == "+100.0% (95% paired bootstrap interval +100.0% to +100.0%)"


def test_interval_matches_the_normal_approximation_of_a_mean_of_paired_gaps():
    # a wins 30% of samples alone, b 20%, both or neither the rest: Δ = 0.1 exactly
    n = 2000
    a = torch.zeros(n, dtype=torch.bool)
    b = torch.zeros(n, dtype=torch.bool)
    a[:600] = True
    b[600:1000] = True
    a[1000:1500] = b[1000:1500] = True
    result = paired_bootstrap(a, b, draws=4000, level=0.95, seed=1)
    gap = a.double() - b.double()
    half = 1.959964 * float(gap.std(correction=0)) / math.sqrt(n)  # z·sd/√N
    assert result.difference == pytest.approx(0.1)
    assert result.low == pytest.approx(0.1 - half, abs=0.15 * half)
    assert result.high == pytest.approx(0.1 + half, abs=0.15 * half)
    wider = paired_bootstrap(a, b, draws=4000, level=0.99, seed=1)
    assert wider.low < result.low and wider.high > result.high


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same N"):
        paired_bootstrap(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        paired_bootstrap(torch.ones(3), torch.ones(3), draws=0)
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\)"):
        paired_bootstrap(torch.ones(3), torch.ones(3), level=1.0)
