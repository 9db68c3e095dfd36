"""Jigsaw views: cut images into a grid of patches and shuffle them (PIRL's pretext transform).

An image ``(C, H, W)`` is cut into a ``g × g`` grid of cells of ``⌊H/g⌋ × ⌊W/g⌋`` pixels
(the last ``H mod g`` rows and ``W mod g`` columns are dropped), and the cells are put in a
random order, one permutation per image [0].

[0] Noroozi, Favaro, Unsupervised Learning of Visual Representations by Solving Jigsaw
    Puzzles, ECCV 2016, https://arxiv.org/abs/1603.09246
"""

from __future__ import annotations

import torch
from torch import Tensor

from eblearn._validate import check_ndim


def grid_patches(images: Tensor, grid: int = 3, min_patch: int = 1) -> Tensor:
    """The ``grid × grid`` cells of each image, row by row, shape ``(B, grid², C, h, w)``.

    Args:
        images: ``(B, C, H, W)``.
        grid: Cells per side ``g``.
        min_patch: Smallest cell side accepted (a backbone's smallest input).

    Raises:
        ValueError: If ``images`` is not 4-D, ``grid < 1``, or the cells would be smaller
            than ``min_patch`` pixels (the message says the smallest image that fits).

    Example:
        >>> images = torch.arange(16.0).view(1, 1, 4, 4)
        >>> grid_patches(images, grid=2)[0, :, 0].tolist()  # four 2×2 cells, row by row
        [[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]], [[8.0, 9.0], [12.0, 13.0]], [[10.0, 11.0], [14.0, 15.0]]]
    """  # noqa: E501
    check_ndim(images, 4, "images", "(B, C, H, W)")
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    batch, channels, height, width = images.shape
    h, w = height // grid, width // grid
    if min(h, w) < min_patch:
        raise ValueError(
            f"a {grid}×{grid} jigsaw grid cuts {height}×{width} images into {h}×{w} patches, "
            f"smaller than {min_patch} px; use views of at least {grid * min_patch} px "
            f"(e.g. --image-size {max(16, grid * min_patch)})"
        )
    cropped = images[:, :, : grid * h, : grid * w]
    cells = cropped.reshape(batch, channels, grid, h, grid, w)  # (B, C, gy, h, gx, w)
    cells = cells.permute(0, 2, 4, 1, 3, 5)  # (B, gy, gx, C, h, w)
    return cells.reshape(batch, grid * grid, channels, h, w)


def shuffle_patches(patches: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Puts each image's patches ``(B, P, ...)`` in its own random order.

    Example:
        >>> patches = torch.arange(6.0).view(2, 3)
        >>> shuffled = shuffle_patches(patches)
        >>> shuffled.sort(dim=1).values.tolist()
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    batch, count = patches.shape[:2]
    keys = torch.rand(batch, count, generator=generator, device=patches.device)
    order = keys.argsort(dim=1)  # (B, P): a uniform random permutation per row
    index = order.view(batch, count, *([1] * (patches.ndim - 2))).expand_as(patches)
    return patches.gather(1, index)


def jigsaw(
    images: Tensor, grid: int = 3, min_patch: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """Shuffled grid patches of each image, ``(B, grid², C, h, w)``: :func:`grid_patches`
    followed by :func:`shuffle_patches`."""
    return shuffle_patches(grid_patches(images, grid, min_patch), generator)
