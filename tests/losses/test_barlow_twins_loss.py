"""Barlow Twins against a loop reference, exact zero, affine invariance and symmetry."""

from __future__ import annotations

import pytest
import torch

from eblearn.losses import BarlowTwinsLoss, barlow_twins_loss


def naive_barlow_twins(z_a, z_b, lambda_param, eps=1e-5):
    batch, dim = z_a.shape

    def standardized(z):
        columns = []
        for j in range(dim):
            mean = sum(z[b, j] for b in range(batch)) / batch
            var = sum((z[b, j] - mean) ** 2 for b in range(batch)) / batch
            columns.append([(z[b, j] - mean) / torch.sqrt(var + eps) for b in range(batch)])
        return columns  # columns[j][b]

    a, b = standardized(z_a), standardized(z_b)
    loss = 0.0
    for i in range(dim):
        for j in range(dim):
            c_ij = sum(a[i][n] * b[j][n] for n in range(batch)) / batch
            loss = loss + ((1 - c_ij) ** 2 if i == j else lambda_param * c_ij**2)
    return loss


@pytest.mark.parametrize("shape", [(7, 4), (3, 6)], ids=["correlation", "gram"])
def test_barlow_twins_matches_loop_reference_values_and_gradients(shape):
    """Both paths: the (D, D) correlation when B >= D, the (B, B) Gram matrices when B < D."""
    z_a = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    z_b = (z_a.detach() + 0.5 * torch.randn(*shape, dtype=torch.float64)).requires_grad_(True)
    ours = BarlowTwinsLoss(lambda_param=0.3)(z_a, z_b)
    reference = naive_barlow_twins(z_a, z_b, 0.3)
    assert torch.allclose(ours, reference, atol=1e-5)
    for g, e in zip(
        torch.autograd.grad(ours, [z_a, z_b]), torch.autograd.grad(reference, [z_a, z_b])
    ):
        assert torch.allclose(g, e, atol=1e-5)
    assert torch.autograd.gradcheck(lambda a, b: barlow_twins_loss(a, b, 0.3), (z_a, z_b))


def test_perfectly_correlated_decorrelated_views_cost_zero():
    # Columns of a Hadamard matrix (without the constant one): zero mean, unit variance and
    # mutually uncorrelated, so C = I exactly when both views are equal.
    h = torch.tensor([[1.0]])
    for _ in range(3):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)])  # (8, 8)
    z = h[:, 1:5]
    assert float(BarlowTwinsLoss(eps=0.0)(z, z)) == pytest.approx(0.0, abs=1e-10)
    assert float(BarlowTwinsLoss()(z, z)) == pytest.approx(0.0, abs=1e-8)


def test_barlow_twins_is_invariant_to_per_dimension_affine_maps_and_symmetric():
    z_a, z_b = torch.randn(32, 6, dtype=torch.float64), torch.randn(32, 6, dtype=torch.float64)
    scale, shift = (
        torch.rand(6, dtype=torch.float64) * 4 + 0.25,
        torch.randn(6, dtype=torch.float64),
    )
    exact = BarlowTwinsLoss(eps=0.0)
    assert torch.allclose(exact(z_a, z_b), exact(z_a * scale + shift, z_b), atol=1e-10)
    assert torch.allclose(exact(z_a, z_b), exact(z_a, z_b * scale - shift), atol=1e-10)
    default = BarlowTwinsLoss()
    assert torch.allclose(default(z_a, z_b), default(2 * z_a + 4, z_b), atol=1e-4)
    assert torch.allclose(default(z_a, z_b), default(z_b, z_a), atol=1e-12)


def test_barlow_twins_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        BarlowTwinsLoss()(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="same shape"):
        BarlowTwinsLoss()(torch.randn(4, 3), torch.randn(4, 2))
