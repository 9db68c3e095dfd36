"""Data sets on disk: ``npz:PATH`` arrays, ``imagefolder:PATH`` trees, ``filelist:PATH`` lists.

Each may come without labels (an ``.npz`` without ``labels``, a folder without class
subfolders, any file list): such a data set is pretrained on and not probed (see
:meth:`~eblearn.data.images.DatasetSplits.unlabeled_only`).
"""

from __future__ import annotations

import random
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eblearn.data.decode import (
    IMAGE_SUFFIXES,
    Unusable,
    image_files,
    is_hidden,
    listed_files,
    open_rgb,
    square_pixels,
)
from eblearn.data.images import (
    UNLABELED,
    DatasetSplits,
    ImageSet,
    stratified_split,
    to_labels,
    to_uint8_images,
)
from eblearn.data.registry import DATASETS, DatasetRequest
from eblearn.data.streaming import StreamedImages
from eblearn.data.unreadable import Unreadable, name_files, report_unreadable

FILE_TEST_FRACTION = 0.2
FILE_SPLIT_SEED = 0
STREAM_SAMPLE = 512
"""Images of a streamed data set decoded up front: its mean and std, the precision probe and
the embedding figure of a run are computed on them."""


NPZ_EXPECTED = (
    "expected an .npz archive written by numpy.savez or numpy.savez_compressed, holding "
    "'images' (uint8 N×H×W×C), 'labels' (int class ids 0..K-1, -1 for unlabeled) and "
    "optionally 'classes' (K names)"
)


def _existing_path(argument: str | None, kind: str) -> Path:
    path = Path(argument or "").expanduser()
    if not path.exists():
        raise ValueError(f"{kind} path {str(path)!r} does not exist")
    return path


def split_when_single(images: ImageSet, name: str) -> DatasetSplits:
    """Holds out 20% of each class as the test split; an unlabeled set is kept whole."""
    if not images.has_labels:
        return DatasetSplits.unlabeled_only(name, images)
    missing = int((images.labels == UNLABELED).sum())
    if missing:
        raise ValueError(
            f"{name}: {missing} of {len(images)} images have no label ({UNLABELED}); a single "
            "file is split into train and test by class, so it needs a label for every image, "
            f"or for none (all {UNLABELED}, or no 'labels': pretrained on without probes)"
        )
    train_index, test_index = stratified_split(images.labels, FILE_TEST_FRACTION, FILE_SPLIT_SEED)
    if len(test_index) == 0:
        raise ValueError(f"{name}: too few images to hold out a test split")
    return DatasetSplits(name, images.subset(train_index), images.subset(test_index))


def _unreadable_npz(path: Path, reason: str) -> ValueError:
    return ValueError(f"{str(path)!r} is not a readable .npz archive: {reason}; {NPZ_EXPECTED}")


def _read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The ``images``, ``labels`` and ``classes`` arrays of an ``.npz`` file, as numpy arrays.

    Turns numpy's and zipfile's errors (a truncated archive, another format, pickled
    objects) into a ``ValueError`` naming the file.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError:  # numpy fell back to unpickling: neither a zip nor a .npy file
        raise _unreadable_npz(
            path, "it is neither a zip archive of arrays nor a .npy array"
        ) from None
    except EOFError:
        raise _unreadable_npz(path, "the file is empty") from None
    except (OSError, zipfile.BadZipFile) as error:
        raise _unreadable_npz(path, f"truncated or corrupt ({error})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise _unreadable_npz(path, f"it holds one .npy array of shape {loaded.shape}")
    arrays: dict[str, np.ndarray] = {}
    with loaded as archive:
        if "images" not in archive.files:
            raise ValueError(
                f"{str(path)!r} has no 'images' array (found: {', '.join(archive.files)}); "
                f"{NPZ_EXPECTED}"
            )
        for key in ("images", "labels", "classes"):
            if key not in archive.files:
                continue
            try:
                arrays[key] = archive[key]
            except ValueError as error:
                if "allow_pickle" in str(error):
                    raise ValueError(
                        f"{key!r} in {str(path)!r} is an object array (pickled Python "
                        f"objects), which eblearn does not unpickle; {NPZ_EXPECTED}"
                    ) from None
                raise _unreadable_npz(path, f"{key!r} is corrupt ({error})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise _unreadable_npz(path, f"{key!r} is truncated or corrupt ({error})") from None
    return arrays


def _read_npz(path: Path) -> tuple[Tensor, Tensor, tuple[str, ...] | None]:
    """Images ``(N, C, H, W)``, labels ``(N,)`` and class names (``None`` if absent)."""
    arrays = _read_npz_arrays(path)
    images = to_uint8_images(arrays["images"], f"'images' in {str(path)!r}")
    if "labels" in arrays:
        labels = to_labels(arrays["labels"], f"'labels' in {str(path)!r}")
    else:
        labels = torch.full((len(images),), UNLABELED, dtype=torch.int64)
    if len(labels) != len(images):
        raise ValueError(
            f"{str(path)!r} holds {len(images)} images but {len(labels)} labels; "
            f"expected one label per image ({UNLABELED} for an image without a label)"
        )
    classes = None
    if "classes" in arrays:
        names = arrays["classes"]
        if names.ndim != 1 or names.dtype.kind not in "USiu":
            raise ValueError(
                f"'classes' in {str(path)!r} has dtype {names.dtype} and shape {names.shape}; "
                "expected a 1-D array of K class names (strings), one per class id 0..K-1"
            )
        classes = tuple(str(c) for c in names)
        if len(set(classes)) != len(classes):
            twice = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(
                f"'classes' in {str(path)!r} repeats {', '.join(map(repr, twice))}; "
                "expected K distinct class names"
            )
    return images, labels, classes


def _npz_classes(
    parts: list[tuple[Path, Tensor, tuple[str, ...] | None]], name: str
) -> tuple[str, ...]:
    """The class names shared by the files of one ``npz:`` data set.

    ``K`` is the number of names in ``classes`` when a file has them, else the largest label
    plus one (names ``"0"..."K-1"``). Every label must be below ``K``, and ``K`` may not exceed
    the number of labeled images: sparse ids (``{0, 7, 1000000}``) would ask the probes for
    as many outputs as the largest id.
    """
    given = [(path, names) for path, _, names in parts if names is not None]
    for path, names in given[1:]:
        if names != given[0][1]:
            raise ValueError(
                f"{name}: 'classes' differ between {str(given[0][0])!r} {given[0][1]!r} "
                f"and {str(path)!r} {names!r}; expected the same names in every file"
            )
    labels = torch.cat([labels for _, labels, _ in parts])
    labeled = labels[labels != UNLABELED]
    top = int(labeled.max()) if len(labeled) else -1
    if given:
        classes = given[0][1]
        if top >= len(classes):
            raise ValueError(
                f"{name}: 'classes' in {str(given[0][0])!r} has {len(classes)} names but the "
                f"labels reach {top}; expected at least {top + 1} names, one per class id "
                f"0..{top}"
            )
    else:
        classes = tuple(str(c) for c in range(top + 1))
    if len(classes) > len(labeled):
        source = "'classes' names" if given else f"the largest label is {top}, so there are"
        raise ValueError(
            f"{name}: {source} {len(classes)} classes but only {len(labeled)} images are "
            "labeled; expected class ids 0..K-1 with K (the largest label + 1, or the "
            "number of names in 'classes') at most the number of labeled images: remap "
            "sparse ids to 0..K-1, e.g. with np.unique(labels, return_inverse=True)"
        )
    return classes


@DATASETS.register("npz")
def load_npz(request: DatasetRequest) -> DatasetSplits:
    """Arrays in ``.npz`` files: one file (split 80/20 by class) or a folder with train/test.npz.

    Without labels (no ``labels`` array, or -1 everywhere) a single file is kept whole for
    pretraining and the probes are skipped; in a folder where neither file has labels,
    ``train.npz`` is pretrained on and ``test.npz`` left out (with a warning).

    Each file holds ``images`` (``N×H×W×C``, ``N×H×W`` or ``N×C×H×W``; ``uint8``, or floats
    in [0, 1] or [0, 255]), optionally ``labels`` (``N`` class ids ``0..K-1``, -1 for an
    unlabeled image; whole-number floats are accepted) and ``classes`` (``K`` names; the
    same in both files of a folder). Without ``classes``, ``K`` is the largest label plus
    one. ``K`` may not exceed the number of labeled images (train and test together):
    remap sparse ids such as ``{3, 1000000}`` to ``0..K-1`` first.

    Raises:
        ValueError: Naming the file and what is wrong: a missing, truncated or non-npz file,
            a missing ``images`` array, object/string/complex arrays, images of a wrong
            shape or range, labels that are fractional, below -1, of a different count
            than the images or exceeding the rule above, too few class names.
    """
    path = _existing_path(request.argument, "npz")
    name = f"npz:{request.argument}"
    if path.is_dir():
        missing = [f for f in ("train.npz", "test.npz") if not (path / f).is_file()]
        if missing:
            raise ValueError(
                f"npz folder {str(path)!r} lacks {', '.join(missing)}; "
                "give a folder with train.npz and test.npz, or one .npz file"
            )
        paths = [path / "train.npz", path / "test.npz"]
        parts = [(p, *_read_npz(p)) for p in paths]
        train_labeled, test_labeled = (bool((part[2] != UNLABELED).any()) for part in parts)
        if not train_labeled and not test_labeled:
            warnings.warn(
                f"{name}: neither train.npz nor test.npz has labels; pretraining on "
                "train.npz only (test.npz is left out), without probes",
                UserWarning,
                stacklevel=2,
            )
            _, images, labels, _ = parts[0]
            return DatasetSplits.unlabeled_only(name, ImageSet(images, labels))
        if not train_labeled:
            raise ValueError(
                f"{name}: {str(paths[1])!r} has labels but {str(paths[0])!r} has none; the "
                "probes need labels in both; to pretrain without labels, leave them out of "
                "both files (or give one .npz file) and probe a labeled set with --eval-data"
            )
        classes = _npz_classes([(p, labels, names) for p, _, labels, names in parts], name)
        unseen = sorted(set(parts[1][2].tolist()) - set(parts[0][2].tolist()) - {UNLABELED})
        if unseen:
            raise ValueError(
                f"{name}: labels in {str(paths[1])!r} hold class id(s) "
                f"{', '.join(map(str, unseen[:5]))}{', ...' if len(unseen) > 5 else ''} "
                f"that no image of {str(paths[0])!r} has; expected every test class to occur "
                "in the training split"
            )
        train, test = (ImageSet(images, labels, classes) for _, images, labels, _ in parts)
        return DatasetSplits(name, train, test)
    images, labels, names = _read_npz(path)
    classes = _npz_classes([(path, labels, names)], name)
    return split_when_single(ImageSet(images, labels, classes), name)


@dataclass
class Decoded:
    """The images of a list of files that could be read, and those that could not."""

    total: int
    """How many files were tried."""
    pictures: list[Any] = field(default_factory=list)
    """RGB PIL images of the readable files, in order."""
    kept: list[int] = field(default_factory=list)
    """The position in the file list of each picture."""
    files: list[Path] = field(default_factory=list)
    """The file of each picture (``ImageSet.paths``)."""
    unreadable: list[Unreadable] = field(default_factory=list)


def decode_files(
    paths: list[Path], where: str, base: Path, opener: Callable[[Path], Any] = open_rgb
) -> Decoded:
    """Opens every file with ``opener`` (default: from disk), setting aside those that
    cannot be used.

    Raises:
        ValueError: If no file is readable, naming ``where`` (a folder or a list), the files
            and the accepted suffixes.
    """
    decoded = Decoded(len(paths))
    for index, path in enumerate(paths):
        try:
            decoded.pictures.append(opener(path))
        except Unusable as why:
            decoded.unreadable.append(Unreadable(path, str(why)))
        else:
            decoded.kept.append(index)
            decoded.files.append(path)
    if not decoded.pictures:
        raise ValueError(
            f"{where} holds no readable image: its {len(paths)} image file(s) cannot be read: "
            f"{name_files(decoded.unreadable, base)}; expected images "
            f"({', '.join(IMAGE_SUFFIXES)}) that PIL can decode"
        )
    return decoded


def file_names(paths: list[Path]) -> tuple[str, ...]:
    """The files as strings, in order (``ImageSet.paths``)."""
    return tuple(str(p) for p in paths)


def report_files(
    name: str,
    parts: list[Decoded],
    base: Path,
    strict: bool,
    also: Sequence[Unreadable] = (),
    total: int | None = None,
) -> None:
    """One warning (or, when ``strict``, one refusal) for the unreadable files of ``parts``
    and those in ``also`` (set aside before decoding), out of ``total`` (default: the files
    of ``parts`` and ``also``)."""
    unreadable = [u for part in parts for u in part.unreadable] + list(also)
    if total is None:
        total = sum(part.total for part in parts) + len(also)
    # the warning points at load_dataset's caller: _report <- loader <- load_dataset <- caller
    report_unreadable(name, unreadable, total, base, strict, stacklevel=4)


def pictures_tensor(pictures: list[Any], size: int | None, what: str) -> Tensor:
    """PIL images as ``uint8`` ``(N, 3, size, size)``, resized and center-cropped.

    ``size`` defaults to the first image's shorter side.
    """
    side = size if size is not None else min(pictures[0].size)
    return to_uint8_images(np.stack([square_pixels(p, side) for p in pictures]), what)


def _class_names(root: Path) -> tuple[str, ...]:
    names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not is_hidden(p, root)))
    if not names:
        raise ValueError(
            f"image folder {str(root)!r} has no class subfolders; "
            "expected ROOT/<class>/<image> (or ROOT/train/<class>/... and ROOT/test/...)"
        )
    return names


@dataclass
class _Tree:
    """The decoded images of ``ROOT/<class>/...``: labels by class folder, not yet checked."""

    root: Path
    classes: tuple[str, ...]
    decoded: Decoded
    labels: list[int]
    """The class id of every file found, readable or not."""

    @property
    def kept_labels(self) -> list[int]:
        """The class id of every readable image."""
        return [self.labels[i] for i in self.decoded.kept]

    def check_classes(self) -> None:
        """Raises ``ValueError`` naming the class folders without a readable image."""
        kept = set(self.kept_labels)
        empty = [c for k, c in enumerate(self.classes) if k not in kept]
        if empty:
            raise ValueError(
                f"class folder(s) {', '.join(repr(c) for c in empty)} under "
                f"{str(self.root)!r} hold no readable image files; expected at least one "
                f"image ({', '.join(IMAGE_SUFFIXES)}) that PIL can decode per class folder: "
                "fill or remove them"
            )

    def images(self, size: int | None) -> ImageSet:
        """The readable images, resized to ``size``, with their labels."""
        what = f"images under {str(self.root)!r}"
        images = pictures_tensor(self.decoded.pictures, size, what)
        labels = torch.tensor(self.kept_labels, dtype=torch.int64)
        return ImageSet(images, labels, self.classes, file_names(self.decoded.files))


def _decode_tree(root: Path, classes: tuple[str, ...]) -> _Tree:
    """Opens the images of every class folder under ``root``.

    Raises:
        ValueError: If ``root`` holds no image file, or none that can be read.
    """
    found = [image_files(root / cls) for cls in classes]
    paths = [p for files in found for p in files]
    labels = [label for label, files in enumerate(found) for _ in files]
    if not paths:
        raise ValueError(
            f"image folder {str(root)!r} is empty: no image files under it; expected "
            f"images ({', '.join(IMAGE_SUFFIXES)}) in ROOT/<class>/"
        )
    return _Tree(root, classes, decode_files(paths, f"image folder {str(root)!r}", root), labels)


def streamed_splits(
    name: str,
    files: list[Path],
    base: Path,
    request: DatasetRequest,
    opener: Callable[[Path], Any] = open_rgb,
    stream_of: Callable[[int], StreamedImages] | None = None,
) -> DatasetSplits:
    """Every file as a :class:`StreamedImages`, beside a decoded sample of them.

    The sample is the first file and up to ``STREAM_SAMPLE - 1`` others drawn with a fixed
    seed, so a run and its later evaluation compute the same ``mean`` and ``std``. Its
    unreadable files are reported now (or refused when ``request.strict``); the others are
    met during training (:class:`~eblearn.data.streaming.StreamedImages`). ``opener`` and
    ``stream_of`` (the stream at a given image size) read images that are not plain files
    (tar members: :mod:`eblearn.data.tar_shards`).
    """
    others = random.Random(FILE_SPLIT_SEED).sample(
        range(1, len(files)), min(STREAM_SAMPLE, len(files)) - 1
    )
    chosen = [files[i] for i in [0, *sorted(others)]]
    decoded = decode_files(chosen, name, base, opener)
    report_files(name, [decoded], base, request.strict)
    size = request.image_size or min(decoded.pictures[0].size)
    images = pictures_tensor(decoded.pictures, size, f"images of {name}")
    unlabeled = torch.full((len(images),), UNLABELED, dtype=torch.int64)
    sample = ImageSet(images, unlabeled, paths=file_names(decoded.files))
    splits = DatasetSplits.unlabeled_only(name, sample)
    stream = stream_of(size) if stream_of is not None else StreamedImages(files, size, name, base)
    return replace(splits, stream=stream)


FOLDER_LAYOUTS = (
    "expected images in ROOT (at any depth: unlabeled), ROOT/<class>/<image> (labeled by "
    "folder), or ROOT/train/<class>/... with ROOT/test/<class>/..."
)


def _folder_layout(root: Path, files: list[Path]) -> tuple[str, ...] | None:
    """The class names of a folder whose images all sit in ``ROOT/<class>/``, else ``None``.

    Images directly in ``root``, or deeper than one subfolder, make the folder unlabeled; a
    warning says so when some images do sit in class-like subfolders (a mixed layout).
    """
    depths: dict[int, Path] = {}
    for path in files:
        depths.setdefault(len(path.relative_to(root).parts), path)
    if set(depths) == {2}:
        return _class_names(root)
    if set(depths) != {1}:
        examples = ", ".join(
            repr(str(path.relative_to(root))) for _, path in sorted(depths.items())
        )
        warnings.warn(
            f"image folder {str(root)!r} is read as unlabeled: its images lie at different "
            f"depths ({examples}); to label them by class, put every image directly in "
            "ROOT/<class>/",
            UserWarning,
            stacklevel=3,
        )
    return None


@DATASETS.register("imagefolder")
def load_image_folder(request: DatasetRequest) -> DatasetSplits:
    """A folder of images: unlabeled (flat or nested), or labeled by class subfolders.

    Layouts:

    - ``ROOT/<class>/<image>`` (every image exactly one level below a subfolder): labeled by
      folder, as torchvision's ``ImageFolder``; 20% of each class is held out as the test
      split.
    - ``ROOT/train/<class>/...`` with ``ROOT/test/<class>/...`` (or ``ROOT/val``): labeled,
      split as given.
    - Anything else (images directly in ``ROOT``, in nested folders, or at mixed depths, the
      last with a warning): unlabeled, every image kept for pretraining and no probes (see
      :meth:`~eblearn.data.images.DatasetSplits.unlabeled_only`).

    Images are found at any depth, by suffix (``IMAGE_SUFFIXES``, any case: ``.JPG`` too);
    files and folders whose names start with '.' are skipped. Images are resized so that
    their shorter side is ``image_size`` (default: the first image's shorter side), then
    center-cropped to a square. Every image becomes RGB (gray, RGBA, palette and 1-bit
    images are converted; 16-bit gray is scaled by 1/257).

    A file that cannot be used (empty, not an image, truncated or corrupt, float or 32-bit
    pixels) is skipped, and one ``UserWarning`` counts the skipped files and names the first
    five (:mod:`eblearn.data.unreadable`); with ``request.strict`` they are refused instead.

    With ``request.stream`` every image file under the root, at any depth and whatever the
    layout, is kept on disk for pretraining, unlabeled (:class:`StreamedImages`); only
    ``STREAM_SAMPLE`` of them are decoded now, and the others during training.

    Raises:
        ValueError: Naming the path: the root is a file or holds no image (or no readable
            one), a class folder holds no readable image, ``train`` has no ``test``/``val``
            beside it (or the reverse), test classes are missing from train, or, when
            ``request.strict``, some image file cannot be used.
    """
    root = _existing_path(request.argument, "imagefolder")
    name = f"imagefolder:{request.argument}"
    if not root.is_dir():
        raise ValueError(
            f"imagefolder path {str(root)!r} must be a folder of images, got a file; "
            f"{FOLDER_LAYOUTS} (for a list of image files, use filelist:PATH)"
        )
    if request.stream:
        found = image_files(root)
        if not found:
            raise ValueError(
                f"image folder {str(root)!r} is empty: no image files under it "
                f"({', '.join(IMAGE_SUFFIXES)}, any case); {FOLDER_LAYOUTS}"
            )
        return streamed_splits(name, found, root, request)
    test_root = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if (root / "train").is_dir() != (test_root is not None):
        present = "train" if test_root is None else test_root.name
        raise ValueError(
            f"image folder {str(root)!r} has a {present!r} folder but no "
            f"{'test or val' if test_root is None else 'train'} folder beside it; expected "
            "ROOT/train/<class>/... with ROOT/test/<class>/... (or ROOT/val/...), or class "
            "folders directly under ROOT"
        )
    if test_root is not None:
        classes = _class_names(root / "train")
        unknown = sorted(set(_class_names(test_root)) - set(classes))
        if unknown:
            raise ValueError(
                f"test folder {str(test_root)!r} has class folder(s) "
                f"{', '.join(map(repr, unknown))} that {str(root / 'train')!r} lacks; "
                "expected the test classes to be among the training classes"
            )
        trees = [_decode_tree(root / "train", classes), _decode_tree(test_root, classes)]
        trees[0].check_classes()  # a test folder may lack a class
        report_files(name, [tree.decoded for tree in trees], root, request.strict)
        train = trees[0].images(request.image_size)
        test = trees[1].images(train.image_size)
        return DatasetSplits(name, train, test)
    files = image_files(root)
    if not files:
        raise ValueError(
            f"image folder {str(root)!r} is empty: no image files under it "
            f"({', '.join(IMAGE_SUFFIXES)}, any case); {FOLDER_LAYOUTS}"
        )
    folder_classes = _folder_layout(root, files)
    if folder_classes is None:
        decoded = decode_files(files, f"image folder {str(root)!r}", root)
        report_files(name, [decoded], root, request.strict)
        what = f"images under {str(root)!r}"
        images = pictures_tensor(decoded.pictures, request.image_size, what)
        unlabeled = torch.full((len(images),), UNLABELED, dtype=torch.int64)
        paths = file_names(decoded.files)
        return DatasetSplits.unlabeled_only(name, ImageSet(images, unlabeled, paths=paths))
    tree = _decode_tree(root, folder_classes)
    tree.check_classes()
    report_files(name, [tree.decoded], root, request.strict)
    every = tree.images(request.image_size)
    return split_when_single(every, name)


@DATASETS.register("filelist")
def load_file_list(request: DatasetRequest) -> DatasetSplits:
    """The images named in a text file, one path per line: an unlabeled data set.

    A relative path is read from the list's folder; ``~`` is expanded. Blank lines and lines
    starting with ``#`` are skipped (a ``#`` later in a line is part of the file name).
    Images are read, resized and converted as :func:`load_image_folder` reads them, in the
    list's order (their files in ``ImageSet.paths``); every image is kept for pretraining
    and the probes are skipped. Image
    files that cannot be decoded are skipped with one warning, as in :func:`load_image_folder`,
    or refused with ``request.strict``. With ``request.stream`` the files stay on disk and are
    decoded during training, as :func:`load_image_folder` streams them.

    Raises:
        ValueError: Naming the list and the line: the list is missing, a folder or not
            UTF-8 text, names no image, or names a file that does not exist (or is a folder);
            or naming the image files that cannot be decoded, when none can or when
            ``request.strict``.
    """
    path = _existing_path(request.argument, "filelist")
    name = f"filelist:{request.argument}"
    files = listed_files(path)
    if request.stream:
        return streamed_splits(name, files, path.parent, request)
    decoded = decode_files(files, f"file list {str(path)!r}", path.parent)
    report_files(name, [decoded], path.parent, request.strict)
    what = f"images listed in {str(path)!r}"
    images = pictures_tensor(decoded.pictures, request.image_size, what)
    unlabeled = torch.full((len(images),), UNLABELED, dtype=torch.int64)
    paths = file_names(decoded.files)
    return DatasetSplits.unlabeled_only(name, ImageSet(images, unlabeled, paths=paths))
