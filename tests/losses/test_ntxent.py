"""NT-Xent and query-key InfoNCE against loop references, exact values and symmetries."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.losses import MoCoLoss, NTXentLoss, moco_loss, nt_xent_loss


def _cos(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u * v).sum() / (u.norm() * v.norm())


def naive_nt_xent(z_a, z_b, temperature, negatives=None):
    """One anchor at a time: -log(exp(pos) / Σ_{k≠i} exp(sim_k)), averaged over 2B anchors."""
    views = list(z_a) + list(z_b)
    batch = len(z_a)
    extra = [] if negatives is None else list(negatives)
    total = 0.0
    for i, anchor in enumerate(views):
        partner = i + batch if i < batch else i - batch
        numerator = torch.exp(_cos(anchor, views[partner]) / temperature)
        denominator = sum(
            torch.exp(_cos(anchor, other) / temperature) for k, other in enumerate(views) if k != i
        )
        for negative in extra:
            denominator = denominator + torch.exp(_cos(anchor, negative) / temperature)
        total = total - torch.log(numerator / denominator)
    return total / len(views)


def naive_info_nce(query, key, temperature, negatives=None, batch_negatives=False):
    total = 0.0
    for i in range(len(query)):
        numerator = torch.exp(_cos(query[i], key[i]) / temperature)
        denominator = numerator
        if batch_negatives:
            for j in range(len(key)):
                if j != i:
                    denominator = denominator + torch.exp(_cos(query[i], key[j]) / temperature)
        for negative in [] if negatives is None else negatives:
            denominator = denominator + torch.exp(_cos(query[i], negative) / temperature)
        total = total - torch.log(numerator / denominator)
    return total / len(query)


def _leaves(*shapes):
    return [torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in shapes]


def _grads(value, inputs):
    return torch.autograd.grad(value, inputs)


@pytest.mark.parametrize("with_negatives", [False, True])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_loop_reference_values_and_gradients(with_negatives, temperature):
    z_a, z_b, negatives = _leaves((6, 5), (6, 5), (7, 5))
    negatives_used = negatives if with_negatives else None
    ours = NTXentLoss(temperature)(z_a, z_b, negatives_used)
    reference = naive_nt_xent(z_a, z_b, temperature, negatives_used)
    assert torch.allclose(ours, reference, atol=1e-5)
    inputs = [z_a, z_b, negatives] if with_negatives else [z_a, z_b]
    for g_ours, g_ref in zip(_grads(ours, inputs), _grads(reference, inputs)):
        assert torch.allclose(g_ours, g_ref, atol=1e-5)


def test_nt_xent_gradient_matches_finite_differences():
    z_a, z_b, negatives = _leaves((4, 3), (4, 3), (2, 3))
    assert torch.autograd.gradcheck(
        lambda a, b, n: nt_xent_loss(a, b, 0.3, n), (z_a, z_b, negatives)
    )


def test_nt_xent_identical_orthogonal_views_has_the_closed_form_value():
    batch, temperature = 5, 0.2
    z = torch.eye(8)[:batch] * 3.0  # orthogonal rows, any norm
    expected = -math.log(math.exp(1 / temperature) / (math.exp(1 / temperature) + 2 * batch - 2))
    assert float(NTXentLoss(temperature)(z, z)) == pytest.approx(expected, abs=1e-5)


def test_nt_xent_is_symmetric_in_the_views_and_scale_invariant():
    z_a, z_b = torch.randn(8, 4), torch.randn(8, 4)
    loss = NTXentLoss(0.5)
    assert torch.allclose(loss(z_a, z_b), loss(z_b, z_a), atol=1e-6)
    assert torch.allclose(loss(z_a, z_b), loss(3 * z_a, 0.5 * z_b), atol=1e-6)


@pytest.mark.parametrize("batch_negatives", [False, True])
def test_info_nce_matches_loop_reference_values_and_gradients(batch_negatives):
    query, key, negatives = _leaves((4, 3), (4, 3), (3, 3))
    ours = MoCoLoss(0.2, batch_negatives=batch_negatives)(query, key, negatives)
    reference = naive_info_nce(query, key, 0.2, negatives, batch_negatives)
    assert torch.allclose(ours, reference, atol=1e-5)
    inputs = [query, key, negatives]
    for g_ours, g_ref in zip(_grads(ours, inputs), _grads(reference, inputs)):
        assert torch.allclose(g_ours, g_ref, atol=1e-5)
    assert torch.autograd.gradcheck(
        lambda q, k, n: moco_loss(q, k, 0.2, n, batch_negatives), (query, key, negatives)
    )


def test_info_nce_with_orthogonal_negatives_has_the_closed_form_value():
    query = torch.eye(6)[:2]
    negatives = torch.eye(6)[2:]  # 4 negatives orthogonal to both queries
    value = MoCoLoss(temperature=0.5)(query, query, negatives)
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 4))
    assert float(value) == pytest.approx(expected, abs=1e-6)


def test_nt_xent_and_info_nce_reject_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        NTXentLoss()(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"negatives must be a tensor of shape \(M, 3\)"):
        NTXentLoss()(torch.randn(4, 3), torch.randn(4, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        NTXentLoss(temperature=0.0)
    with pytest.raises(ValueError, match="has no negatives"):
        MoCoLoss()(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        MoCoLoss(batch_negatives=True)(torch.randn(4), torch.randn(4))
