"""CPC's InfoNCE against a loop over steps, utterances and candidates."""

from __future__ import annotations

import pytest
import torch

from eblearn.losses.cpc import CPCLoss, info_nce_predictions


def naive_cpc(context, latents, lengths, predictors, negatives):
    per_k = []
    B, T, _ = context.shape
    for k, W in enumerate(predictors, start=1):
        pairs = [(b, t) for b in range(B) for t in range(T - k) if t + k < lengths[b]]
        if not pairs:
            break
        terms = []
        for b, t in pairs:
            p = W @ context[b, t]
            cands = [(b2, t2) for b2, t2 in pairs if negatives == "batch" or b2 == b]
            scores = torch.stack([torch.dot(p, latents[b2, t2 + k]) for b2, t2 in cands])
            positive = cands.index((b, t))
            terms.append(torch.logsumexp(scores, 0) - scores[positive])
        per_k.append(torch.stack(terms).mean())
    return torch.stack(per_k).mean()


@pytest.mark.parametrize("negatives", ["batch", "utterance"])
def test_value_and_gradient_match_the_loop(negatives):
    torch.manual_seed(0)
    loss = CPCLoss(context_dim=4, latent_dim=3, steps=3, negatives=negatives).double()
    c = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    z = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 5, 3])
    value = loss(c, z, lengths)
    reference = naive_cpc(c, z, lengths, [p.weight for p in loss.predictors], negatives)
    assert torch.allclose(value, reference)
    params = (c, z, *loss.parameters())
    for g, e in zip(
        torch.autograd.grad(value, params), torch.autograd.grad(reference, params), strict=True
    ):
        assert torch.allclose(g, e)


def test_separable_predictions_give_a_loss_near_zero():
    z = torch.eye(6)[None] * 20
    value = info_nce_predictions(z, z, torch.ones(1, 6, dtype=torch.bool))
    assert float(value) < 1e-6


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="valid choices: batch, utterance"):
        CPCLoss(4, 3, negatives="queue")
    with pytest.raises(ValueError, match="too short"):
        CPCLoss(4, 3, steps=2)(torch.randn(1, 1, 4), torch.randn(1, 1, 3))
