"""Heads: the MLPs placed after a backbone (projectors, predictors)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor, nn


class MLPHead(nn.Module):
    """``Linear → [BatchNorm] → ReLU`` for each hidden layer, then a final ``Linear``.

    Args:
        in_dim: Input size.
        hidden_dims: Sizes of the hidden layers (may be empty: a linear head).
        out_dim: Output size.
        batch_norm: Batch-normalize the hidden layers.
        last_batch_norm: Batch-normalize the output without affine parameters (SimSiam).

    Example:
        >>> import torch
        >>> MLPHead(8, [16], 4)(torch.zeros(3, 8)).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        batch_norm: bool = True,
        last_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        sizes = [in_dim, *hidden_dims, out_dim]
        if min(sizes) < 1:
            raise ValueError(f"layer sizes must be >= 1, got {sizes}")
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(sizes[:-1]):
            layers.append(nn.Linear(fan_in, fan_out, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(sizes[-2], sizes[-1], bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(sizes[-1], affine=False))
        self.layers = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, in_dim)``. Returns: ``(B, out_dim)``."""
        return self.layers(x)


def projection_head(in_dim: int, dims: Sequence[int]) -> MLPHead:
    """The VICReg/Barlow Twins expander: ``in_dim → dims[0] → ... → dims[-1]`` with BN-ReLU.

    Raises:
        ValueError: If ``dims`` is empty.
    """
    if not dims:
        raise ValueError("a projection head needs at least one layer size")
    return MLPHead(in_dim, list(dims[:-1]), dims[-1])
