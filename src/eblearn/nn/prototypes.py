"""Prototypes: ``K`` learnable unit vectors that embeddings are scored against (SwAV)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Prototypes(nn.Module):
    """Cosine similarities ``s_bk = z̄_bᵀ c̄_k`` of embeddings to ``K`` prototypes.

    Both the embeddings and the prototype vectors are L2-normalized in the forward pass, so
    the scores lie in ``[-1, 1]`` and the prototypes' norms (and weight decay on them) do not
    matter. :meth:`set_` loads given centroids (DeepCluster's k-means).

    Args:
        dim: Embedding size ``D``.
        num_prototypes: ``K``.

    Attributes:
        weight: Parameter ``(K, D)``.

    Example:
        >>> prototypes = Prototypes(dim=2, num_prototypes=3)
        >>> prototypes.set_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]]))
        >>> prototypes(torch.tensor([[3.0, 0.0]])).tolist()
        [[1.0, 0.0, -1.0]]
    """

    def __init__(self, dim: int, num_prototypes: int) -> None:
        super().__init__()
        if dim < 1 or num_prototypes < 1:
            raise ValueError(
                f"prototypes need dim >= 1 and num_prototypes >= 1, got {dim}, {num_prototypes}"
            )
        self.weight = nn.Parameter(torch.empty(num_prototypes, dim))
        nn.init.normal_(self.weight)
        self.dim, self.num_prototypes = dim, num_prototypes

    @torch.no_grad()
    def set_(self, centroids: Tensor) -> None:
        """Copies ``centroids`` ``(K, D)`` into the prototypes (normalized)."""
        if centroids.shape != self.weight.shape:
            raise ValueError(
                f"centroids must have shape {tuple(self.weight.shape)}, "
                f"got {tuple(centroids.shape)}"
            )
        self.weight.copy_(F.normalize(centroids, dim=1))

    def forward(self, z: Tensor, frozen: bool = False, normalized: bool = False) -> Tensor:
        """Scores ``(B, K)`` of embeddings ``z`` ``(B, D)``.

        With ``frozen``, the prototypes receive a zero gradient (still part of the graph, so
        data-parallel training sees every parameter used). With ``normalized``, ``z`` is
        taken as already L2-normalized and used as is (normalizing it again would change
        neither the scores nor, as normalization's Jacobian at a unit vector is the projection
        ``I - z̄z̄ᵀ``, their gradient).
        """
        weight: Tensor = self.weight
        if frozen:
            weight = weight.detach() + 0.0 * (weight - weight.detach())
        return (z if normalized else F.normalize(z, dim=1)) @ F.normalize(weight, dim=1).T

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_prototypes={self.num_prototypes}"
