"""In-memory image sets: the one format every dataset is turned into.

Images are kept as ``uint8`` tensors of shape ``(N, C, H, W)`` so that a whole data set can sit
on the training device and be augmented there in batches (see :mod:`eblearn.data.augment`):
data loading is then an index lookup, never the bottleneck on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from eblearn._validate import check_finite

UNLABELED = -1
"""Label of an image without a class (for example STL-10's unlabeled split)."""


def to_uint8_images(array: object, what: str) -> Tensor:
    """Converts images to a ``uint8`` tensor of shape ``(N, C, H, W)``.

    Accepts ``(N, H, W)`` (one channel), ``(N, H, W, C)`` (channels last, C in 1, 3, 4) or
    ``(N, C, H, W)``; integer values in [0, 255] or floats in [0, 1] or [0, 255].

    Raises:
        ValueError: On an empty set, a wrong number of dimensions, NaN or Inf, or values
            outside the ranges above.
    """
    images = torch.as_tensor(array)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{what} must have shape (N, H, W), (N, H, W, C) or (N, C, H, W), "
            f"got shape {tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{what} is empty: it holds 0 images")
    if images.ndim == 3:
        images = images[:, None]
    elif images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.permute(0, 3, 1, 2)
    if images.is_floating_point():
        check_finite(images, what)
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 255:
            raise ValueError(f"{what} values must lie in [0, 1] or [0, 255], got [{low}, {high}]")
        scale = 255.0 if high <= 1.0 else 1.0
        images = (images * scale).round().to(torch.uint8)
    elif images.dtype != torch.uint8:
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > 255:
            raise ValueError(f"{what} values must lie in [0, 255], got [{low}, {high}]")
        images = images.to(torch.uint8)
    return images.contiguous()


@dataclass(frozen=True)
class ImageSet:
    """Images with their labels, all in memory.

    Attributes:
        images: ``uint8`` tensor of shape ``(N, C, H, W)``.
        labels: ``int64`` tensor of shape ``(N,)``; :data:`UNLABELED` (-1) where unknown.
        classes: Class names, indexed by label.
    """

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                "ImageSet.images must be a uint8 tensor of shape (N, C, H, W), got "
                f"{self.images.dtype} of shape {tuple(self.images.shape)}; "
                "convert with to_uint8_images"
            )
        if len(self.images) == 0:
            raise ValueError("ImageSet is empty: it holds 0 images")
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"ImageSet.labels must have shape ({len(self.images)},), "
                f"got {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        """Number of channels C."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        """Side of the images (the larger of H and W)."""
        return int(max(self.images.shape[2:]))

    def subset(self, index: Tensor) -> ImageSet:
        """The images at ``index`` (a tensor of indices or a boolean mask)."""
        return ImageSet(self.images[index], self.labels[index], self.classes)

    def as_float(self) -> Tensor:
        """The images as ``float32`` in [0, 1], shape ``(N, C, H, W)``."""
        return self.images.float().div_(255.0)


@dataclass(frozen=True)
class DatasetSplits:
    """A data set ready for pretraining and evaluation.

    Attributes:
        name: How the data set was asked for (``"digits"``, ``"npz:/path/x.npz"``).
        train: Labeled training split: pretraining data and the probes' training set.
        test: Held-out split the probes are scored on.
        unlabeled: Extra images for pretraining only (STL-10's unlabeled split), or ``None``.
        mean: Per-channel mean of the training images in [0, 1].
        std: Per-channel standard deviation of the training images in [0, 1].
    """

    name: str
    train: ImageSet
    test: ImageSet
    unlabeled: ImageSet | None = None
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.train.images.shape[1:] != self.test.images.shape[1:]:
            raise ValueError(
                f"train and test images of {self.name!r} differ in shape: "
                f"{tuple(self.train.images.shape[1:])} vs {tuple(self.test.images.shape[1:])}"
            )
        if not self.mean:
            pixels = self.train.as_float().transpose(0, 1).flatten(1)  # (C, N*H*W)
            object.__setattr__(self, "mean", tuple(pixels.mean(1).tolist()))
            object.__setattr__(self, "std", tuple(pixels.std(1).clamp_min(1e-3).tolist()))

    @property
    def pretrain_images(self) -> Tensor:
        """All images used for self-supervised pretraining: train, then unlabeled."""
        if self.unlabeled is None:
            return self.train.images
        return torch.cat([self.train.images, self.unlabeled.images])

    @property
    def channels(self) -> int:
        return self.train.channels

    @property
    def image_size(self) -> int:
        return self.train.image_size

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)


def stratified_split(labels: Tensor, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices of a class-stratified train/test split, the same for the same seed.

    Each class contributes ``round(test_fraction * n_class)`` test samples (at least one when
    it has two or more samples).

    Returns:
        ``(train_index, test_index)``, each a sorted ``int64`` tensor.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    test_parts = []
    for label in torch.unique(labels):
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(test_fraction * len(members))
        n_test = min(max(n_test, 1 if len(members) > 1 else 0), len(members) - 1)
        test_parts.append(members[:n_test])
    test_mask = torch.zeros(len(labels), dtype=torch.bool)
    test_mask[torch.cat(test_parts)] = True
    return (~test_mask).nonzero().flatten(), test_mask.nonzero().flatten()
