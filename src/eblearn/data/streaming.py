"""Image files decoded as training asks for them: data larger than memory.

The in-memory path (:mod:`eblearn.data.files`) decodes every image once into one ``uint8``
tensor of ``N × C × H × W`` bytes, which must fit in RAM (and on the device). A
:class:`StreamedImages` keeps only the file names: each batch of indices is decoded by a
DataLoader worker into ``uint8`` ``(B, C, H, W)``, the same pixels the in-memory path holds
(:func:`~eblearn.data.decode.square_pixels`), so that resident memory stays flat as the data
grows while the engine augments the batch on the device exactly as before.

An unreadable file met while streaming (a file truncated or replaced after the run started,
or one the up-front sample did not touch) takes the pixels of the next readable file in file
order, so that every batch keeps ``B`` images (batch statistics and DDP's collectives need
equal batches); the batch names the file, and the engine warns about it, or stops the run
when ``strict``.

Which indices a process reads, and in which order, is the sampler's business
(:class:`eblearn.train.sharding.ShardedEpochSampler`); a DataLoader hands each batch of its
sampler to exactly one worker, so a sample is decoded once per epoch whatever the number of
workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from eblearn.data.decode import Unusable, open_rgb, square_pixels

MAX_WORKERS = 8
"""Most DataLoader workers :func:`default_workers` chooses."""


class StreamBatch(NamedTuple):
    """A batch decoded from disk.

    Attributes:
        images: ``uint8`` tensor of shape ``(B, 3, H, W)``.
        indices: ``int64`` tensor of shape ``(B,)``: the file each image was read from (the
            replacement's index where a file was unreadable).
        unreadable: ``(path, reason)`` of each file of the batch that could not be read.
    """

    images: Tensor
    indices: Tensor
    unreadable: tuple[tuple[str, str], ...]


class StreamedImages(Dataset[StreamBatch]):
    """Image files, decoded to ``uint8`` squares of side ``image_size`` when asked for.

    Args:
        files: The image files, in the data set's order (index ``i`` is ``files[i]``).
        image_size: Side of the square every image is resized and center-cropped to.
        name: The data set spec, for messages (``imagefolder:PATH``).
        base: Folder the files are shown relative to in messages.

    Raises:
        ValueError: If ``files`` is empty or ``image_size`` is not a positive integer.

    Example:
        >>> from PIL import Image
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for k in range(3):
        ...     Image.new("RGB", (6, 4), (k, 0, 0)).save(folder / f"{k}.png")
        >>> stream = StreamedImages(sorted(folder.glob("*.png")), 4)
        >>> batch = stream.__getitems__([2, 0])
        >>> batch.images.shape, batch.images[:, 0, 0, 0].tolist(), batch.indices.tolist()
        (torch.Size([2, 3, 4, 4]), [2, 0], [2, 0])
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike[str]],
        image_size: int,
        name: str = "",
        base: str | os.PathLike[str] = "",
    ) -> None:
        if len(files) == 0:
            raise ValueError(f"a streamed data set needs at least one image file{name and ': '}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.files = tuple(str(f) for f in files)  # strings: smaller than Paths, cheap to fork
        self.image_size = image_size
        self.name = name
        self.base = Path(base)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> np.ndarray:
        """The pixels of file ``index``, ``uint8`` of shape ``(H, W, 3)``.

        Raises:
            Unusable: If the file cannot be decoded (the message says why).
        """
        return square_pixels(open_rgb(Path(self.files[index])), self.image_size)

    def _read_or_next(
        self, index: int, unreadable: list[tuple[str, str]]
    ) -> tuple[int, np.ndarray]:
        """File ``index``, or the next readable file after it (in file order, wrapping)."""
        for step in range(len(self.files)):
            candidate = (index + step) % len(self.files)
            try:
                return candidate, self.read(candidate)
            except Unusable as why:
                if step == 0:
                    unreadable.append((self.files[candidate], str(why)))
        raise ValueError(f"{self.name or 'streamed data set'}: none of its image files is readable")

    def __getitems__(self, indices: Sequence[int]) -> StreamBatch:
        """Decodes a batch (what a DataLoader's worker calls with one batch of its sampler)."""
        unreadable: list[tuple[str, str]] = []
        read = [self._read_or_next(int(i), unreadable) for i in indices]
        pixels = np.stack([p for _, p in read])  # (B, H, W, 3)
        images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W)
        kept = torch.tensor([i for i, _ in read], dtype=torch.int64)
        return StreamBatch(images, kept, tuple(unreadable))

    def __getitem__(self, index: int) -> StreamBatch:
        return self.__getitems__([index])


def _as_is(batch: Any) -> Any:
    """The DataLoader's collate function: :meth:`StreamedImages.__getitems__` batched already."""
    return batch


def default_workers() -> int:
    """DataLoader workers for a stream: the CPUs but one (the training loop's), 1 to 8."""
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 2) - 1))


def stream_loader(
    stream: StreamedImages,
    sampler: Sampler[int],
    batch_size: int,
    workers: int | None = None,
    pin_memory: bool = False,
    drop_last: bool = True,
) -> DataLoader[StreamBatch]:
    """Batches of ``stream`` in ``sampler``'s order, decoded by ``workers`` processes.

    The sampler's indices are cut into batches of ``batch_size`` (the last incomplete one is
    dropped unless ``drop_last`` is false: training keeps equal batches, encoding every file
    does not), and each batch is decoded by one worker; ``workers=0`` decodes in this
    process. Workers persist across epochs.

    Raises:
        ValueError: If ``batch_size`` is below 1 or ``workers`` is negative.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    workers = default_workers() if workers is None else workers
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0: decode in the main process), got {workers}")
    return DataLoader(
        stream,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=workers,
        collate_fn=_as_is,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
    )
