"""``tar:PATH_OR_GLOB``: images in tar shards, as ``webdataset`` writes them.

A shard is a plain (uncompressed) tar archive whose members are grouped into samples by key:
the member ``dir/cat001.jpg`` has key ``dir/cat001`` and extension ``jpg`` (everything after
the first dot of the file name, so ``a.seg.png`` has extension ``seg.png``). A sample is one
image member (the first whose extension is an image suffix, any case: ``IMAGE_SUFFIXES``)
and, optionally, a label: a ``.cls`` member (or, without one, a ``.txt`` member) holding an
integer class id. Other members (``.json`` captions, ...) are ignored.

The standard library's :mod:`tarfile` reads this format, so eblearn needs no ``webdataset``
dependency: loading lists each shard's members once (their headers only: a plain tar can be
skipped through without reading the image bytes) and keeps, per sample, the shard, the byte
offset and the size of its image. :class:`TarImages` then decodes a sample by reading those
bytes alone, in the DataLoader worker that asks for it, so a streamed run (``--stream``)
reads tar shards exactly as it reads image files: the same sampler gives each process its
share of every epoch (:class:`~eblearn.train.sharding.ShardedEpochSampler`), the same
workers decode the batches, and the same rules skip or refuse unusable samples.

A sample that cannot be used (no image member, a label that is not an integer, image bytes
that do not decode) is skipped, counted and named in one warning, or refused with
``strict``, as an unreadable image file is (:mod:`eblearn.data.unreadable`); a missing shard,
a pattern that matches nothing, a file that is not a plain tar and a shard without any
sample are errors naming the shard.
"""

from __future__ import annotations

import glob
import os
import tarfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from eblearn.data.decode import IMAGE_SUFFIXES, Unusable, rgb_from_bytes, square_pixels
from eblearn.data.files import (
    decode_files,
    file_names,
    pictures_tensor,
    report_files,
    split_when_single,
    streamed_splits,
)
from eblearn.data.images import UNLABELED, DatasetSplits, ImageSet
from eblearn.data.registry import DATASETS, DatasetRequest
from eblearn.data.streaming import StreamedImages
from eblearn.data.unreadable import Unreadable

TAR_EXPECTED = (
    "expected plain .tar shards in webdataset's layout: members grouped by key "
    "(KEY.jpg, KEY.cls, ...), one image per key "
    f"({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)}), optionally an integer class id "
    "in KEY.cls or KEY.txt"
)
LABEL_EXTENSIONS = ("cls", "txt")
"""Members holding a sample's class id, in order of preference."""
_IMAGE_EXTENSIONS = tuple(s.lstrip(".") for s in IMAGE_SUFFIXES)


class TarSample(NamedTuple):
    """Where one sample's image lies: ``size`` bytes at ``offset`` in ``shard``, the data of
    its image member ``member``; ``label`` its class id, or -1."""

    shard: str
    member: str
    offset: int
    size: int
    label: int

    @property
    def shown(self) -> Path:
        """The sample as a path for messages and ``ImageSet.paths``: ``SHARD/MEMBER``."""
        return Path(self.shard) / self.member


def shard_paths(pattern: str) -> list[Path]:
    """The shards a ``tar:`` argument names: one file, a glob, or a folder's ``*.tar``.

    Raises:
        ValueError: If the path does not exist or the pattern matches no file.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name in ("b.tar", "a.tar"):
        ...     (folder / name).touch()
        >>> [p.name for p in shard_paths(str(folder / "*.tar"))]
        ['a.tar', 'b.tar']
    """
    expanded = os.path.expanduser(pattern)
    if glob.has_magic(expanded):
        found = sorted(Path(p) for p in glob.glob(expanded) if Path(p).is_file())
        if not found:
            raise ValueError(f"tar pattern {pattern!r} matches no file; {TAR_EXPECTED}")
        return found
    path = Path(expanded)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.tar") if p.is_file())
        if not found:
            raise ValueError(f"tar folder {str(path)!r} holds no .tar file; {TAR_EXPECTED}")
        return found
    if not path.is_file():
        raise ValueError(f"tar shard {str(path)!r} does not exist; {TAR_EXPECTED}")
    return [path]


def _split_name(name: str) -> tuple[str, str]:
    """``(key, extension)`` of a member name, split at the first dot of its file name."""
    folder, _, base = name.rpartition("/")
    stem, dot, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (extension.lower() if dot else "")


def _label(tar: tarfile.TarFile, member: tarfile.TarInfo) -> int:
    """The class id a ``.cls``/``.txt`` member holds.

    Raises:
        Unusable: If it is not a non-negative integer.
    """
    handle = tar.extractfile(member)
    text = handle.read().decode("utf-8", "replace").strip() if handle is not None else ""
    if not text.isdigit():
        raise Unusable(
            f"its label {member.name!r} holds {text[:20]!r}, not a class id (an integer >= 0)"
        )
    return int(text)


def _samples_of(
    tar: tarfile.TarFile, shard: Path, members: list[Any]
) -> tuple[list[TarSample], list[Unreadable]]:
    """Groups a shard's members by key into samples, setting aside the unusable ones."""
    groups: dict[str, dict[str, tarfile.TarInfo]] = {}
    for member in members:
        if member.isfile():
            key, extension = _split_name(member.name)
            groups.setdefault(key, {})[extension] = member
    samples: list[TarSample] = []
    unusable: list[Unreadable] = []
    for key, parts in groups.items():
        image = next((e for e in parts if e in _IMAGE_EXTENSIONS), None)
        try:
            if image is None:
                found = ", ".join(f".{e}" for e in sorted(parts)) or "none"
                raise Unusable(f"no image member (found {found})")
            labels = [parts[e] for e in LABEL_EXTENSIONS if e in parts]
            label = _label(tar, labels[0]) if labels else UNLABELED
        except Unusable as why:
            unusable.append(Unreadable(shard / key, str(why)))
            continue
        member = parts[image]
        samples.append(TarSample(str(shard), member.name, member.offset_data, member.size, label))
    return samples, unusable


def _members(tar: tarfile.TarFile) -> tuple[list[tarfile.TarInfo], str]:
    """The members whose headers read, and why reading stopped early ("" at the end)."""
    members: list[tarfile.TarInfo] = []
    while True:
        try:
            member = tar.next()
        except tarfile.TarError as error:  # a shard cut short: keep what came before
            return members, str(error)
        if member is None:
            return members, ""
        members.append(member)


def index_shard(shard: Path) -> tuple[list[TarSample], list[Unreadable]]:
    """The samples of one shard (headers and labels only), and those that cannot be used.

    Raises:
        ValueError: If the file is not a plain tar archive, or holds no member at all.
    """
    try:
        with tarfile.open(shard, mode="r:") as tar:
            members, cut_short = _members(tar)
            samples, unusable = _samples_of(tar, shard, members)
    except tarfile.TarError as error:
        raise ValueError(
            f"tar shard {str(shard)!r} is not a readable plain tar archive ({error}); "
            f"compressed shards (.tar.gz) cannot be read at random: decompress them; "
            f"{TAR_EXPECTED}"
        ) from None
    if cut_short:
        unusable.append(Unreadable(shard, f"cut short after {len(members)} members: {cut_short}"))
    if not members:
        raise ValueError(f"tar shard {str(shard)!r} is empty: it has no member; {TAR_EXPECTED}")
    end = shard.stat().st_size
    cut = [s for s in samples if s.offset + s.size > end]
    for sample in cut:
        unusable.append(Unreadable(sample.shown, "truncated: the shard ends inside it"))
    return [s for s in samples if s not in cut], unusable


def read_sample(sample: TarSample) -> Any:
    """The sample's image as an RGB PIL image, from its bytes in the shard.

    Raises:
        Unusable: If the bytes cannot be read or decoded.
    """
    try:
        with open(sample.shard, "rb") as file:
            file.seek(sample.offset)
            data = file.read(sample.size)
    except OSError as error:
        raise Unusable(f"cannot be read: {type(error).__name__}: {error}") from None
    return rgb_from_bytes(data)


class TarImages(StreamedImages):
    """Tar samples decoded when asked for, as :class:`StreamedImages` decodes files.

    Args:
        samples: The samples, in the data set's order.
        image_size: Side of the square every image is resized and center-cropped to.
        name: The data set spec, for messages.
        base: Folder the samples are shown relative to in messages.
    """

    def __init__(
        self, samples: list[TarSample], image_size: int, name: str = "", base: str | Path = ""
    ) -> None:
        super().__init__([s.shown for s in samples], image_size, name, base)
        self.samples = tuple(samples)

    def read(self, index: int) -> np.ndarray:
        """The pixels of sample ``index``, ``uint8`` of shape ``(S, S, 3)``."""
        return square_pixels(read_sample(self.samples[index]), self.image_size)


@DATASETS.register("tar")
def load_tar(request: DatasetRequest) -> DatasetSplits:
    """Images in tar shards (``tar:PATH``, ``tar:'shards/*.tar'`` or ``tar:FOLDER``).

    Without labels (no ``.cls``/``.txt`` member) every sample is kept for pretraining and the
    probes are skipped; with an integer class id in every sample, 20% of each class is held
    out as the test split (classes ``"0"..."K-1"``). Images are resized and converted as
    :func:`~eblearn.data.files.load_image_folder` converts them. With ``request.stream`` the
    samples stay in the shards and are decoded during training (:class:`TarImages`),
    unlabeled.

    Raises:
        ValueError: Naming the shard: it is missing, empty or not a plain tar archive, the
            pattern matches nothing, no sample is usable; or, when ``request.strict``, some
            sample cannot be used; or some samples have a label and others none.
    """
    name = f"tar:{request.argument}"
    shards = shard_paths(request.argument or "")
    samples: list[TarSample] = []
    unusable: list[Unreadable] = []
    for shard in shards:
        found, bad = index_shard(shard)
        samples += found
        unusable += bad
    base = Path(os.path.commonpath([str(p.parent) for p in shards]))
    total = len(samples) + len(unusable)
    if not samples:
        raise ValueError(
            f"{name} holds no usable sample among {total} in {len(shards)} shard(s); {TAR_EXPECTED}"
        )
    opened = {s.shown: s for s in samples}

    def opener(shown: Path) -> Any:
        return read_sample(opened[shown])

    if request.stream:
        report_files(name, [], base, request.strict, unusable, total)
        shown = [s.shown for s in samples]
        return streamed_splits(
            name,
            shown,
            base,
            request,
            opener,
            lambda size: TarImages(samples, size, name, base),
        )
    decoded = decode_files([s.shown for s in samples], name, base, opener)
    report_files(name, [decoded], base, request.strict, unusable, total)
    images = pictures_tensor(decoded.pictures, request.image_size, f"images of {name}")
    labels = torch.tensor([samples[i].label for i in decoded.kept], dtype=torch.int64)
    top = int(labels.max())
    classes = tuple(str(k) for k in range(top + 1)) if top >= 0 else ()
    every = ImageSet(images, labels, classes, file_names(decoded.files))
    return split_when_single(every, name)
