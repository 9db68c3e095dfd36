"""DrLIM square-square and square-exponential pair losses against loop references."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.losses import DrLIMLoss


def naive_pair_loss(z_1, z_2, similar, kind, margin=1.0, q=2.0, p=2.0):
    total = 0.0
    for a, b, y in zip(z_1, z_2, similar.tolist()):
        distance = sum(abs(u - v) ** p for u, v in zip(a, b)) ** (1 / p)
        if kind == "square-square":
            term = 0.5 * distance**2 if y else 0.5 * torch.clamp(margin - distance, min=0) ** 2
        else:
            term = (2 / q) * distance**2 if y else 2 * q * torch.exp(-2.77 * distance / q)
        total = total + term
    return total / len(z_1)


@pytest.mark.parametrize("kind", ["square-square", "square-exponential"])
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_pair_loss_matches_loop_reference_values_and_gradients(kind, p):
    z_1 = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    z_2 = (0.3 * torch.randn(10, 4, dtype=torch.float64)).requires_grad_(True)
    similar = torch.tensor([1, 0] * 5)
    loss = DrLIMLoss(kind, margin=1.5, q=3.0, p=p)
    ours = loss(z_1, z_2, similar)
    reference = naive_pair_loss(z_1, z_2, similar, kind, 1.5, 3.0, p)
    assert torch.allclose(ours, reference, atol=1e-5)
    grads = torch.autograd.grad(ours, [z_1, z_2])
    expected = torch.autograd.grad(reference, [z_1, z_2])
    for g, e in zip(grads, expected):
        assert torch.allclose(g, e, atol=1e-5)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b, similar), (z_1, z_2))


def test_square_square_ignores_dissimilar_pairs_beyond_the_margin():
    z_1 = torch.zeros(2, 2)
    z_2 = torch.tensor([[3.0, 0.0], [0.0, 2.0]], requires_grad=True)
    loss = DrLIMLoss("square-square", margin=1.0)(z_1, z_2, torch.tensor([0, 0]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(z_2.grad, torch.zeros(2, 2))


def test_square_exponential_known_values():
    z_1 = torch.zeros(2, 1)
    z_2 = torch.tensor([[1.0], [1.0]])
    loss = DrLIMLoss("square-exponential", q=2.0)
    assert float(loss(z_1, z_2, torch.tensor([1, 1]))) == pytest.approx(1.0)  # (2/Q)·1
    assert float(loss(z_1, z_2, torch.tensor([0, 0]))) == pytest.approx(4 * math.exp(-1.385))


def test_pair_loss_is_symmetric_in_the_pair_members():
    z_1, z_2 = torch.randn(6, 3), torch.randn(6, 3)
    similar = torch.tensor([1, 1, 0, 0, 1, 0])
    loss = DrLIMLoss()
    assert torch.allclose(loss(z_1, z_2, similar), loss(z_2, z_1, similar))


def test_pair_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown pair loss 'hinge'; valid choices"):
        DrLIMLoss("hinge")
    with pytest.raises(ValueError, match="margin must be > 0"):
        DrLIMLoss(margin=0.0)
    with pytest.raises(ValueError, match=r"similar must have shape \(3,\)"):
        DrLIMLoss()(torch.randn(3, 2), torch.randn(3, 2), torch.ones(4))
