"""BYOL's loss: the normalized prediction error of the online network against the target.

Energy: ``F(x, x') = ||p̄ - z̄'||² = 2 - 2·cos(p, z')``, the squared distance between the
L2-normalized prediction ``p = q(g(f(x)))`` of the online branch and the L2-normalized target
embedding ``z' = g_ξ(f_ξ(x'))`` of the other view. Inference: none. Strategy: distillation
(non-contrastive, architectural): the target branch is a moving average of the online one and
receives no gradient, and the predictor breaks the symmetry, which together keep the trivial
constant solution from being reached in practice.

[0] Grill et al., Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning,
    NeurIPS 2020, https://arxiv.org/abs/2006.07733
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_ndim, check_same_shape
from eblearn.losses._float32 import float32_loss


@float32_loss
def negative_cosine_similarity(p: Tensor, z: Tensor) -> Tensor:
    """``-1/B Σ_b cos(p_b, z_b)``; ``z`` is not detached here.

    Args:
        p: Predictions ``(B, D)``.
        z: Targets ``(B, D)``.
    """
    return -F.cosine_similarity(p, z, dim=1, eps=1e-8).mean()


def normalized_squared_error(p: Tensor, z: Tensor) -> Tensor:
    """``1/B Σ_b ||p_b/||p_b|| - z_b/||z_b|| ||² = 2 - 2·mean cos`` (BYOL's regression loss)."""
    return 2.0 + 2.0 * negative_cosine_similarity(p, z)


def _check_pairs(p_a: Tensor, p_b: Tensor, z_a: Tensor, z_b: Tensor) -> None:
    check_ndim(p_a, 2, "p_a", "(B, D)")
    for name, tensor in (("p_b", p_b), ("z_a", z_a), ("z_b", z_b)):
        check_same_shape(p_a, tensor, "p_a", name)


class BYOLLoss(nn.Module):
    """BYOL's symmetrized loss ``L = ||p̄_a - sg(z̄_b)||² + ||p̄_b - sg(z̄_a)||²``, batch mean.

    ``p`` are the online predictions of each view, ``z`` the target projections, ``x̄ = x/||x||``
    and ``sg`` stops the gradient (the targets are constants).

    [0] Grill et al., BYOL, NeurIPS 2020, https://arxiv.org/abs/2006.07733

    Shapes:
        ``p_a``, ``p_b``, ``z_a``, ``z_b``: ``(B, D)``. Returns a scalar in ``[0, 8]``.

    Raises:
        ValueError: If the four tensors are not 2-D of the same shape.

    Example:
        >>> import torch
        >>> p = torch.randn(8, 4)
        >>> float(BYOLLoss()(p, p, p, p)) < 1e-6  # predictions equal to the targets
        True
    """

    def forward(self, p_a: Tensor, p_b: Tensor, z_a: Tensor, z_b: Tensor) -> Tensor:
        _check_pairs(p_a, p_b, z_a, z_b)
        return normalized_squared_error(p_a, z_b.detach()) + normalized_squared_error(
            p_b, z_a.detach()
        )
