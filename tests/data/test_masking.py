"""BERT's corruption: exact on a fixed draw, the 15% / 80-10-10 proportions on a seeded one."""

from __future__ import annotations

import pytest
import torch

from eblearn.data.masking import TokenMask, apply_token_mask, draw_token_mask
from eblearn.data.tokenizers import MASK, NUM_SPECIAL, PAD

VOCAB = 40


def test_apply_puts_mask_and_random_tokens_exactly_where_drawn():
    tokens = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    selected = torch.tensor([[1, 1, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    to_mask = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    to_random = torch.tensor([[0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    random_tokens = torch.full((2, 4), 30)
    out = apply_token_mask(tokens, TokenMask(selected, to_mask, to_random, random_tokens))
    assert out.tolist() == [[MASK, 30, 7, 8], [9, 10, 11, MASK]]  # (0, 2): selected, unchanged


def test_seeded_draw_has_bert_proportions_and_exact_counts():
    tokens = torch.randint(
        NUM_SPECIAL, VOCAB, (200, 100), generator=torch.Generator().manual_seed(1)
    )
    draw = draw_token_mask(tokens, VOCAB, generator=torch.Generator().manual_seed(0))
    n = tokens.numel()
    selected, masked, randomized = (
        int(t.sum()) for t in (draw.selected, draw.to_mask, draw.to_random)
    )
    unchanged = selected - masked - randomized
    # Binomial(20000, 0.15): std 50; 80/10/10 of ~3000: stds ~22, ~16
    assert abs(selected - 0.15 * n) < 4 * (n * 0.15 * 0.85) ** 0.5
    assert abs(masked - 0.8 * selected) < 4 * (selected * 0.16) ** 0.5
    assert abs(randomized - 0.1 * selected) < 4 * (selected * 0.09) ** 0.5
    assert abs(unchanged - 0.1 * selected) < 4 * (selected * 0.09) ** 0.5
    # the same seed, the same draw: exact counts are reproducible
    again = draw_token_mask(tokens, VOCAB, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.selected, draw.selected) and torch.equal(again.to_mask, draw.to_mask)
    # the kinds are disjoint subsets of the selection; random tokens are ordinary ones
    assert not (draw.to_mask & draw.to_random).any()
    assert not ((draw.to_mask | draw.to_random) & ~draw.selected).any()
    assert draw.random_tokens.min() >= NUM_SPECIAL and draw.random_tokens.max() < VOCAB
    corrupted = apply_token_mask(tokens, draw)
    assert torch.equal(corrupted[~draw.selected], tokens[~draw.selected])
    assert (corrupted[draw.to_mask] == MASK).all()


def test_draw_matches_the_rule_on_its_uniforms():
    # Re-draw the same uniforms with the same generator state and apply the rule by hand.
    tokens = torch.randint(NUM_SPECIAL, VOCAB, (4, 30), generator=torch.Generator().manual_seed(3))
    draw = draw_token_mask(
        tokens, VOCAB, 0.3, 0.5, 0.25, generator=torch.Generator().manual_seed(7)
    )
    g = torch.Generator().manual_seed(7)
    u, v = torch.rand(tokens.shape, generator=g), torch.rand(tokens.shape, generator=g)
    for b in range(4):
        for t in range(30):
            expected = bool(u[b, t] < 0.3) or t == int(u[b].argmin())
            assert bool(draw.selected[b, t]) == expected
            if expected:
                assert bool(draw.to_mask[b, t]) == bool(v[b, t] < 0.5)
                assert bool(draw.to_random[b, t]) == bool(0.5 <= v[b, t] < 0.75)


def test_padding_is_never_selected_and_every_window_has_a_target():
    tokens = torch.full((3, 10), 7)
    tokens[:, 5:] = PAD
    tokens[2] = PAD
    draw = draw_token_mask(tokens, VOCAB, rate=0.0, generator=torch.Generator().manual_seed(0))
    assert not draw.selected[tokens == PAD].any()
    assert draw.selected.sum(1).tolist() == [1, 1, 0]


def test_bad_arguments():
    tokens = torch.zeros(2, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        draw_token_mask(tokens.float(), VOCAB)
    with pytest.raises(ValueError, match="special tokens"):
        draw_token_mask(tokens, 3)
    with pytest.raises(ValueError, match="at most 1"):
        draw_token_mask(tokens, VOCAB, mask_fraction=0.8, random_fraction=0.3)
    with pytest.raises(ValueError, match="rate"):
        draw_token_mask(tokens, VOCAB, rate=1.5)
