import colorsys
import math

import pytest
import torch
import torch.nn.functional as F

from eblearn.data import AUGMENTATIONS, EvalTransform, MultiViewAugment, ViewRecipe, augment_view
from eblearn.data.augment import (
    affine_params,
    color_jitter,
    erase_rectangles,
    gaussian_blur,
    grayscale,
    hsv_to_rgb,
    rgb_to_hsv,
    warp,
)

IDENTITY = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale=0.0)


def test_identity_recipe_reproduces_the_image():
    images = torch.rand(3, 3, 8, 8)
    out = augment_view(images, ViewRecipe(size=8, **IDENTITY))
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_certain_flip_mirrors_the_image():
    images = torch.rand(2, 1, 6, 6)
    out = augment_view(images, ViewRecipe(size=6, **{**IDENTITY, "flip": 1.0}))
    torch.testing.assert_close(out, images.flip(-1), atol=1e-5, rtol=0)


def test_crop_of_a_quarter_zooms_into_a_corner_region():
    # A crop of area 1/4 (half the side) sampled at the image's resolution magnifies 2x.
    recipe = ViewRecipe(size=8, **{**IDENTITY, "crop_scale": (0.25, 0.25)})
    theta = affine_params(5, recipe, torch.device("cpu"))
    torch.testing.assert_close(theta[:, 0, 0].abs(), torch.full((5,), 0.5))
    torch.testing.assert_close(theta[:, 1, 1], torch.full((5,), 0.5))
    assert bool((theta[:, :, 2].abs() <= 0.5 + 1e-6).all())  # the crop stays inside


def test_each_sample_draws_its_own_parameters():
    images = torch.rand(1, 3, 16, 16).expand(64, -1, -1, -1).contiguous()
    out = augment_view(images, AUGMENTATIONS.get("simclr")(16, 3)[0])
    distinct = {round(float(v), 4) for v in out.mean((1, 2, 3))}
    assert len(distinct) > 50


def test_generator_makes_views_reproducible():
    images = torch.rand(8, 3, 16, 16)
    recipe = AUGMENTATIONS.get("byol")(16, 3)[1]
    first = augment_view(images, recipe, torch.Generator().manual_seed(1))
    second = augment_view(images, recipe, torch.Generator().manual_seed(1))
    torch.testing.assert_close(first, second)


def test_rgb_hsv_round_trip_matches_colorsys():
    rgb = torch.rand(4, 3, 5, 5)
    hsv = rgb_to_hsv(rgb)
    for b, i, j in [(0, 0, 0), (1, 2, 3), (3, 4, 4)]:
        expected = colorsys.rgb_to_hsv(*rgb[b, :, i, j].tolist())
        torch.testing.assert_close(hsv[b, :, i, j], torch.tensor(expected), atol=1e-5, rtol=0)
    torch.testing.assert_close(hsv_to_rgb(hsv), rgb, atol=1e-5, rtol=0)


def test_hue_shift_matches_colorsys():
    rgb = torch.rand(1, 3, 2, 2)
    recipe = ViewRecipe(size=2, brightness=0, contrast=0, saturation=0, hue=0.3)
    torch.manual_seed(5)
    out = color_jitter(rgb, recipe)
    torch.manual_seed(5)
    for _ in range(3):  # brightness, contrast, saturation factors are drawn first
        torch.rand(1)
    shift = float(torch.rand(1) * 0.6 - 0.3)
    h, s, v = colorsys.rgb_to_hsv(*rgb[0, :, 0, 0].tolist())
    expected = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor(expected), atol=1e-5, rtol=0)


def test_grayscale_uses_luma_weights():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert float(grayscale(rgb)) == pytest.approx(0.299)


def test_blur_matches_a_per_image_convolution():
    images = torch.rand(3, 2, 12, 12)
    sigma = torch.tensor([0.5, 1.0, 2.0])
    out = gaussian_blur(images, sigma)
    radius = 1  # 5% of 12 px, rounded
    for b in range(3):
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel_1d = torch.exp(-(offsets**2) / (2 * sigma[b] ** 2))
        kernel_1d = kernel_1d / kernel_1d.sum()
        kernel = (kernel_1d[:, None] * kernel_1d[None, :]).expand(2, 1, 3, 3)
        padded = F.pad(images[b : b + 1], (radius,) * 4, mode="reflect")
        expected = F.conv2d(padded, kernel, groups=2)
        torch.testing.assert_close(out[b : b + 1], expected, atol=1e-5, rtol=0)


def test_erasing_covers_the_requested_area():
    images = torch.ones(200, 1, 20, 20)
    recipe = ViewRecipe(size=20, erase=1.0, erase_scale=(0.1, 0.1), erase_ratio=(1.0, 1.0))
    erased = (erase_rectangles(images, recipe) == 0).float().mean((1, 2, 3))
    assert float(erased.mean()) == pytest.approx(0.1, abs=0.02)


def test_one_channel_views_skip_color_operations():
    recipe = AUGMENTATIONS.get("simclr")(16, 1)[0]
    assert recipe.saturation == recipe.hue == recipe.grayscale == 0.0
    views = MultiViewAugment(AUGMENTATIONS.get("digits")(16, 1), (0.3,), (0.4,))(
        torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    )
    assert [tuple(v.shape) for v in views] == [(4, 1, 16, 16)] * 2


def test_multi_view_normalizes_and_checks_channels():
    augment = MultiViewAugment([ViewRecipe(size=4, **IDENTITY)], mean=(0.5,), std=(0.25,))
    out = augment(torch.full((2, 1, 4, 4), 255, dtype=torch.uint8))[0]
    torch.testing.assert_close(out, torch.full((2, 1, 4, 4), 2.0))
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, H, W\)"):
        augment(torch.zeros(2, 3, 4, 4))


def test_recipe_validation():
    with pytest.raises(ValueError, match="flip is a probability"):
        ViewRecipe(size=8, flip=1.5)
    with pytest.raises(ValueError, match="crop_scale must satisfy"):
        ViewRecipe(size=8, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="size must be >= 1"):
        ViewRecipe(size=0)


def test_eval_transform_resizes_and_normalizes():
    transform = EvalTransform(16, (0.0,), (1.0,))
    out = transform(torch.full((2, 1, 8, 8), 255, dtype=torch.uint8))
    torch.testing.assert_close(out, torch.ones(2, 1, 16, 16))


def test_rotation_moves_pixels_as_the_angle_says():
    recipe = ViewRecipe(size=9, **{**IDENTITY, "rotation": 90.0})
    theta = affine_params(2000, recipe, torch.device("cpu"))
    angles = torch.atan2(theta[:, 1, 0], theta[:, 0, 0])
    assert float(angles.abs().max()) <= math.pi / 2 + 1e-5
    assert float(angles.abs().max()) > 1.4  # the whole range is used
    single = warp(torch.eye(9)[None, None], theta[:1], 9)
    assert single.shape == (1, 1, 9, 9)


# --- --augmentation-arg: fields set on every view of a recipe ----------------------------


def test_overrides_set_the_field_on_every_view_and_keep_the_rest():
    from eblearn.data.augment import override_views

    byol = AUGMENTATIONS.get("byol")(96, 3)
    changed = override_views(byol, {"brightness": 0.8, "crop_scale": [0.2, 1.0]})
    assert [v.brightness for v in changed] == [0.8, 0.8]
    assert [v.crop_scale for v in changed] == [(0.2, 1.0), (0.2, 1.0)]  # lists become ranges
    # what was not asked for stays as the recipe has it, asymmetry included
    assert [(v.blur, v.solarize) for v in changed] == [(v.blur, v.solarize) for v in byol]
    assert override_views(byol, {}) == byol


def test_overrides_reach_the_drawn_views():
    """A recipe with its randomness overridden away draws the image itself."""
    from eblearn.data.augment import override_views

    images = torch.rand(4, 3, 8, 8)
    simclr = AUGMENTATIONS.get("simclr")(8, 3)[0]
    overrides = {**IDENTITY, "jitter": 1.0, "brightness": 0, "contrast": 0, "saturation": 0}
    (still,) = override_views([simclr], {**overrides, "hue": 0})
    torch.testing.assert_close(augment_view(images, still), images, atol=1e-5, rtol=0)
    (bright,) = override_views([simclr], {**overrides, "hue": 0, "brightness": 0.9})
    assert (augment_view(images, bright) - images).abs().amax() > 0.05


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"colour": 1.0},
            r"unknown augmentation option\(s\) colour; valid: crop_scale, crop_ratio",
        ),
        ({"size": 16}, r"unknown augmentation option\(s\) size"),
        ({"brightness": "strong"}, "brightness is a number, got 'strong'"),
        ({"flip": True}, "flip is a number, got True"),
        ({"crop_scale": 0.2}, r"crop_scale is a range \[low, high\] of two numbers, got 0.2"),
        ({"crop_scale": [0.2, 1.0, 1.0]}, "crop_scale is a range"),
        ({"crop_scale": [0.9, 0.2]}, r"crop_scale must satisfy 0 < low <= high"),
        ({"jitter": 1.5}, r"jitter is a probability in \[0, 1\], got 1.5"),
        ({"hue": 0.7}, r"hue must lie in \[0, 0.5\]"),
        ({"blur": 0.5}, "blur applies to views of at least 64 px, and this run's are 32 px"),
    ],
)
def test_bad_overrides_are_named(overrides, message):
    from eblearn.data.augment import override_views

    with pytest.raises(ValueError, match=message):
        override_views(AUGMENTATIONS.get("simclr")(32, 3), overrides)


def test_blur_may_be_set_on_views_that_are_blurred():
    from eblearn.data.augment import override_views

    views = override_views(AUGMENTATIONS.get("simclr")(64, 3), {"blur": 1.0})
    assert [view.blur for view in views] == [1.0, 1.0]
