"""VICReg against a loop-by-loop reference written from the paper's equations."""

import pytest
import torch

from eblearn.losses import VICRegLoss, covariance_loss, invariance_loss, variance_loss, vicreg_loss


def naive_vicreg(z_a, z_b, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, eps=1e-4):
    batch, dim = z_a.shape
    invariance = sum((z_a[b, d] - z_b[b, d]) ** 2 for b in range(batch) for d in range(dim)) / (
        batch * dim
    )

    def variance(z):
        total = 0.0
        for d in range(dim):
            mean = sum(z[b, d] for b in range(batch)) / batch
            var = sum((z[b, d] - mean) ** 2 for b in range(batch)) / (batch - 1)
            total = total + torch.clamp(gamma - torch.sqrt(var + eps), min=0)
        return total / dim

    def covariance(z):
        means = [sum(z[b, d] for b in range(batch)) / batch for d in range(dim)]
        total = 0.0
        for i in range(dim):
            for j in range(dim):
                if i != j:
                    c = sum((z[b, i] - means[i]) * (z[b, j] - means[j]) for b in range(batch))
                    total = total + (c / (batch - 1)) ** 2
        return total / dim

    return (
        lam * invariance
        + mu * 0.5 * (variance(z_a) + variance(z_b))
        + nu * (covariance(z_a) + covariance(z_b))
    )


@pytest.mark.parametrize("shape", [(6, 4), (3, 7)], ids=["covariance", "gram"])
def test_matches_naive_reference_in_value_and_gradient(shape):
    """Both paths of the covariance term: (D, D) covariance when B >= D, (B, B) Gram when B < D."""
    z_a = (torch.randn(*shape, dtype=torch.float64) * 0.7).requires_grad_()
    z_b = (torch.randn(*shape, dtype=torch.float64) * 1.3).requires_grad_()
    ours = VICRegLoss()(z_a, z_b)
    reference = naive_vicreg(z_a, z_b)
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=1e-10)
    grads = torch.autograd.grad(ours, (z_a, z_b))
    reference_grads = torch.autograd.grad(reference, (z_a, z_b))
    for mine, theirs in zip(grads, reference_grads):
        torch.testing.assert_close(mine, theirs, atol=1e-10, rtol=1e-8)


def test_terms_sum_to_the_loss_and_functional_form_agrees():
    z_a, z_b = torch.randn(16, 8), torch.randn(16, 8)
    loss = VICRegLoss(lambda_param=2.0, mu_param=3.0, nu_param=4.0)
    terms = loss.terms(z_a, z_b)
    torch.testing.assert_close(sum(terms.values()), loss(z_a, z_b))
    torch.testing.assert_close(
        vicreg_loss(z_a, z_b, lambda_param=2.0, mu_param=3.0, nu_param=4.0), loss(z_a, z_b)
    )
    torch.testing.assert_close(terms["invariance"], 2.0 * invariance_loss(z_a, z_b))


def test_known_values():
    z = torch.randn(64, 5)
    assert float(invariance_loss(z, z)) == 0.0
    # Standard deviation 3 in every dimension: the hinge at gamma = 1 is inactive.
    assert float(variance_loss(3 * torch.randn(10_000, 5))) == 0.0
    # A collapsed batch pays the full hinge: gamma - sqrt(eps) per dimension.
    collapsed = torch.ones(32, 5)
    assert float(variance_loss(collapsed)) == pytest.approx(1 - 1e-2)
    # Independent dimensions have almost no covariance; a copied dimension has a lot.
    independent = torch.randn(20_000, 3)
    assert float(covariance_loss(independent)) < 1e-3
    copied = torch.cat([independent[:, :1], independent[:, :1]], 1)
    assert float(covariance_loss(copied)) == pytest.approx(1.0, rel=0.05)  # 2·1² / D with D=2


def test_symmetric_in_the_two_views():
    z_a, z_b = torch.randn(16, 8), torch.randn(16, 8)
    torch.testing.assert_close(VICRegLoss()(z_a, z_b), VICRegLoss()(z_b, z_a))


def test_bad_input():
    loss = VICRegLoss()
    with pytest.raises(ValueError, match="at least 2 samples"):
        loss(torch.randn(1, 8), torch.randn(1, 8))
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.randn(4, 8), torch.randn(4, 7))
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        loss(torch.randn(4, 8, 2), torch.randn(4, 8, 2))
