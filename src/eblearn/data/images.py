"""In-memory image sets: the one format every dataset is turned into.

Images are kept as ``uint8`` tensors of shape ``(N, C, H, W)`` so that a whole data set can sit
on the training device and be augmented there in batches (see :mod:`eblearn.data.augment`):
data loading is then an index lookup, never the bottleneck on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from eblearn._validate import check_finite

if TYPE_CHECKING:
    from eblearn.data.streaming import StreamedImages

UNLABELED = -1
"""Label of an image without a class (for example STL-10's unlabeled split)."""


CHANNEL_COUNTS = (1, 3, 4)
"""Channel counts an image set may have: gray, RGB, RGBA."""

_EXPECTED_IMAGES = (
    "expected uint8 values in [0, 255] (or floats in [0, 1] or [0, 255]) "
    "of shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4"
)


def _as_numeric_array(array: object, what: str, expected: str) -> np.ndarray:
    """``array`` as a numpy array of booleans, integers or floats, or a ``ValueError``."""
    if isinstance(array, Tensor):
        if array.is_complex():
            raise ValueError(f"{what} holds complex numbers (dtype {array.dtype}); {expected}")
        tensor = array.detach().cpu()
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    try:
        values = np.asarray(array)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise ValueError(f"{what} cannot be read as one array ({error}); {expected}") from None
    if values.dtype.kind not in "biuf":
        kinds = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers"}
        described = kinds.get(values.dtype.kind, "values of another kind")
        raise ValueError(f"{what} holds {described} (dtype {values.dtype}); {expected}")
    return values


def to_uint8_images(array: object, what: str) -> Tensor:
    """Converts images to a ``uint8`` tensor of shape ``(N, C, H, W)``.

    Accepts ``(N, H, W)`` (one channel), ``(N, H, W, C)`` (channels last) or ``(N, C, H, W)``
    with ``C`` in 1, 3, 4; integer values in [0, 255] or floats in [0, 1] or [0, 255]
    (floats whose maximum is at most 1 are read as [0, 1] and multiplied by 255). When both
    layouts fit (``(N, 4, 4, 3)``: 4×4 RGB images, or 4-channel 4×3 ones), the reading with
    square images wins, channels-first when both are square.

    Args:
        array: Images as a numpy array, a tensor or nested lists.
        what: How to name the images in error messages (``"images in 'x.npz'"``).

    Returns:
        ``uint8`` tensor of shape ``(N, C, H, W)``.

    Raises:
        ValueError: On strings, complex numbers, booleans or objects; an empty set or
            empty images; a wrong number of dimensions or of channels; NaN or Inf; or
            values outside the ranges above.

    Example:
        >>> to_uint8_images(np.full((2, 4, 4, 3), 0.5), "x").shape
        torch.Size([2, 3, 4, 4])
    """
    values = _as_numeric_array(array, what, _EXPECTED_IMAGES)
    if values.dtype.kind == "b":
        raise ValueError(f"{what} are booleans; {_EXPECTED_IMAGES} (multiply binary images by 255)")
    if values.ndim not in (3, 4):
        raise ValueError(
            f"{what} must have shape (N, H, W), (N, H, W, C) or (N, C, H, W), "
            f"got shape {values.shape}"
        )
    if values.shape[0] == 0:
        raise ValueError(f"{what} is empty: it holds 0 images")
    if values.ndim == 3:
        values = values[:, None]
    elif _channels_last(values.shape):
        values = values.transpose(0, 3, 1, 2)
    elif values.shape[1] not in CHANNEL_COUNTS:
        raise ValueError(
            f"{what} have shape {values.shape}: neither (N, H, W, C) nor (N, C, H, W) "
            f"with C in 1, 3, 4; {_EXPECTED_IMAGES}"
        )
    if 0 in values.shape:
        raise ValueError(f"{what} have an empty side: shape (N, C, H, W) = {values.shape}")
    if values.dtype.kind == "f":
        check_finite(torch.as_tensor(values), what)
        images = torch.as_tensor(values, dtype=torch.float32)
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"{what} values must lie in [0, 1] or [0, 255], got [{low}, {high}]; "
                "rescale them first"
            )
        scale = 255.0 if high <= 1.0 else 1.0
        images = (images * scale).round().to(torch.uint8)
    elif values.dtype != np.uint8:
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 255:
            raise ValueError(
                f"{what} values must lie in [0, 255], got [{low}, {high}]; "
                "expected 8-bit images (divide 16-bit ones by 257)"
            )
        images = torch.from_numpy(np.ascontiguousarray(values, dtype=np.uint8))
    else:
        images = torch.from_numpy(np.ascontiguousarray(values))
    return images


def _channels_last(shape: tuple[int, ...]) -> bool:
    """Whether a 4-D image array of ``shape`` is ``(N, H, W, C)`` rather than ``(N, C, H, W)``."""
    last, first = shape[3] in CHANNEL_COUNTS, shape[1] in CHANNEL_COUNTS
    if last and first:  # ambiguous: the square reading wins, channels-first on a tie
        return shape[1] == shape[2] and shape[2] != shape[3]
    return last


LABELS_EXPECTED = (
    "expected integer class ids 0..K-1 (whole-number floats are accepted), "
    "or -1 (UNLABELED) for an image without a label"
)


def to_labels(array: object, what: str) -> Tensor:
    """Converts class labels to an ``int64`` tensor of shape ``(N,)``.

    Labels are class ids ``0..K-1``, or :data:`UNLABELED` (-1) for an image without a class.
    Integers, booleans and floats holding whole numbers (``1.0``) are accepted, in shape
    ``(N,)`` or ``(N, 1)``.

    Args:
        array: Labels as a numpy array, a tensor or a list.
        what: How to name the labels in error messages (``"labels in 'x.npz'"``).

    Returns:
        ``int64`` tensor of shape ``(N,)``.

    Raises:
        ValueError: On strings, complex numbers or objects, a shape other than ``(N,)`` or
            ``(N, 1)``, NaN or Inf, fractional values (1.5) or values below -1.

    Example:
        >>> to_labels(np.array([0.0, 2.0, -1.0]), "y")
        tensor([ 0,  2, -1])
    """
    values = _as_numeric_array(array, what, LABELS_EXPECTED)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{what} must have shape (N,) or (N, 1), got shape {values.shape}")
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{what} hold {int(bad.sum())} NaN or Inf value(s) (first at index {index}); "
                f"{LABELS_EXPECTED}"
            )
        fractional = values != np.round(values)
        if fractional.any():
            index = int(np.flatnonzero(fractional)[0])
            raise ValueError(
                f"{what} hold {int(fractional.sum())} value(s) with a fractional part "
                f"(first: {values[index].item()!r} at index {index}); {LABELS_EXPECTED}"
            )
    if len(values) and values.dtype.kind != "b":
        below = values < UNLABELED
        if below.any():
            index = int(np.flatnonzero(below)[0])
            raise ValueError(
                f"{what} hold {int(below.sum())} value(s) below {UNLABELED} "
                f"(first: {values[index].item()!r} at index {index}); {LABELS_EXPECTED}"
            )
        if values.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{what} reach {values.max().item()!r}; {LABELS_EXPECTED}")
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64))


@dataclass(frozen=True)
class ImageSet:
    """Images with their labels, all in memory.

    An empty set (``N = 0``, with its ``C, H, W``) stands for a split a data set does not
    have: the labeled train and test splits of an unlabeled data set (see
    :meth:`DatasetSplits.unlabeled_only`).

    Attributes:
        images: ``uint8`` tensor of shape ``(N, C, H, W)``.
        labels: ``int64`` tensor of shape ``(N,)``; :data:`UNLABELED` (-1) where unknown.
        classes: Class names, indexed by label.
        paths: The file each image was read from, in the images' order (image folders and
            file lists), or ``()`` where the images have no files (arrays, named data sets).
    """

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...] = field(default=())
    paths: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                "ImageSet.images must be a uint8 tensor of shape (N, C, H, W), got "
                f"{self.images.dtype} of shape {tuple(self.images.shape)}; "
                "convert with to_uint8_images"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"ImageSet.labels must have shape ({len(self.images)},), "
                f"got {tuple(self.labels.shape)}"
            )
        if self.labels.dtype != torch.int64:
            raise ValueError(
                f"ImageSet.labels must be an int64 tensor, got {self.labels.dtype}; "
                "convert with to_labels"
            )
        if self.paths and len(self.paths) != len(self.images):
            raise ValueError(
                f"ImageSet.paths must name one file per image ({len(self.images)}), got "
                f"{len(self.paths)}; or be empty where the images have no files"
            )
        if len(self.labels) == 0:
            return
        low, high = int(self.labels.min()), int(self.labels.max())
        if low < UNLABELED or (self.classes and high >= len(self.classes)):
            ids = f"0..{len(self.classes) - 1} (one per class name)" if self.classes else "0..K-1"
            raise ValueError(
                f"ImageSet.labels lie in [{low}, {high}]; expected class ids {ids} "
                f"or {UNLABELED} for an image without a label"
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

    @property
    def has_labels(self) -> bool:
        """Whether at least one image has a label (is not :data:`UNLABELED`)."""
        return bool((self.labels != UNLABELED).any())

    def subset(self, index: Tensor) -> ImageSet:
        """The images at ``index`` (a tensor of indices or a boolean mask), with their files."""
        paths = ()
        if self.paths:
            kept = torch.arange(len(self.paths))[index].reshape(-1)
            paths = tuple(self.paths[i] for i in kept.tolist())
        return ImageSet(self.images[index], self.labels[index], self.classes, paths)

    def as_float(self) -> Tensor:
        """The images as ``float32`` in [0, 1], shape ``(N, C, H, W)``."""
        return self.images.float().div_(255.0)


@dataclass(frozen=True)
class DatasetSplits:
    """A data set ready for pretraining and evaluation.

    A data set without labels (a flat folder, a file list, an ``.npz`` without ``labels``)
    has empty ``train`` and ``test`` splits and all its images in ``unlabeled``
    (:meth:`unlabeled_only`): it can be pretrained on, and :attr:`has_labels` is false, so
    the probes are skipped (or run on another, labeled data set: ``--eval-data``).

    Attributes:
        name: How the data set was asked for (``"digits"``, ``"npz:/path/x.npz"``).
        train: Labeled training split: pretraining data and the probes' training set
            (empty for an unlabeled data set).
        test: Held-out split the probes are scored on (empty for an unlabeled data set).
        unlabeled: Extra images for pretraining only (STL-10's unlabeled split, or every
            image of an unlabeled data set), or ``None``.
        mean: Per-channel mean of the training images in [0, 1] (of the unlabeled images
            when there are no training images).
        std: Per-channel standard deviation of the same images in [0, 1].
        stream: For a streamed data set (``load_dataset(..., stream=True)``), every
            pretraining image as files decoded during training; ``unlabeled`` then holds
            only a sample of them, decoded up front (for ``mean``, ``std`` and figures).
    """

    name: str
    train: ImageSet
    test: ImageSet
    unlabeled: ImageSet | None = None
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())
    stream: StreamedImages | None = None

    def __post_init__(self) -> None:
        if self.train.images.shape[1:] != self.test.images.shape[1:]:
            raise ValueError(
                f"train and test images of {self.name!r} differ in shape: "
                f"{tuple(self.train.images.shape[1:])} vs {tuple(self.test.images.shape[1:])}"
            )
        if self.unlabeled is not None and (
            self.unlabeled.images.shape[1:] != self.train.images.shape[1:]
        ):
            raise ValueError(
                f"train and unlabeled images of {self.name!r} differ in shape: "
                f"{tuple(self.train.images.shape[1:])} vs "
                f"{tuple(self.unlabeled.images.shape[1:])}"
            )
        if len(self.pretrain_images) == 0:
            raise ValueError(f"data set {self.name!r} holds no images to pretrain on")
        for part, images in (("test", self.test), ("unlabeled", self.unlabeled)):
            if images is not None and images.classes and images.classes != self.train.classes:
                raise ValueError(
                    f"train and {part} splits of {self.name!r} name different classes: "
                    f"{_shown(self.train.classes)} vs {_shown(images.classes)}; "
                    "expected the same class names, in the same order"
                )
        if not self.mean:
            source = self.train if len(self.train) or self.unlabeled is None else self.unlabeled
            pixels = source.as_float().transpose(0, 1).flatten(1)  # (C, N*H*W)
            object.__setattr__(self, "mean", tuple(pixels.mean(1).tolist()))
            object.__setattr__(self, "std", tuple(pixels.std(1).clamp_min(1e-3).tolist()))

    @classmethod
    def unlabeled_only(cls, name: str, images: ImageSet) -> DatasetSplits:
        """A data set without labels: every image in ``unlabeled``, empty train and test.

        Example:
            >>> pictures = ImageSet(torch.zeros(5, 3, 8, 8, dtype=torch.uint8),
            ...                     torch.full((5,), UNLABELED))
            >>> splits = DatasetSplits.unlabeled_only("mine", pictures)
            >>> len(splits.train), len(splits.test), len(splits.pretrain_images)
            (0, 0, 5)
            >>> splits.has_labels, splits.channels, splits.image_size
            (False, 3, 8)
        """
        none = ImageSet(images.images[:0], images.labels[:0])
        unlabeled = ImageSet(
            images.images, torch.full_like(images.labels, UNLABELED), paths=images.paths
        )
        return cls(name, none, none, unlabeled)

    @property
    def has_labels(self) -> bool:
        """Whether the probes can run: both train and test hold labeled images."""
        return self.train.has_labels and self.test.has_labels

    modality = "images"
    """What the engine gathers: ``uint8`` images ``(N, C, H, W)`` (text: token windows)."""

    @property
    def pretrain_images(self) -> Tensor:
        """All images used for self-supervised pretraining: train, then unlabeled."""
        if self.unlabeled is None:
            return self.train.images
        return torch.cat([self.train.images, self.unlabeled.images])

    @property
    def pretrain_count(self) -> int:
        """Number of pretraining images: the whole stream's, or :attr:`pretrain_images`'."""
        return len(self.stream) if self.stream is not None else len(self.pretrain_images)

    @property
    def pretrain_inputs(self) -> Tensor:
        """What the engine gathers by index, the same name in every modality: the images."""
        return self.pretrain_images

    @property
    def pretrain_labels(self) -> Tensor:
        """Labels of :attr:`pretrain_inputs` for the online probe, -1 where unknown."""
        if self.unlabeled is None:
            return self.train.labels
        return torch.cat([self.train.labels, self.unlabeled.labels])

    @property
    def channels(self) -> int:
        return self.train.channels

    @property
    def image_size(self) -> int:
        return self.train.image_size

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)


def _shown(names: tuple[str, ...], most: int = 5) -> str:
    """Class names for a message: the first ``most`` and how many in all."""
    head = ", ".join(repr(n) for n in names[:most])
    return f"({head}{', ...' if len(names) > most else ''}; {len(names)} in all)"


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
