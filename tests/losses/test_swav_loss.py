"""Sinkhorn-Knopp and SwAV's swapped prediction against loop references and their marginals."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.losses import DeepClusterLoss, SwAVLoss, sinkhorn


def naive_sinkhorn(scores, epsilon, iterations):
    """The algorithm of the SwAV paper with explicit loops over prototypes and samples."""
    batch, k = scores.shape
    q = [[math.exp(float(scores[b, j]) / epsilon) for b in range(batch)] for j in range(k)]
    total = sum(sum(row) for row in q)
    q = [[v / total for v in row] for row in q]
    for _ in range(iterations):
        for j in range(k):
            row_sum = sum(q[j])
            q[j] = [v / row_sum / k for v in q[j]]
        for b in range(batch):
            column_sum = sum(q[j][b] for j in range(k))
            for j in range(k):
                q[j][b] = q[j][b] / column_sum / batch
    return torch.tensor(
        [[q[j][b] * batch for j in range(k)] for b in range(batch)], dtype=torch.float64
    )


def naive_swav(scores, targets, temperature):
    total = 0.0
    for i, q in enumerate(targets):
        for v, s in enumerate(scores):
            if v == i:
                continue
            for b in range(len(s)):
                classes = range(s.shape[1])
                log_norm = torch.log(sum(torch.exp(s[b, k] / temperature) for k in classes))
                total = total - sum(q[b, k] * (s[b, k] / temperature - log_norm) for k in classes)
    return total / (len(targets) * (len(scores) - 1) * len(scores[0]))


@pytest.mark.parametrize("iterations", [1, 3, 10])
def test_sinkhorn_matches_loop_reference(iterations):
    scores = torch.rand(7, 4, dtype=torch.float64) * 2 - 1
    ours = sinkhorn(scores, epsilon=0.05, iterations=iterations)
    assert torch.allclose(ours, naive_sinkhorn(scores, 0.05, iterations).double(), atol=1e-5)


def test_sinkhorn_is_doubly_stochastic_and_takes_no_gradient():
    scores = (torch.rand(12, 4) * 2 - 1).requires_grad_(True)
    q = sinkhorn(scores, epsilon=0.1, iterations=100)
    assert not q.requires_grad
    assert torch.allclose(q.sum(1), torch.ones(12), atol=1e-3)  # each sample assigned once
    assert torch.allclose(q.sum(0), torch.full((4,), 3.0), atol=1e-3 * 3)  # B/K per prototype
    # Q = diag(u) exp(S/ε) diag(v): log Q - S/ε is a sum of a row and a column potential,
    # so it has no interaction term left once its row and column means are taken out.
    potentials = q.log() - scores.detach() / 0.1
    interaction = (
        potentials - potentials.mean(0) - potentials.mean(1, keepdim=True) + potentials.mean()
    )
    torch.testing.assert_close(interaction, torch.zeros(12, 4), atol=1e-4, rtol=0)
    three = sinkhorn(scores, epsilon=0.05, iterations=3)
    assert torch.allclose(three.sum(1), torch.ones(12), atol=1e-5)  # rows exact after any count


def test_sinkhorn_is_permutation_equivariant_and_ignores_per_prototype_offsets():
    scores = torch.rand(9, 5, dtype=torch.float64) * 2 - 1
    q = sinkhorn(scores)
    order = torch.randperm(9)
    assert torch.allclose(sinkhorn(scores[order]), q[order], atol=1e-10)
    offsets = torch.randn(5, dtype=torch.float64) * 0.1
    assert torch.allclose(sinkhorn(scores + offsets), q, atol=1e-8)


def naive_log_sinkhorn(scores, epsilon, iterations):
    """The same scaling on ``log Q`` with explicit loops, each log-sum-exp shifted by its
    largest term (so that no exponential overflows)."""

    def log_sum_exp(values):
        top = max(values)
        return top + math.log(sum(math.exp(v - top) for v in values))

    batch, k = scores.shape
    log_q = [[float(scores[b, j]) / epsilon for b in range(batch)] for j in range(k)]
    for _ in range(iterations):
        for j in range(k):
            row = log_sum_exp(log_q[j])
            log_q[j] = [v - row for v in log_q[j]]
        for b in range(batch):
            column = log_sum_exp([log_q[j][b] for j in range(k)])
            for j in range(k):
                log_q[j][b] -= column
    return torch.tensor(
        [[math.exp(log_q[j][b]) for j in range(k)] for b in range(batch)], dtype=torch.float64
    )


@pytest.mark.parametrize("epsilon", [0.01, 0.005])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sinkhorn_stays_finite_with_one_far_sample_at_small_epsilon(epsilon, dtype):
    """Sample 3 scores 100× the others: ``exp(S/ε)`` overflows (``e^{20000}``), and the
    scaling form underflowed every other sample to 0 (the whole batch NaN). The log domain
    gives finite rows summing to 1, the loop reference's values."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(8, 4, generator=generator, dtype=torch.float64) * 2 - 1
    scores[3] *= 100
    q = sinkhorn(scores.to(dtype), epsilon=epsilon, iterations=3)
    assert q.dtype == dtype
    assert bool(torch.isfinite(q).all())
    torch.testing.assert_close(q.sum(1), torch.ones(8, dtype=dtype), atol=1e-6, rtol=0)
    reference = naive_log_sinkhorn(scores, epsilon, 3).to(dtype)
    torch.testing.assert_close(q, reference, atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sinkhorn_matches_the_scaling_form_in_float64_on_benign_scores(dtype):
    """Cosine-like scores at the paper's ε: the log domain changes nothing but the rounding.
    float64 scores are computed in float64 (they were cast to float32)."""
    generator = torch.Generator().manual_seed(1)
    scores = torch.rand(16, 6, generator=generator, dtype=torch.float64) * 2 - 1
    reference = naive_sinkhorn(scores, 0.05, 3)  # Python floats: float64
    q = sinkhorn(scores.to(dtype), epsilon=0.05, iterations=3)
    assert q.dtype == dtype
    torch.testing.assert_close(
        q.double(), reference, atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0
    )


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_sinkhorn_computes_half_precision_scores_in_float32(half):
    """float16/bfloat16 scores: the float32 computation on the same numbers, returned in the
    scores' dtype (rounded once, at the end)."""
    scores = (torch.rand(8, 4, generator=torch.Generator().manual_seed(2)) * 2 - 1).to(half)
    q = sinkhorn(scores, epsilon=0.01)
    assert q.dtype == half
    assert torch.equal(q, sinkhorn(scores.float(), epsilon=0.01).to(half))


@pytest.mark.parametrize("num_assigned", [1, 2, 4])
def test_swav_loss_matches_loop_reference_values_and_gradients(num_assigned):
    scores = [torch.rand(5, 4, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    loss = SwAVLoss(temperature=0.2)
    ours = loss(scores, num_assigned=num_assigned)
    targets = [naive_sinkhorn(s.detach(), 0.05, 3).double() for s in scores[:num_assigned]]
    reference = naive_swav(scores, targets, 0.2)
    assert torch.allclose(ours, reference, atol=1e-5)
    expected = torch.autograd.grad(reference, scores, allow_unused=True)  # None: not predicting
    for s, g, e in zip(scores, torch.autograd.grad(ours, scores), expected):
        assert torch.allclose(g, torch.zeros_like(s) if e is None else e, atol=1e-5)


def test_swav_loss_uses_the_queue_in_the_assignment_only():
    scores = [torch.rand(4, 3, dtype=torch.float64) for _ in range(2)]
    queued = [torch.rand(6, 3, dtype=torch.float64) for _ in range(2)]
    loss = SwAVLoss()
    targets = loss.assignments(scores, 2, queued)
    for s, q, t in zip(scores, queued, targets):
        assert torch.allclose(t, sinkhorn(torch.cat([q, s]))[-4:])
    assert not torch.allclose(loss(scores, 2, queued), loss(scores, 2))


def test_deepcluster_loss_matches_loop_reference():
    scores = [torch.randn(5, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    targets = torch.tensor([0, 2, 1, 1, 0])
    ours = DeepClusterLoss(temperature=0.5)(scores, targets)
    reference = 0.0
    for s in scores:
        for b in range(5):
            logits = s[b] / 0.5
            reference = reference - (logits[targets[b]] - torch.logsumexp(logits, 0))
    reference = reference / 15
    assert torch.allclose(ours, reference, atol=1e-5)
    for g, e in zip(torch.autograd.grad(ours, scores), torch.autograd.grad(reference, scores)):
        assert torch.allclose(g, e, atol=1e-5)
    soft = torch.nn.functional.one_hot(targets, 3).double()
    assert torch.allclose(DeepClusterLoss(0.5)(scores, soft), ours)


def test_swav_and_deepcluster_losses_reject_bad_input():
    with pytest.raises(ValueError, match="at least 2 views"):
        SwAVLoss()([torch.rand(4, 3)])
    with pytest.raises(ValueError, match=r"num_assigned must lie in \[1, 2\]"):
        SwAVLoss()([torch.rand(4, 3)] * 2, num_assigned=3)
    with pytest.raises(ValueError, match="sinkhorn_iterations must be >= 1"):
        SwAVLoss(sinkhorn_iterations=0)
    with pytest.raises(ValueError, match="Sinkhorn needs iterations >= 1, got 0"):
        sinkhorn(torch.rand(4, 3), iterations=0)
    with pytest.raises(ValueError, match=r"cluster targets must lie in \[0, 3\)"):
        DeepClusterLoss()([torch.rand(2, 3)], torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"targets must have shape \(2,\)"):
        DeepClusterLoss()([torch.rand(2, 3)], torch.tensor([0, 1, 2]))
