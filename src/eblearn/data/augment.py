"""Multi-view augmentations computed on batched tensors, on the training device.

Each view is drawn in two steps, as torchvision's v2 transforms do: random parameters are
drawn once per sample (``_get_params``), then applied to the whole batch at once. Every
geometric change of a view (random resized crop, flip, rotation, shear, translation) is one
affine map, so a view costs a single ``grid_sample`` whatever its recipe; photometric changes
are per-sample tensor arithmetic. Nothing runs per image in Python, so a GPU augments a batch
of 1,024 CIFAR images in about a millisecond and data loading stays off the critical path.

The recipes follow SimCLR [0] and BYOL [1]; color operations are skipped on one-channel data
and blur is skipped below 64 pixels, as SimCLR does for CIFAR.

[0] Chen et al., A Simple Framework for Contrastive Learning of Visual Representations, 2020,
    https://arxiv.org/abs/2002.05709
[1] Grill et al., Bootstrap Your Own Latent, 2020, https://arxiv.org/abs/2006.07733
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.registry import Registry

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R 601 luma weights, as torchvision's ``rgb_to_grayscale``."""


@dataclass(frozen=True)
class ViewRecipe:
    """How one view of an image is drawn. Probabilities are per sample.

    Attributes:
        size: Side of the output view in pixels.
        crop_scale: Range of the crop's area as a fraction of the image's; above 1 zooms out.
        crop_ratio: Range of the crop's aspect ratio (width / height), drawn log-uniformly.
        rotation: Largest rotation in degrees (drawn in ``[-rotation, rotation]``).
        shear: Largest horizontal shear in degrees.
        translate: Largest shift of the crop center as a fraction of the image side.
        flip: Probability of a horizontal flip.
        jitter: Probability of color jitter (brightness, contrast, saturation, hue).
        brightness, contrast, saturation: Jitter strengths; factors lie in ``[1-s, 1+s]``.
        hue: Largest hue shift, as a fraction of the color wheel (at most 0.5).
        grayscale: Probability of turning the view gray.
        blur: Probability of a Gaussian blur with sigma in ``blur_sigma``.
        solarize: Probability of inverting the pixels above 0.5.
        erase: Probability of erasing a rectangle whose area fraction lies in ``erase_scale``.
    """

    size: int
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    rotation: float = 0.0
    shear: float = 0.0
    translate: float = 0.0
    flip: float = 0.5
    jitter: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale: float = 0.2
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize: float = 0.0
    erase: float = 0.0
    erase_scale: tuple[float, float] = (0.02, 0.33)
    erase_ratio: tuple[float, float] = (0.3, 3.3)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"ViewRecipe.size must be >= 1, got {self.size}")
        for name in ("flip", "jitter", "grayscale", "blur", "solarize", "erase"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ViewRecipe.{name} is a probability in [0, 1], got {value}")
        for name in ("crop_scale", "crop_ratio", "blur_sigma", "erase_scale", "erase_ratio"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"ViewRecipe.{name} must satisfy 0 < low <= high, got {low, high}")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"ViewRecipe.hue must lie in [0, 0.5], got {self.hue}")


def _uniform(
    n: int, low: float, high: float, device: torch.device, generator: torch.Generator | None
) -> Tensor:
    return torch.rand(n, device=device, generator=generator) * (high - low) + low


def _coin(n: int, p: float, device: torch.device, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, device=device, generator=generator) < p


def _log_uniform(
    n: int, bounds: tuple[float, float], device: torch.device, generator: torch.Generator | None
) -> Tensor:
    return _uniform(n, math.log(bounds[0]), math.log(bounds[1]), device, generator).exp()


def affine_params(
    n: int, recipe: ViewRecipe, device: torch.device, generator: torch.Generator | None = None
) -> Tensor:
    """Draws one affine map per sample, from output to input normalized coordinates.

    The map sends an output point ``p`` in ``[-1, 1]²`` to ``A p + c`` in the input, with
    ``A = R(angle) · Shear(s) · diag(±w, h)``: a crop of width ``w`` and height ``h`` (fractions
    of the side, from ``crop_scale`` and ``crop_ratio``), flipped with probability ``flip``,
    then rotated and sheared, centered at ``c``.

    Returns:
        Tensor of shape ``(n, 2, 3)``, as ``torch.nn.functional.affine_grid`` takes.
    """
    area = _uniform(n, *recipe.crop_scale, device, generator)
    ratio = _log_uniform(n, recipe.crop_ratio, device, generator)
    width = (area * ratio).sqrt().clamp(max=max(1.0, recipe.crop_scale[1] ** 0.5))
    height = (area / ratio).sqrt().clamp(max=max(1.0, recipe.crop_scale[1] ** 0.5))
    # Centers keep a crop inside the image (or the image inside a zoomed-out crop).
    center = torch.stack([(1 - width).abs(), (1 - height).abs()], 1)  # (n, 2)
    center = center * (2 * torch.rand(n, 2, device=device, generator=generator) - 1)
    center = center + 2 * recipe.translate * (
        2 * torch.rand(n, 2, device=device, generator=generator) - 1
    )
    flip = torch.where(_coin(n, recipe.flip, device, generator), -1.0, 1.0)
    angle = torch.deg2rad(_uniform(n, -recipe.rotation, recipe.rotation, device, generator))
    shear = torch.tan(torch.deg2rad(_uniform(n, -recipe.shear, recipe.shear, device, generator)))
    cos, sin = angle.cos(), angle.sin()
    # A = R · Shear · diag(flip·w, h), written out entry by entry.
    theta = torch.empty(n, 2, 3, device=device)
    theta[:, 0, 0] = cos * flip * width
    theta[:, 0, 1] = (cos * shear - sin) * height
    theta[:, 1, 0] = sin * flip * width
    theta[:, 1, 1] = (sin * shear + cos) * height
    theta[:, :, 2] = center
    return theta


def warp(images: Tensor, theta: Tensor, size: int) -> Tensor:
    """Samples ``(B, C, size, size)`` views of ``images`` through the affine maps ``theta``."""
    grid = F.affine_grid(theta, [len(images), images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def grayscale(images: Tensor) -> Tensor:
    """Luma of ``(B, 3, H, W)`` images as ``(B, 1, H, W)``; one-channel images unchanged."""
    if images.shape[1] == 1:
        return images
    weights = images.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] to HSV with hue in [0, 1)."""
    high, argmax = rgb.max(1)
    low = rgb.min(1).values
    delta = high - low
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    r, g, b = rgb.unbind(1)
    hue = torch.where(
        argmax == 0,
        ((g - b) / safe) % 6,
        torch.where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue)) % 1.0
    saturation = torch.where(high > 0, delta / torch.where(high > 0, high, 1.0), 0.0)
    return torch.stack([hue, saturation, high], 1)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_hsv`, branch-free.

    Channel ``n`` (5 for red, 3 for green, 1 for blue) is ``v - v·s·clamp(min(k, 4 - k), 0, 1)``
    with ``k = (n + 6·hue) mod 6``.
    """
    hue, saturation, value = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    n = hsv.new_tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1)
    k = (n + 6 * hue) % 6
    return value - value * saturation * torch.minimum(k, 4 - k).clamp(0, 1)


def color_jitter(
    images: Tensor, recipe: ViewRecipe, generator: torch.Generator | None = None
) -> Tensor:
    """Brightness, contrast, then (RGB only) saturation and hue, with per-sample factors.

    torchvision draws the order of the four operations at random; here it is fixed.
    """
    n, device = len(images), images.device

    def factors(strength: float) -> Tensor:
        return _uniform(n, max(0.0, 1 - strength), 1 + strength, device, generator).view(n, 1, 1, 1)

    out = (images * factors(recipe.brightness)).clamp(0, 1)
    mean = grayscale(out).mean((2, 3), keepdim=True)
    out = ((out - mean) * factors(recipe.contrast) + mean).clamp(0, 1)
    if images.shape[1] == 3:
        gray = grayscale(out)
        out = ((out - gray) * factors(recipe.saturation) + gray).clamp(0, 1)
        if recipe.hue > 0:
            hsv = rgb_to_hsv(out)
            shift = _uniform(n, -recipe.hue, recipe.hue, device, generator).view(n, 1, 1)
            hsv = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
            out = hsv_to_rgb(hsv)
    return out


def gaussian_blur(images: Tensor, sigma: Tensor) -> Tensor:
    """Blurs each image with its own ``sigma`` (shape ``(B,)``), kernel side ~10% of the image.

    A separable depthwise convolution over ``B·C`` groups, with reflected borders.
    """
    n, channels, height, width = images.shape
    radius = max(1, round(0.05 * max(height, width)))
    radius = min(radius, height - 1, width - 1)
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))  # (B, k)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, 0)  # (B*C, k)
    side = 2 * radius + 1
    flat = images.reshape(1, n * channels, height, width)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(-1, 1, side, 1), groups=n * channels)
    flat = F.conv2d(flat, kernel.view(-1, 1, 1, side), groups=n * channels)
    return flat.view(n, channels, height, width)


def erase_rectangles(
    images: Tensor, recipe: ViewRecipe, generator: torch.Generator | None = None
) -> Tensor:
    """Sets one random rectangle per image to 0 (random erasing, Zhong et al. 2017)."""
    n, _, height, width = images.shape
    device = images.device
    area = _uniform(n, *recipe.erase_scale, device, generator)
    ratio = _log_uniform(n, recipe.erase_ratio, device, generator)
    box_h = ((area / ratio).sqrt() * height).clamp(max=height)
    box_w = ((area * ratio).sqrt() * width).clamp(max=width)
    top = torch.rand(n, device=device, generator=generator) * (height - box_h)
    left = torch.rand(n, device=device, generator=generator) * (width - box_w)
    rows = torch.arange(height, device=device).view(1, height, 1) + 0.5
    cols = torch.arange(width, device=device).view(1, 1, width) + 0.5
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + box_h).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + box_w).view(n, 1, 1))
    )  # (B, H, W)
    return images.masked_fill(inside[:, None], 0.0)


def _on_some(
    images: Tensor,
    p: float,
    operation: Callable[[Tensor], Tensor],
    generator: torch.Generator | None,
) -> Tensor:
    """Applies ``operation`` to the images picked with probability ``p`` each."""
    if p <= 0.0:
        return images
    chosen = _coin(len(images), p, images.device, generator).nonzero().flatten()
    if len(chosen) == 0:
        return images
    out = images.clone()
    out[chosen] = operation(images[chosen])
    return out


def augment_view(
    images: Tensor, recipe: ViewRecipe, generator: torch.Generator | None = None
) -> Tensor:
    """Draws one view of each image.

    Args:
        images: Float tensor of shape ``(B, C, H, W)`` in [0, 1], C = 1 or 3.
        recipe: The view's recipe.
        generator: Random generator on the images' device, or ``None`` for the global one.

    Returns:
        Tensor of shape ``(B, C, recipe.size, recipe.size)`` in [0, 1], not normalized.
    """
    device = images.device
    out = warp(images, affine_params(len(images), recipe, device, generator), recipe.size)
    out = _on_some(out, recipe.jitter, lambda x: color_jitter(x, recipe, generator), generator)
    if images.shape[1] == 3:
        out = _on_some(out, recipe.grayscale, lambda x: grayscale(x).expand_as(x), generator)
    if recipe.blur > 0 and recipe.size >= BLUR_MIN_SIZE:

        def blur(x: Tensor) -> Tensor:
            return gaussian_blur(x, _uniform(len(x), *recipe.blur_sigma, device, generator))

        out = _on_some(out, recipe.blur, blur, generator)
    out = _on_some(out, recipe.solarize, lambda x: torch.where(x >= 0.5, 1 - x, x), generator)
    return _on_some(out, recipe.erase, lambda x: erase_rectangles(x, recipe, generator), generator)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` with the statistics kept as (unsaved) buffers."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        return (images - self.mean) / self.std


def to_unit_float(images: Tensor) -> Tensor:
    """``uint8`` images to float in [0, 1]; float images are returned unchanged."""
    return images.float().div(255.0) if images.dtype == torch.uint8 else images


class MultiViewAugment(nn.Module):
    """Turns a batch of images into several augmented, normalized views.

    Args:
        views: One recipe per view (two for most methods; 2 large + N small for multi-crop).
        mean: Per-channel mean used to normalize, in [0, 1].
        std: Per-channel standard deviation used to normalize.

    Example:
        >>> augment = MultiViewAugment(simclr_views(16, 3), mean=(0.5,) * 3, std=(0.25,) * 3)
        >>> views = augment(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))
        >>> [tuple(v.shape) for v in views]
        [(4, 3, 16, 16), (4, 3, 16, 16)]
    """

    def __init__(
        self, views: Sequence[ViewRecipe], mean: Sequence[float], std: Sequence[float]
    ) -> None:
        super().__init__()
        if not views:
            raise ValueError("MultiViewAugment needs at least one view recipe")
        if len(mean) != len(std):
            raise ValueError(f"mean and std differ in length: {len(mean)} vs {len(std)}")
        self.views = tuple(views)
        self.normalize = Normalize(mean, std)

    def forward(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        """Args: images: ``uint8`` or [0, 1] float tensor of shape ``(B, C, H, W)``.

        Returns: one tensor of shape ``(B, C, size, size)`` per view recipe.
        """
        if images.ndim != 4 or images.shape[1] != self.normalize.mean.shape[1]:
            raise ValueError(
                f"images must have shape (B, {self.normalize.mean.shape[1]}, H, W), "
                f"got {tuple(images.shape)}"
            )
        unit = to_unit_float(images)
        return [self.normalize(augment_view(unit, recipe, generator)) for recipe in self.views]


class EvalTransform(nn.Module):
    """The deterministic transform for evaluation: resize to ``size``, then normalize."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.size = size
        self.normalize = Normalize(mean, std)

    def forward(self, images: Tensor) -> Tensor:
        unit = to_unit_float(images)
        if unit.shape[-2:] != (self.size, self.size):
            unit = F.interpolate(
                unit,
                size=(self.size, self.size),
                mode="bilinear",
                align_corners=False,
                antialias=unit.shape[-1] > self.size,
            )
        return self.normalize(unit)


BLUR_MIN_SIZE = 64
"""Views smaller than this are never blurred: at 32 px a blur of sigma up to 2 wipes out most of
the image (SimCLR's CIFAR-10 runs leave it out, Chen et al. 2020)."""

TUPLE_FIELDS = ("crop_scale", "crop_ratio", "blur_sigma", "erase_scale", "erase_ratio")
"""The :class:`ViewRecipe` fields that are ``(low, high)`` ranges."""


def view_recipe_options() -> list[str]:
    """The :class:`ViewRecipe` fields an ``--augmentation-arg`` may set (all but ``size``,
    which is the run's ``--image-size``)."""
    return [f.name for f in fields(ViewRecipe) if f.name != "size"]


def override_views(views: Sequence[ViewRecipe], overrides: Mapping[str, Any]) -> list[ViewRecipe]:
    """The views of a recipe with ``overrides`` set on every one of them.

    This is how a run changes the augmentation's strength without a new recipe: e.g.
    SimCLR's color-jitter strength ``s`` (Chen et al. 2020, appendix A) is ``brightness =
    contrast = saturation = 0.8·s`` and ``hue = 0.2·s`` (the ``simclr`` recipe is ``s = 0.5``),
    and ``crop_scale=[0.2, 1.0]`` makes crops less aggressive. Ranges are given as two-element
    lists (as YAML and ``KEY=[a,b]`` write them).

    Raises:
        ValueError: On an unknown field (listing the valid ones), a value of the wrong kind,
            a value :class:`ViewRecipe` refuses, or ``blur`` on views smaller than
            :data:`BLUR_MIN_SIZE`, where it would be ignored.
    """
    valid = view_recipe_options()
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown augmentation option(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        if name in TUPLE_FIELDS:
            if not (
                isinstance(value, (list, tuple))
                and len(value) == 2
                and all(_is_number(v) for v in value)
            ):
                raise ValueError(
                    f"augmentation option {name} is a range [low, high] of two numbers, "
                    f"got {value!r}"
                )
            values[name] = (float(value[0]), float(value[1]))
        elif _is_number(value):
            values[name] = float(value)
        else:
            raise ValueError(f"augmentation option {name} is a number, got {value!r}")
    small = [view.size for view in views if view.size < BLUR_MIN_SIZE]
    if values.get("blur", 0.0) > 0 and small:
        raise ValueError(
            f"augmentation option blur applies to views of at least {BLUR_MIN_SIZE} px, and "
            f"this run's are {small[0]} px; leave it out (or raise --image-size)"
        )
    try:
        return [replace(view, **values) for view in views]
    except ValueError as error:
        raise ValueError(f"augmentation options {dict(overrides)}: {error}") from None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


ViewPreset = Callable[[int, int], list[ViewRecipe]]

AUGMENTATIONS: Registry[ViewPreset] = Registry("augmentation")
"""Recipes by name: functions ``(size, channels) -> list[ViewRecipe]``."""


def _for_channels(recipe: ViewRecipe, channels: int) -> ViewRecipe:
    if channels == 1:
        return replace(recipe, saturation=0.0, hue=0.0, grayscale=0.0)
    return recipe


@AUGMENTATIONS.register("simclr")
def simclr_views(size: int, channels: int) -> list[ViewRecipe]:
    """SimCLR: crop 8-100% of the area, flip, strong color jitter, gray 20%, blur at ≥64 px."""
    recipe = ViewRecipe(
        size=size,
        jitter=0.8,
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.1,
        grayscale=0.2,
        blur=0.5,
    )
    return [_for_channels(recipe, channels)] * 2


@AUGMENTATIONS.register("byol")
def byol_views(size: int, channels: int) -> list[ViewRecipe]:
    """BYOL (and VICReg): asymmetric views; blur 100%/10%, solarize 0%/20%."""
    common = ViewRecipe(
        size=size, jitter=0.8, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, grayscale=0.2
    )
    first = replace(common, blur=1.0, solarize=0.0)
    second = replace(common, blur=0.1, solarize=0.2)
    return [_for_channels(first, channels), _for_channels(second, channels)]


@AUGMENTATIONS.register("digits")
def digit_views(size: int, channels: int) -> list[ViewRecipe]:
    """Handwriting: small affine warps (no flip), intensity changes and random erasing."""
    recipe = ViewRecipe(
        size=size,
        crop_scale=(0.72, 1.32),
        crop_ratio=(0.9, 1.1),
        rotation=15.0,
        shear=8.0,
        translate=0.075,
        flip=0.0,
        jitter=0.8,
        brightness=0.4,
        contrast=0.4,
        erase=0.5,
        erase_scale=(0.04, 0.25),
        erase_ratio=(0.5, 2.0),
    )
    return [_for_channels(recipe, channels)] * 2


def default_augmentation(channels: int) -> str:
    """The recipe used when none is named: ``digits`` for one channel, ``simclr`` for color."""
    return "digits" if channels == 1 else "simclr"


MULTICROP_SMALL_FRACTION = 96 / 224
"""Side of SwAV's small crops relative to the large ones (96 px beside 224 px)."""


def multicrop(
    large: ViewRecipe,
    num_small: int = 6,
    large_scale: tuple[float, float] = (0.14, 1.0),
    small_scale: tuple[float, float] = (0.05, 0.14),
    small_size: int | None = None,
) -> list[ViewRecipe]:
    """SwAV's multi-crop: 2 large views, then ``num_small`` small ones of a smaller area.

    Args:
        large: The recipe of the large views (its ``size`` is theirs).
        num_small: Number of small views N.
        large_scale, small_scale: Area ranges of the large and small crops (paper: 14-100% and
            5-14% of the image).
        small_size: Side of the small views; default ``96/224`` of the large side, at least 8.

    Returns:
        ``2 + num_small`` recipes, the large ones first.

    Example:
        >>> [r.size for r in multicrop(ViewRecipe(size=32), num_small=3)]
        [32, 32, 14, 14, 14]
    """
    if num_small < 0:
        raise ValueError(f"num_small must be >= 0, got {num_small}")
    side = small_size or max(8, round(large.size * MULTICROP_SMALL_FRACTION))
    big = replace(large, crop_scale=large_scale)
    small = replace(large, size=side, crop_scale=small_scale)
    return [big, big] + [small] * num_small


@AUGMENTATIONS.register("multicrop")
def multicrop_views(size: int, channels: int) -> list[ViewRecipe]:
    """SwAV multi-crop: 2 large + 6 small views (SimCLR colors; the digit warps on 1 channel)."""
    if channels == 1:
        large = digit_views(size, channels)[0]
        low, high = large.crop_scale
        return multicrop(large, 6, (low, high), (0.25 * low, 0.5 * low))
    return multicrop(simclr_views(size, channels)[0])
