"""Data sets on disk: ``npz:PATH`` arrays and ``imagefolder:PATH`` trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eblearn.data.images import (
    UNLABELED,
    DatasetSplits,
    ImageSet,
    stratified_split,
    to_uint8_images,
)
from eblearn.data.registry import DATASETS, DatasetRequest

FILE_TEST_FRACTION = 0.2
FILE_SPLIT_SEED = 0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _existing_path(argument: str | None, kind: str) -> Path:
    path = Path(argument or "").expanduser()
    if not path.exists():
        raise ValueError(f"{kind} path {str(path)!r} does not exist")
    return path


def _split_when_single(images: ImageSet, name: str) -> tuple[ImageSet, ImageSet]:
    labeled = images.labels != UNLABELED
    if not bool(labeled.all()):
        raise ValueError(f"{name}: a single file needs a label for every image to be split")
    train_index, test_index = stratified_split(images.labels, FILE_TEST_FRACTION, FILE_SPLIT_SEED)
    if len(test_index) == 0:
        raise ValueError(f"{name}: too few images to hold out a test split")
    return images.subset(train_index), images.subset(test_index)


def read_npz(path: Path) -> ImageSet:
    """Reads ``images`` (uint8 ``N×H×W×C`` or ``N×H×W``), ``labels`` and optional ``classes``.

    Raises:
        ValueError: If a key is missing, the set is empty, values are NaN/Inf or out of range.
    """
    with np.load(path, allow_pickle=False) as arrays:
        if "images" not in arrays:
            raise ValueError(
                f"{str(path)!r} has no 'images' array (found: {', '.join(arrays.files)}); "
                "expected 'images' (uint8 N×H×W×C) and 'labels'"
            )
        images = to_uint8_images(arrays["images"], f"images in {str(path)!r}")
        if "labels" in arrays:
            labels = torch.as_tensor(np.asarray(arrays["labels"]), dtype=torch.int64).flatten()
        else:
            labels = torch.full((len(images),), UNLABELED, dtype=torch.int64)
        if "classes" in arrays:
            classes = tuple(str(c) for c in arrays["classes"])
        else:
            known = labels[labels != UNLABELED]
            classes = tuple(str(c) for c in range(int(known.max()) + 1)) if len(known) else ()
    if len(labels) != len(images):
        raise ValueError(f"{str(path)!r} holds {len(images)} images but {len(labels)} labels")
    return ImageSet(images, labels, classes)


@DATASETS.register("npz")
def load_npz(request: DatasetRequest) -> DatasetSplits:
    """Arrays in ``.npz`` files: one file (split 80/20 by class) or a folder with train/test.npz."""
    path = _existing_path(request.argument, "npz")
    name = f"npz:{request.argument}"
    if path.is_dir():
        missing = [f for f in ("train.npz", "test.npz") if not (path / f).exists()]
        if missing:
            raise ValueError(
                f"npz folder {str(path)!r} lacks {', '.join(missing)}; "
                "give a folder with train.npz and test.npz, or one .npz file"
            )
        return DatasetSplits(name, read_npz(path / "train.npz"), read_npz(path / "test.npz"))
    train, test = _split_when_single(read_npz(path), name)
    return DatasetSplits(name, train, test)


def _read_folder_tree(root: Path, classes: tuple[str, ...], size: int | None) -> ImageSet:
    from PIL import Image

    paths, labels = [], []
    for label, cls in enumerate(classes):
        found = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += found
        labels += [label] * len(found)
    if not paths:
        raise ValueError(f"image folder {str(root)!r} is empty: no image files under it")
    pictures = []
    for p in paths:
        with Image.open(p) as opened:
            picture = opened.convert("RGB")
        if size is None:
            size = min(picture.size)
        if picture.size != (size, size):
            picture = _resize_center_crop(picture, size)
        pictures.append(np.asarray(picture))
    images = to_uint8_images(np.stack(pictures), f"images under {str(root)!r}")
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes)


def _resize_center_crop(picture, size: int):  # type: ignore[no-untyped-def]
    """Resizes the shorter side to ``size``, then crops the center square."""
    width, height = picture.size
    scale = size / min(width, height)
    picture = picture.resize((max(size, round(width * scale)), max(size, round(height * scale))))
    width, height = picture.size
    left, top = (width - size) // 2, (height - size) // 2
    return picture.crop((left, top, left + size, top + size))


def _class_names(root: Path) -> tuple[str, ...]:
    names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    if not names:
        raise ValueError(
            f"image folder {str(root)!r} has no class subfolders; "
            "expected ROOT/<class>/<image> (or ROOT/train/<class>/... and ROOT/test/...)"
        )
    return names


@DATASETS.register("imagefolder")
def load_image_folder(request: DatasetRequest) -> DatasetSplits:
    """An ``ImageFolder`` tree (``ROOT/<class>/*.jpg``, or ``ROOT/train`` + ``ROOT/test``).

    Images are resized so that their shorter side is ``image_size`` (default: the first
    image's shorter side), then center-cropped to a square. Without train/test folders,
    20% of each class is held out as the test split.
    """
    root = _existing_path(request.argument, "imagefolder")
    name = f"imagefolder:{request.argument}"
    test_root = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if (root / "train").is_dir() and test_root is not None:
        classes = _class_names(root / "train")
        train = _read_folder_tree(root / "train", classes, request.image_size)
        test = _read_folder_tree(test_root, classes, train.image_size)
        return DatasetSplits(name, train, test)
    train, test = _split_when_single(
        _read_folder_tree(root, _class_names(root), request.image_size), name
    )
    return DatasetSplits(name, train, test)
