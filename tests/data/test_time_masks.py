"""Span masking: counts, bounds and the exact marginal masking probability."""

from __future__ import annotations

from math import comb

import pytest
import torch

from eblearn.data.time_masks import span_mask


def exact_mask_probability(n: int, span: int, starts: int) -> torch.Tensor:
    """P(step t masked) when ``starts`` of the ``n - span + 1`` positions are drawn without
    replacement: 1 - C(S - w_t, k) / C(S, k), w_t the number of starts whose span covers t."""
    positions = n - span + 1
    out = []
    for t in range(n):
        covering = min(t, positions - 1) - max(0, t - span + 1) + 1
        out.append(1 - comb(positions - covering, starts) / comb(positions, starts))
    return torch.tensor(out)


def test_marginal_masking_probability_matches_the_formula():
    n, span, p = 30, 4, 0.1  # 3 starts among 27 positions
    generator = torch.Generator().manual_seed(0)
    draws = 3000
    mask = span_mask(torch.full((draws,), n), n, p, span, generator=generator)
    expected = exact_mask_probability(n, span, starts=3)
    assert torch.allclose(mask.float().mean(0), expected, atol=0.035)


def test_each_utterance_gets_round_p_n_spans_inside_its_length():
    lengths = torch.tensor([40, 25, 12, 3])
    mask = span_mask(lengths, 40, p=0.1, span=5, generator=torch.Generator().manual_seed(3))
    for row, n in zip(mask, lengths.tolist(), strict=True):
        assert not row[n:].any()
        # starts are the masked steps whose predecessor is unmasked or that are t = 0;
        # spans of exactly 5 (or the whole utterance when shorter)
        masked = int(row.sum())
        assert masked <= max(1, round(0.1 * n)) * min(5, n)
        assert masked >= min(5, n)
    assert mask[3, :3].all()  # shorter than a span: all of it


def test_seeded_generator_repeats_the_mask():
    lengths = torch.tensor([30, 30])
    a = span_mask(lengths, 30, generator=torch.Generator().manual_seed(7))
    b = span_mask(lengths, 30, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"p .* must lie in \[0, 1\]"):
        span_mask(torch.tensor([5]), 5, p=1.5)
    with pytest.raises(ValueError, match="span must be >= 1"):
        span_mask(torch.tensor([5]), 5, span=0)
    with pytest.raises(ValueError, match="lengths must lie"):
        span_mask(torch.tensor([6]), 5)
