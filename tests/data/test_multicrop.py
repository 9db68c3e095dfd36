"""SwAV's multi-crop view recipes."""

from __future__ import annotations

import pytest
import torch

from eblearn.data import AUGMENTATIONS, MultiViewAugment
from eblearn.data.augment import ViewRecipe, multicrop


def test_multicrop_gives_two_large_then_small_views_of_smaller_area():
    recipes = multicrop(ViewRecipe(size=224), num_small=4)
    assert [r.size for r in recipes] == [224, 224, 96, 96, 96, 96]
    assert recipes[0].crop_scale == (0.14, 1.0)
    assert all(r.crop_scale == (0.05, 0.14) for r in recipes[2:])


@pytest.mark.parametrize("channels", [1, 3])
def test_registered_multicrop_recipe_draws_eight_views(channels):
    recipes = AUGMENTATIONS.get("multicrop")(32, channels)
    augment = MultiViewAugment(recipes, mean=(0.5,) * channels, std=(0.25,) * channels)
    images = torch.randint(0, 256, (4, channels, 32, 32), dtype=torch.uint8)
    views = augment(images)
    assert [tuple(v.shape) for v in views] == [(4, channels, 32, 32)] * 2 + [
        (4, channels, 14, 14)
    ] * 6
    large, small = recipes[0].crop_scale, recipes[-1].crop_scale
    assert small[1] <= large[0]  # small crops cover less of the image than large ones


def test_multicrop_rejects_a_negative_count():
    with pytest.raises(ValueError, match="num_small must be >= 0"):
        multicrop(ViewRecipe(size=32), num_small=-1)
