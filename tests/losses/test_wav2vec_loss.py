"""wav2vec 2.0 loss: distractor sampling, contrastive value and gradient against a loop."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.losses.wav2vec import (
    Wav2Vec2Loss,
    diversity_penalty,
    masked_contrastive_loss,
    sample_distractors,
)


def naive_loss(context, quantized, mask, distractors, kappa):
    """Per utterance, per masked step: -log softmax over [positive, distractors][0]."""
    total, count = 0.0, 0
    for b in range(context.shape[0]):
        for t in range(context.shape[1]):
            if not mask[b, t]:
                continue
            candidates = [quantized[b, t]] + [quantized[b, int(j)] for j in distractors[b, t]]
            scores = []
            for q in candidates:
                cos = torch.dot(context[b, t], q) / (context[b, t].norm() * q.norm())
                scores.append(cos / kappa)
            scores = torch.stack(scores)
            total = total - (scores[0] - torch.logsumexp(scores, 0))
            count += 1
    return total / count


def test_distractors_are_other_masked_steps_of_the_same_utterance():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(4, 30, generator=generator) < 0.4
    d = sample_distractors(mask, 50, generator)
    for b in range(4):
        masked = set(torch.nonzero(mask[b]).flatten().tolist())
        for t in range(30):
            if t in masked:
                chosen = set(d[b, t].tolist())
                assert t not in chosen and chosen <= masked  # never the positive, same utterance
            else:
                assert (d[b, t] == -1).all()


def test_distractors_are_uniform_over_the_other_steps():
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, [1, 4, 5, 8]] = True
    d = sample_distractors(mask, 3000, torch.Generator().manual_seed(1))
    counts = torch.bincount(d[0, 4], minlength=10)
    assert counts[4] == 0 and counts[[0, 2, 3, 6, 7, 9]].sum() == 0
    assert torch.allclose(counts[[1, 5, 8]].float() / 3000, torch.full((3,), 1 / 3), atol=0.03)


def test_single_masked_step_is_refused():
    with pytest.raises(ValueError, match="single masked step"):
        sample_distractors(torch.tensor([[False, True, False]]), 2)


def test_loss_and_gradients_match_the_loop():
    generator = torch.Generator().manual_seed(2)
    c = torch.randn(3, 12, 5, dtype=torch.float64, requires_grad=True)
    q = torch.randn(3, 12, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(3, 12, generator=generator) < 0.5
    mask[:, :2] = True
    d = sample_distractors(mask, 4, generator)
    loss = masked_contrastive_loss(c, q, mask, d, 0.1)
    reference = naive_loss(c, q, mask, d, 0.1)
    assert torch.allclose(loss, reference)
    grads = torch.autograd.grad(loss, (c, q))
    expected = torch.autograd.grad(reference, (c, q))
    for g, e in zip(grads, expected, strict=True):
        assert torch.allclose(g, e)


def test_perfect_prediction_against_orthogonal_distractors_has_the_known_value():
    # c_t = q_t, distractors orthogonal: -log(e^{1/κ} / (e^{1/κ} + K))
    q = torch.eye(4)[None]  # (1, 4, 4), orthogonal codes
    mask = torch.ones(1, 4, dtype=torch.bool)
    d = sample_distractors(mask, 3, torch.Generator().manual_seed(0))
    kappa = 0.5
    value = masked_contrastive_loss(q.clone(), q, mask, d, kappa)
    expected = -math.log(math.exp(1 / kappa) / (math.exp(1 / kappa) + 3))
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_diversity_penalty_and_module_sum():
    assert float(diversity_penalty(torch.tensor(8.0), 8)) == 0.0
    assert float(diversity_penalty(torch.tensor(2.0), 8)) == pytest.approx(0.75)
    loss = Wav2Vec2Loss(temperature=0.1, num_distractors=3, diversity_weight=0.5)
    c, q = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    mask = torch.ones(2, 6, dtype=torch.bool)
    total = loss(c, q, mask, torch.tensor(2.0), 8, torch.Generator().manual_seed(0))
    lm, ld = loss.terms(c, q, mask, torch.tensor(2.0), 8, torch.Generator().manual_seed(0))
    assert torch.allclose(total, lm + 0.5 * ld)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        Wav2Vec2Loss(temperature=0.0)
