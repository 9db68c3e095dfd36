"""The masked language model: its loss and gradient against a loop, its energy, its errors."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.data.masking import apply_token_mask, draw_token_mask
from eblearn.data.tokenizers import MASK
from eblearn.methods import METHODS, MaskedLanguageModel
from eblearn.nn import ConvNet, TokenTransformer

V, T = 11, 8


def _method() -> MaskedLanguageModel:
    torch.manual_seed(0)
    return MaskedLanguageModel(TokenTransformer(V, T, dim=16, depth=1, heads=2))


def _naive_loss(method, tokens, seed):
    """Σ over selected positions of −log(exp(s_y) / Σ_v exp(s_v)), divided by their count."""
    torch.manual_seed(seed)
    draw = draw_token_mask(tokens, V)
    logits = method.logits(apply_token_mask(tokens, draw))
    total, count = 0.0, 0
    for b in range(tokens.shape[0]):
        for t in range(tokens.shape[1]):
            if draw.selected[b, t]:
                s = logits[b, t]
                total = total - (
                    s[tokens[b, t]] - torch.log(sum(torch.exp(s[v]) for v in range(V)))
                )
                count += 1
    return total / count, draw


def test_loss_and_gradient_match_a_loop_over_the_selected_tokens():
    method = _method()
    tokens = torch.randint(3, V, (3, T), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(4)
    out = method([tokens])
    grads = torch.autograd.grad(out["loss"], list(method.parameters()), allow_unused=True)
    expected, draw = _naive_loss(method, tokens, 4)
    expected_grads = torch.autograd.grad(expected, list(method.parameters()), allow_unused=True)
    torch.testing.assert_close(out["loss"], expected.float())
    for g, e in zip(grads, expected_grads):
        if e is None:
            assert g is None
        else:
            torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-4)
    # the energy summed over windows, divided by the selected count, is the loss
    energy = method.token_energy(tokens, apply_token_mask(tokens, draw), draw.selected)
    assert energy.shape == (3,) and (energy >= 0).all()
    torch.testing.assert_close(energy.sum() / draw.selected.sum(), out["loss"])


def test_an_untrained_head_scores_near_log_vocab_and_energy_reads_mask_positions():
    method = _method()
    tokens = torch.randint(3, V, (6, T))
    torch.manual_seed(0)
    loss = float(method([tokens])["loss"].detach())
    assert abs(loss - math.log(V)) < 1.0
    x = tokens.clone()
    x[:, 2] = MASK
    both = method.energy(tokens, x)
    selected = torch.zeros_like(tokens, dtype=torch.bool)
    selected[:, 2] = True
    torch.testing.assert_close(both, method.token_energy(tokens, x, selected))
    with pytest.raises(ValueError, match="corrupted windows x"):
        method.energy(tokens)


def test_registered_for_tokens_and_refuses_an_image_backbone():
    assert METHODS.get("mlm") is MaskedLanguageModel
    assert MaskedLanguageModel.modality == "tokens" and METHODS.get("vicreg").modality == "images"
    with pytest.raises(ValueError, match="token encoder"):
        MaskedLanguageModel(ConvNet(1, width=4))
    with pytest.raises(ValueError, match="at most 1"):
        MaskedLanguageModel(TokenTransformer(V, T, dim=16, heads=2), mask_fraction=0.95)
