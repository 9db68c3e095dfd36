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
    return torch.tensor([[q[j][b] * batch for j in range(k)] for b in range(batch)])


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
    assert bool((q >= 0).all())
    three = sinkhorn(scores, epsilon=0.05, iterations=3)
    assert torch.allclose(three.sum(1), torch.ones(12), atol=1e-5)  # rows exact after any count


def test_sinkhorn_is_permutation_equivariant_and_ignores_per_prototype_offsets():
    scores = torch.rand(9, 5, dtype=torch.float64) * 2 - 1
    q = sinkhorn(scores)
    order = torch.randperm(9)
    assert torch.allclose(sinkhorn(scores[order]), q[order], atol=1e-10)
    offsets = torch.randn(5, dtype=torch.float64) * 0.1
    assert torch.allclose(sinkhorn(scores + offsets), q, atol=1e-8)


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
