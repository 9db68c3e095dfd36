"""Siamese pair losses (DrLIM): a distance energy, pushed down on similar pairs, up on others.

Energy: ``F(x₁, x₂) = D = ||G(x₁) - G(x₂)||_p``, the distance between the embeddings of the
two members of a pair. Inference: none. Strategy: contrastive, pair by pair. A similar pair
(``y = 1``) pays for a high energy, a dissimilar pair (``y = 0``) for a low one:

* square-square (Hadsell, Chopra, LeCun 2006 [1]):
  ``L = y · ½ D² + (1 - y) · ½ max(0, m - D)²``; dissimilar pairs farther than the margin
  ``m`` cost nothing.
* square-exponential (Chopra, Hadsell, LeCun 2005 [0]):
  ``L = y · (2/Q) D² + (1 - y) · 2Q · exp(-2.77 D / Q)``, ``Q`` the upper bound of the
  energy; the push on dissimilar pairs decays but never stops (an infinite margin).

Both are the mean over pairs.

[0] Chopra, Hadsell, LeCun, Learning a Similarity Metric Discriminatively, with Application to
    Face Verification, CVPR 2005, https://doi.org/10.1109/CVPR.2005.202
[1] Hadsell, Chopra, LeCun, Dimensionality Reduction by Learning an Invariant Mapping,
    CVPR 2006, https://doi.org/10.1109/CVPR.2006.100
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice, check_ndim, check_positive, check_same_shape
from eblearn.losses._float32 import float32_loss

DRLIM_LOSSES = ("square-square", "square-exponential")


@float32_loss
def pair_distance(z_1: Tensor, z_2: Tensor, p: float = 2.0) -> Tensor:
    """The energy ``D_b = ||z_1b - z_2b||_p`` of each pair, shape ``(B,)``.

    The gradient at ``D = 0`` is taken as 0 (a tiny constant keeps the square root smooth).
    """
    difference = z_1 - z_2
    if p == 2.0:
        return (difference.pow(2).sum(1) + 1e-12).sqrt()
    return difference.abs().pow(p).sum(1).add(1e-12).pow(1.0 / p)


def drlim_square_square(distance: Tensor, similar: Tensor, margin: float = 1.0) -> Tensor:
    """``mean_b [ y_b · ½ D_b² + (1 - y_b) · ½ max(0, m - D_b)² ]`` (DrLIM, [1])."""
    similar = similar.to(distance.dtype)
    pull = 0.5 * distance.pow(2)
    push = 0.5 * F.relu(margin - distance).pow(2)
    return (similar * pull + (1 - similar) * push).mean()


def drlim_square_exponential(distance: Tensor, similar: Tensor, q: float = 2.0) -> Tensor:
    """``mean_b [ y_b · (2/Q) D_b² + (1 - y_b) · 2Q · exp(-2.77 D_b / Q) ]`` (Chopra 2005, [0])."""
    similar = similar.to(distance.dtype)
    pull = (2.0 / q) * distance.pow(2)
    push = 2.0 * q * torch.exp(-2.77 * distance / q)
    return (similar * pull + (1 - similar) * push).mean()


class DrLIMLoss(nn.Module):
    """The DrLIM / Siamese loss over labelled pairs of embeddings.

    ``L = mean_b [ y_b · L_S(D_b) + (1 - y_b) · L_D(D_b) ]`` with ``D_b = ||z_1b - z_2b||_p``,
    ``y_b = 1`` for a similar pair and 0 for a dissimilar one, and ``(L_S, L_D)`` either
    square-square ``(½D², ½max(0, m - D)²)`` or square-exponential
    ``((2/Q)D², 2Q·exp(-2.77D/Q))`` (see the module docstring).

    Args:
        kind: ``"square-square"`` or ``"square-exponential"``.
        margin: ``m`` of square-square (DrLIM used 1.0 on MNIST-scale embeddings).
        q: Upper bound ``Q`` of the energy for square-exponential.
        p: Order of the norm of the distance (Chopra 2005 used 1, DrLIM 2).

    Shapes:
        ``z_1``, ``z_2``: ``(B, D)``; ``similar``: ``(B,)`` of 0/1 or booleans. Returns a scalar.

    Raises:
        ValueError: On an unknown ``kind``, non-positive ``margin``/``q``/``p``, or mismatched
            shapes.

    Example:
        >>> z = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> far = torch.tensor([[3.0, 4.0], [0.5, 0.0]])  # distances 5 and 0.5
        >>> loss = DrLIMLoss(margin=1.0)
        >>> float(loss(z, far, torch.tensor([1, 0])))  # (½·25 + ½·0.5²) / 2
        6.3125
    """

    def __init__(
        self,
        kind: str = "square-square",
        margin: float = 1.0,
        q: float = 2.0,
        p: float = 2.0,
    ) -> None:
        super().__init__()
        check_choice(kind, DRLIM_LOSSES, "pair loss")
        check_positive(margin, "margin")
        check_positive(q, "q")
        check_positive(p, "p")
        self.kind, self.margin, self.q, self.p = kind, margin, q, p

    def forward(self, z_1: Tensor, z_2: Tensor, similar: Tensor) -> Tensor:
        check_ndim(z_1, 2, "z_1", "(B, D)")
        check_same_shape(z_1, z_2, "z_1", "z_2")
        if similar.shape != (len(z_1),):
            raise ValueError(
                f"similar must have shape ({len(z_1)},) with 1 for similar pairs and 0 for "
                f"dissimilar ones, got {tuple(similar.shape)}"
            )
        distance = pair_distance(z_1, z_2, self.p)
        if self.kind == "square-square":
            return drlim_square_square(distance, similar, self.margin)
        return drlim_square_exponential(distance, similar, self.q)
