"""The rows of ``embed`` and ``neighbors`` for image files that stay on disk.

:class:`~eblearn.app.embed.ImageRows` holds every decoded image in memory: fine for the data
sets a run usually probes, not for a folder larger than memory. :class:`StreamRows` keeps only
the file names (a :class:`~eblearn.data.streaming.StreamedImages`): :meth:`StreamRows.features`
decodes the files batch by batch in DataLoader workers, in file order, and keeps only the
features ``(N, D)``; :meth:`StreamRows.image` decodes one file again when a neighbor grid
draws it. The pixels are those of the in-memory path (both use
:func:`~eblearn.data.decode.square_pixels`), so the features are the same.

A file that cannot be decoded has no row, as in the in-memory path: the stream hands the next
readable file's pixels in its place (training keeps equal batches), and that stand-in is
dropped here; the skipped files are counted and named in one warning, or refused with
``strict`` (:func:`~eblearn.data.unreadable.report_unreadable`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import SequentialSampler

from eblearn.data.images import UNLABELED
from eblearn.data.streaming import StreamedImages, stream_loader
from eblearn.data.unreadable import Unreadable, report_unreadable

SPLIT = "unlabeled"
"""The split every streamed row belongs to (a stream is read unlabeled)."""


class StreamRows:
    """The files of a stream as rows; until :meth:`features` ran, one row per file.

    Args:
        stream: The files, decoded at the run's decoding size.
        strict: Refuse files that cannot be decoded instead of skipping them.
        workers: DataLoader workers decoding the batches (default: the CPUs but one).

    Example:
        >>> from PIL import Image
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for k in range(3):
        ...     Image.new("RGB", (4, 4), (k, 0, 0)).save(folder / f"{k}.png")
        >>> rows = StreamRows(StreamedImages(sorted(folder.glob("*.png")), 4), workers=0)
        >>> len(rows), rows.locate(2), rows.label(2), rows.image(1)[0, 0, 0].item()
        (3, ('unlabeled', 2), (-1, None), 1)
    """

    def __init__(self, stream: StreamedImages, strict: bool = False, workers: int | None = None):
        self.stream = stream
        self.strict = strict
        self.workers = workers
        self.kept: list[int] = list(range(len(stream)))
        """The file of each row: every file, then only the readable ones."""

    def __len__(self) -> int:
        return len(self.kept)

    @property
    def channels(self) -> int:
        return 3  # streamed images are decoded as RGB

    def order(self) -> str:
        """The rows' splits and counts, as ``embed`` prints them."""
        return f"{SPLIT} ({len(self)})"

    def locate(self, index: int) -> tuple[str, int]:
        """``(split, index within the split)`` of row ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} out of range for {len(self)} images")
        return SPLIT, index

    def image(self, index: int) -> Tensor:
        """The ``uint8`` image ``(3, S, S)`` of row ``index``, decoded again."""
        pixels = self.stream.read(self.kept[index])  # (S, S, 3)
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()

    def label(self, index: int) -> tuple[int, str | None]:
        """No label: a stream is read unlabeled."""
        self.locate(index)
        return UNLABELED, None

    def paths(self) -> list[str]:
        """The file of every row."""
        return [self.stream.files[i] for i in self.kept]

    def features(self, encoder: Any, batch_size: int) -> Tensor:
        """Features ``(N, D)`` of every readable file, in file order, decoded batch by batch.

        Afterwards the rows are the readable files only.

        Raises:
            ValueError: When ``strict`` and some file cannot be decoded (naming them).
        """
        loader = stream_loader(
            self.stream,
            SequentialSampler(self.stream),
            batch_size,
            self.workers,
            drop_last=False,
        )
        parts: list[Tensor] = []
        kept: list[int] = []
        unreadable: list[Unreadable] = []
        start = 0
        for batch in loader:
            asked = torch.arange(start, start + len(batch.indices))  # (B,) sequential order
            start += len(asked)
            own = batch.indices == asked  # False where a stand-in replaced a bad file
            unreadable += [Unreadable(Path(path), why) for path, why in batch.unreadable]
            if bool(own.any()):
                parts.append(encoder(batch.images[own], batch_size))
                kept += asked[own].tolist()
        report_unreadable(
            self.stream.name, unreadable, len(self.stream), self.stream.base, self.strict, 3
        )
        self.kept = kept
        return torch.cat(parts)
