"""VICReg: variance-invariance-covariance regularization.

Energy: ``F(x, y) = ||z_x - z_y||²``, the distance between the embeddings of two views.
Inference: none (the embeddings are computed, not optimized).
Strategy: regularized, non-contrastive. The variance term keeps each embedding dimension's
standard deviation above ``gamma`` and the covariance term decorrelates dimensions, which
together limit the volume of low energy without negative pairs.

[0] Bardes, Ponce, LeCun, VICReg: Variance-Invariance-Covariance Regularization for
    Self-Supervised Learning, ICLR 2022, https://arxiv.org/abs/2105.04906
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._distributed import gather_with_grad
from eblearn._validate import check_batch_size, check_ndim, check_same_shape
from eblearn.losses._float32 import float32_loss


@float32_loss
def invariance_loss(z_a: Tensor, z_b: Tensor) -> Tensor:
    """``s(Z, Z') = 1/(B·D) Σ_b ||z_b - z'_b||²``, the mean squared error of the two views.

    Args:
        z_a: Embeddings of the first views, shape ``(B, D)``.
        z_b: Embeddings of the second views, shape ``(B, D)``.
    """
    return F.mse_loss(z_a, z_b)


@float32_loss
def variance_loss(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """``v(Z) = 1/D Σ_j max(0, γ - sqrt(Var(z_j) + ε))``, a hinge on each dimension's std.

    ``Var`` is the unbiased variance over the batch.

    Args:
        z: Embeddings, shape ``(B, D)`` with ``B >= 2``.
        gamma: Target standard deviation.
        eps: Added to the variance for numerical stability.
    """
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


@float32_loss
def covariance_loss(z: Tensor) -> Tensor:
    """``c(Z) = 1/D Σ_{i≠j} C(Z)_ij²`` with ``C(Z) = 1/(B-1) Σ_b (z_b - z̄)(z_b - z̄)ᵀ``.

    The off-diagonal sum is the squared Frobenius norm minus the squared diagonal. With
    ``Z̃`` the centered embeddings, ``||Z̃ᵀZ̃||_F² = ||Z̃Z̃ᵀ||_F²``, so when ``B < D`` the norm is
    taken of the ``(B, B)`` Gram matrix instead of the ``(D, D)`` covariance (``B²D`` instead
    of ``BD²`` multiply-adds, forward and backward), and the diagonal ``C_jj`` is the column's
    variance.

    Args:
        z: Embeddings, shape ``(B, D)`` with ``B >= 2``.
    """
    batch, dim = z.shape
    centered = z - z.mean(dim=0)
    if batch < dim:
        gram = centered @ centered.T  # (B, B)
        total = gram.pow(2).sum() / (batch - 1) ** 2
        diagonal = centered.pow(2).sum(dim=0) / (batch - 1)  # (D,) = diag C
    else:
        cov = centered.T @ centered / (batch - 1)  # (D, D)
        total, diagonal = cov.pow(2).sum(), cov.diagonal()
    return (total - diagonal.pow(2).sum()) / dim


class VICRegLoss(nn.Module):
    """VICReg loss, as in the authors' code [0]:

    ``L = λ·s(Z, Z') + μ·½[v(Z) + v(Z')] + ν·[c(Z) + c(Z')]``

    with ``s`` the invariance (:func:`invariance_loss`), ``v`` the variance hinge
    (:func:`variance_loss`) and ``c`` the covariance penalty (:func:`covariance_loss`).

    Args:
        lambda_param: Invariance weight λ (paper: 25).
        mu_param: Variance weight μ (paper: 25).
        nu_param: Covariance weight ν (paper: 1).
        gamma: Target standard deviation γ of each dimension (paper: 1).
        eps: Variance stabilizer ε (paper: 1e-4).
        gather_distributed: Compute the variance and covariance over the batches of all
            processes (the invariance stays local; data-parallel averaging makes it global).

    Shapes:
        ``z_a``, ``z_b``: ``(B, D)`` with ``B >= 2``. Returns a scalar.

    Raises:
        ValueError: If the shapes differ, are not 2-D, or the batch has fewer than 2 samples.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> z = torch.randn(256, 16)
        >>> loss = VICRegLoss()
        >>> float(loss(z, z)) < float(loss(z, torch.randn(256, 16)))
        True
    """

    def __init__(
        self,
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.lambda_param = lambda_param
        self.mu_param = mu_param
        self.nu_param = nu_param
        self.gamma = gamma
        self.eps = eps
        self.gather_distributed = gather_distributed

    @float32_loss
    def terms(self, z_a: Tensor, z_b: Tensor) -> dict[str, Tensor]:
        """The weighted terms ``invariance``, ``variance``, ``covariance``; they sum to the loss."""
        check_ndim(z_a, 2, "z_a", "(B, D)")
        check_same_shape(z_a, z_b, "z_a", "z_b")
        check_batch_size(z_a, 2, "VICRegLoss", "variance and covariance are batch statistics")
        invariance = invariance_loss(z_a, z_b)
        if self.gather_distributed:
            z_a, z_b = gather_with_grad(z_a), gather_with_grad(z_b)
        variance = 0.5 * (
            variance_loss(z_a, self.gamma, self.eps) + variance_loss(z_b, self.gamma, self.eps)
        )
        covariance = covariance_loss(z_a) + covariance_loss(z_b)
        return {
            "invariance": self.lambda_param * invariance,
            "variance": self.mu_param * variance,
            "covariance": self.nu_param * covariance,
        }

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        return torch.stack(list(self.terms(z_a, z_b).values())).sum()


def vicreg_loss(z_a: Tensor, z_b: Tensor, **hyper_parameters: float) -> Tensor:
    """Functional form of :class:`VICRegLoss` (same keyword hyper-parameters)."""
    return VICRegLoss(**hyper_parameters)(z_a, z_b)  # type: ignore[arg-type]
