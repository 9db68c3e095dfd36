"""BYOL and SimSiam losses against loop references; stop-gradient on the targets."""

from __future__ import annotations

import pytest
import torch

from eblearn.losses import BYOLLoss, SimSiamLoss


def _cos(u, v):
    dot = sum(a * b for a, b in zip(u, v))
    return dot / (torch.sqrt(sum(a * a for a in u)) * torch.sqrt(sum(b * b for b in v)))


def naive_byol(p_a, p_b, z_a, z_b):
    total = 0.0
    for i in range(len(p_a)):
        for p, z in ((p_a[i], z_b[i].detach()), (p_b[i], z_a[i].detach())):
            p_unit, z_unit = p / p.norm(), z / z.norm()
            total = total + sum((u - v) ** 2 for u, v in zip(p_unit, z_unit))
    return total / len(p_a)


def naive_simsiam(p_a, p_b, z_a, z_b):
    total = 0.0
    for i in range(len(p_a)):
        total = total - 0.5 * _cos(p_a[i], z_b[i].detach()) - 0.5 * _cos(p_b[i], z_a[i].detach())
    return total / len(p_a)


@pytest.mark.parametrize(
    ("loss", "naive"), [(BYOLLoss(), naive_byol), (SimSiamLoss(), naive_simsiam)]
)
def test_distillation_losses_match_loop_references(loss, naive):
    tensors = [torch.randn(6, 5, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    ours, reference = loss(*tensors), naive(*tensors)
    assert torch.allclose(ours, reference, atol=1e-5)
    p_grads = torch.autograd.grad(ours, tensors[:2], retain_graph=True)
    p_expected = torch.autograd.grad(reference, tensors[:2])
    for g, e in zip(p_grads, p_expected):
        assert torch.allclose(g, e, atol=1e-5)
    # the targets are constants: no gradient reaches them
    z_grads = torch.autograd.grad(ours, tensors[2:], allow_unused=True)
    assert all(g is None for g in z_grads)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b, tensors[2], tensors[3]), tensors[:2])


def test_known_values_and_symmetry():
    z = torch.randn(4, 3)
    assert float(BYOLLoss()(z, z, z, z)) == pytest.approx(0.0, abs=1e-6)
    assert float(BYOLLoss()(z, z, -z, -z)) == pytest.approx(8.0, abs=1e-5)  # 2 × (2 - 2·(-1))
    assert float(SimSiamLoss()(z, z, z, z)) == pytest.approx(-1.0, abs=1e-6)
    a, b, c, d = (torch.randn(4, 3) for _ in range(4))
    for loss in (BYOLLoss(), SimSiamLoss()):
        assert torch.allclose(loss(a, b, c, d), loss(b, a, d, c), atol=1e-6)  # swap the views


def test_distillation_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="p_a and z_b must have the same shape"):
        BYOLLoss()(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"p_a must be a tensor of shape \(B, D\)"):
        SimSiamLoss()(torch.randn(4), torch.randn(4), torch.randn(4), torch.randn(4))
