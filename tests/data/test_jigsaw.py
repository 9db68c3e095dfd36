"""Jigsaw views: the grid is the image cut up, the shuffle is a permutation per image."""

from __future__ import annotations

import pytest
import torch

from eblearn.data import grid_patches, jigsaw, shuffle_patches


def test_grid_patches_are_the_image_cut_row_by_row():
    images = torch.randn(2, 3, 10, 11)
    patches = grid_patches(images, grid=3)
    assert patches.shape == (2, 9, 3, 3, 3)
    for r in range(3):
        for c in range(3):
            want = images[:, :, 3 * r : 3 * r + 3, 3 * c : 3 * c + 3]
            torch.testing.assert_close(patches[:, 3 * r + c], want)


def test_each_image_gets_its_own_permutation_of_its_own_patches():
    images = torch.randn(16, 1, 9, 9)
    cells = grid_patches(images, 3)
    shuffled = jigsaw(images, 3, generator=torch.Generator().manual_seed(0))
    orders = []
    for b in range(16):
        # every shuffled patch is one of the image's own cells, each used once
        match = (shuffled[b].flatten(1)[:, None] == cells[b].flatten(1)[None]).all(-1)
        assert match.sum(1).eq(1).all() and match.sum(0).eq(1).all()
        orders.append(tuple(match.float().argmax(1).tolist()))
    assert len(set(orders)) > 1  # not one permutation for the whole batch


def test_shuffle_patches_keeps_every_element():
    patches = torch.arange(24.0).view(4, 6)
    out = shuffle_patches(patches, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out.sort(1).values, patches)


def test_images_too_small_for_the_grid_are_refused_with_the_size_that_fits():
    with pytest.raises(
        ValueError,
        match=r"8×8 images into 2×2 patches, smaller than 4 px; "
        r"use views of at least 12 px",
    ):
        grid_patches(torch.zeros(1, 1, 8, 8), grid=3, min_patch=4)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        grid_patches(torch.zeros(8, 8))
