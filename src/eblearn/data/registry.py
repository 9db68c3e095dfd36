"""The dataset registry: names (and ``name:argument`` specs) to :class:`DatasetSplits`.

>>> from eblearn.data import load_dataset
>>> digits = load_dataset("digits")
>>> len(digits.train), len(digits.test), digits.channels, digits.image_size
(1347, 450, 1, 8)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from numbers import Integral
from pathlib import Path

from eblearn.data.images import DatasetSplits
from eblearn.registry import Registry


@dataclass(frozen=True)
class DatasetRequest:
    """What a loader is asked for.

    Attributes:
        argument: The part after ``:`` in ``name:argument`` (a path for ``npz``,
            ``imagefolder`` and ``filelist``), or ``None``.
        root: Folder where downloadable data sets live (``$EBLEARN_DATA`` or ``./data``).
        download: Whether a missing data set may be downloaded.
        image_size: Side to which images of varying sizes are resized, where that applies.
        strict: Refuse image files that cannot be decoded (``ValueError`` naming them)
            instead of skipping them with a warning (``imagefolder`` and ``filelist``).
        stream: Keep the image files on disk and decode them during training
            (:mod:`eblearn.data.streaming`) instead of decoding them all into memory
            (``imagefolder``, ``filelist`` and ``tar``).
    """

    argument: str | None
    root: Path
    download: bool = False
    image_size: int | None = None
    strict: bool = False
    stream: bool = False


DatasetLoader = Callable[[DatasetRequest], DatasetSplits]

DATASETS: Registry[DatasetLoader] = Registry("dataset")
"""Loaders by name; ``load_dataset`` is the way to call them."""

NEEDS_ARGUMENT = ("filelist", "imagefolder", "npz", "tar")
STREAMABLE = ("imagefolder", "filelist", "tar")
"""Data sets that can be streamed from disk (``stream=True``, ``--stream``)."""


def default_data_root() -> Path:
    """``$EBLEARN_DATA`` if set, else ``./data``."""
    return Path(os.environ.get("EBLEARN_DATA", "data"))


def load_dataset(
    spec: str,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    image_size: int | None = None,
    *,
    strict: bool = False,
    stream: bool = False,
) -> DatasetSplits:
    """Loads a registered data set by spec.

    Args:
        spec: ``"digits"``, ``"cifar10"``, ``"cifar100"``, ``"stl10"``, ``"mnist"``,
            ``"fashion-mnist"``, ``"imagefolder:PATH"``, ``"npz:PATH"``,
            ``"filelist:PATH"`` or ``"tar:PATH_OR_GLOB"`` (the last four may come without
            labels: see
            :attr:`DatasetSplits.has_labels`).
        root: Folder for downloadable data sets; defaults to ``$EBLEARN_DATA`` or ``./data``.
        download: Allow torchvision to download a missing data set.
        image_size: Resize side for image folders whose images differ in size.
        strict: Refuse image files of an ``imagefolder`` or ``filelist`` that cannot be
            decoded (empty, truncated, not an image) instead of skipping them with one
            ``UserWarning`` that counts them and names the first five.
        stream: Read an ``imagefolder`` or ``filelist`` as files decoded during training
            (:attr:`DatasetSplits.stream`), every image unlabeled, with only a sample
            decoded now; for data larger than memory.

    Returns:
        The train/test (and, where the data set has one, unlabeled) splits; a data set
        without labels has empty train/test splits and all its images in ``unlabeled``.

    Raises:
        ValueError: On an unknown name (the message lists the valid ones), a spec that is not
            a string, an ``image_size`` that is not a positive integer, a missing path, an
            empty data set, data set files that are absent, or files that cannot be read as
            the data set expects (each loader's docstring says what it expects), or, when
            ``strict``, unreadable image files; or ``stream`` for a data set other than
            ``imagefolder`` and ``filelist``.
    """
    if not isinstance(spec, str):
        raise ValueError(
            f"dataset spec must be a string such as 'digits' or 'npz:PATH', got {spec!r}"
        )
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, Integral) or image_size < 1
    ):
        raise ValueError(f"image_size must be a positive integer or None, got {image_size!r}")
    if not isinstance(strict, bool):
        raise ValueError(f"strict must be True or False, got {strict!r}")
    if not isinstance(stream, bool):
        raise ValueError(f"stream must be True or False, got {stream!r}")
    name, _, argument = spec.partition(":")
    loader = DATASETS.get(name)
    if stream and name not in STREAMABLE:
        raise ValueError(
            f"--stream reads image files from disk during training; it works with "
            f"{', '.join(f'{n}:PATH' for n in STREAMABLE)}, not {spec!r} (which is read "
            "into memory: leave out --stream)"
        )
    if name in NEEDS_ARGUMENT and not argument:
        raise ValueError(f"dataset {name!r} needs a path: use '{name}:PATH'")
    if name not in NEEDS_ARGUMENT and argument:
        raise ValueError(f"dataset {name!r} takes no argument, got {spec!r}")
    request = DatasetRequest(
        argument=argument or None,
        root=Path(root) if root is not None else default_data_root(),
        download=download,
        image_size=image_size,
        strict=strict,
        stream=stream,
    )
    splits = loader(request)
    if splits.name != spec:
        splits = replace(splits, name=spec)
    return splits


IMAGES = "images"
"""The modality of image data sets (the :data:`DATASETS` registry)."""


def modality_of(spec: str) -> str:
    """The modality of a data spec: ``"images"``, ``"tokens"`` or ``"waveforms"``, read from its
    name alone.

    Example:
        >>> modality_of("digits"), modality_of("text:corpus.txt")
        ('images', 'tokens')

    Raises:
        ValueError: If the name is in no registry (listing every valid one, per modality).
    """
    from eblearn.data.text import TEXT_DATASETS, TOKENS
    from eblearn.data.waveforms import SPEECH_DATASETS, WAVEFORMS

    if not isinstance(spec, str):
        raise ValueError(f"dataset spec must be a string such as 'digits', got {spec!r}")
    name = spec.partition(":")[0]
    if name in DATASETS:
        return IMAGES
    if name in TEXT_DATASETS:
        return TOKENS
    if name in SPEECH_DATASETS:
        return WAVEFORMS
    raise ValueError(
        f"unknown dataset {name!r}; valid datasets: images: {', '.join(DATASETS.names())}; "
        f"tokens: {', '.join(TEXT_DATASETS.names())}; "
        f"waveforms: {', '.join(SPEECH_DATASETS.names())}"
    )
