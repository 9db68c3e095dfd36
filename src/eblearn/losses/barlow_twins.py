"""Barlow Twins: the cross-correlation of the two views' embeddings driven to the identity.

Energy: ``F(x, x') = Σ_i (1 - C_ii)²``, one minus the correlation of each embedding dimension
across the two views. Inference: none. Strategy: information maximization (regularized,
non-contrastive): the off-diagonal term ``λ Σ_{i≠j} C_ij²`` decorrelates the dimensions, so
the embedding cannot collapse to a point or to a few directions without paying for it.

[0] Zbontar, Jing, Misra, LeCun, Deny, Barlow Twins: Self-Supervised Learning via Redundancy
    Reduction, ICML 2021, https://arxiv.org/abs/2103.03230
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._distributed import gather_with_grad
from eblearn._validate import check_batch_size, check_ndim, check_same_shape
from eblearn.losses._float32 import float32_loss


@float32_loss
def standardize(z: Tensor, eps: float = 1e-5) -> Tensor:
    """``(z - mean) / sqrt(var + ε)`` per dimension over the batch (biased variance), as
    ``BatchNorm1d(affine=False)`` in training mode.

    Args:
        z: ``(B, D)``.
        eps: ε.
    """
    mean = z.mean(dim=0)
    var = z.var(dim=0, unbiased=False)
    return (z - mean) / torch.sqrt(var + eps)


@float32_loss
def cross_correlation(z_a: Tensor, z_b: Tensor, eps: float = 1e-5) -> Tensor:
    """``C = 1/B · std(z_a)ᵀ std(z_b)``, the ``(D, D)`` cross-correlation of the views."""
    return standardize(z_a, eps).T @ standardize(z_b, eps) / len(z_a)


@float32_loss
def barlow_twins_loss(
    z_a: Tensor,
    z_b: Tensor,
    lambda_param: float = 5e-3,
    eps: float = 1e-5,
    gather_distributed: bool = False,
) -> Tensor:
    """``Σ_i (1 - C_ii)² + λ Σ_{i≠j} C_ij²`` (see :class:`BarlowTwinsLoss`).

    The off-diagonal sum is ``||C||_F² - Σ_i C_ii²``. With ``Ẑ`` the standardized views,
    ``||ẐₐᵀẐ_b||_F² = ⟨ẐₐẐₐᵀ, Ẑ_bẐ_bᵀ⟩``, so when ``B < D`` the norm comes from two
    ``(B, B)`` Gram matrices instead of the ``(D, D)`` correlation (``B²D`` instead of
    ``BD²`` multiply-adds, forward and backward); ``C_ii`` is a column-wise dot product.
    """
    if gather_distributed:
        z_a, z_b = gather_with_grad(z_a), gather_with_grad(z_b)
    batch, dim = z_a.shape
    a, b = standardize(z_a, eps), standardize(z_b, eps)
    diagonal = (a * b).sum(dim=0) / batch  # (D,) = diag C
    if batch < dim:
        total = ((a @ a.T) * (b @ b.T)).sum() / batch**2
    else:
        total = (a.T @ b / batch).pow(2).sum()  # (D, D) cross-correlation
    on_diagonal = (1 - diagonal).pow(2).sum()
    off_diagonal = total - diagonal.pow(2).sum()
    return on_diagonal + lambda_param * off_diagonal


class BarlowTwinsLoss(nn.Module):
    """``L = Σ_i (1 - C_ii)² + λ Σ_i Σ_{j≠i} C_ij²``, ``C`` the views' cross-correlation.

    ``C_ij = 1/B Σ_b ẑ^a_bi ẑ^b_bj`` with ``ẑ`` each dimension standardized over the batch
    (:func:`standardize`). ``C`` is unchanged when a view is mapped by ``z_i ↦ a_i z_i + c_i``
    with ``a_i > 0``, and swapping the views transposes it, so the loss is symmetric.

    [0] Zbontar et al., Barlow Twins, ICML 2021, https://arxiv.org/abs/2103.03230

    Args:
        lambda_param: Off-diagonal weight λ (paper: 5e-3, the code's 0.0051 rounded).
        eps: Stabilizer of the standardization (BatchNorm's 1e-5).
        gather_distributed: Standardize and correlate over the batches of all processes.

    Shapes:
        ``z_a``, ``z_b``: ``(B, D)`` with ``B >= 2``. Returns a scalar.

    Raises:
        ValueError: If the shapes differ, are not 2-D, or the batch has fewer than 2 samples.

    Example:
        >>> import torch
        >>> z = torch.randn(64, 8)
        >>> loss = BarlowTwinsLoss()
        >>> torch.allclose(loss(z, z), loss(z, 3 * z + 1), atol=1e-4)  # affine invariance
        True
    """

    def __init__(
        self, lambda_param: float = 5e-3, eps: float = 1e-5, gather_distributed: bool = False
    ) -> None:
        super().__init__()
        self.lambda_param = lambda_param
        self.eps = eps
        self.gather_distributed = gather_distributed

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        check_ndim(z_a, 2, "z_a", "(B, D)")
        check_same_shape(z_a, z_b, "z_a", "z_b")
        check_batch_size(z_a, 2, "BarlowTwinsLoss", "the correlation is a batch statistic")
        return barlow_twins_loss(z_a, z_b, self.lambda_param, self.eps, self.gather_distributed)
