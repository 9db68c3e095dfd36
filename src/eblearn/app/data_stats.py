"""The pretraining data's normalization statistics, saved in the run folder.

An image encoder is trained on views normalized with the per-channel mean ``μ_c`` and standard
deviation ``σ_c`` of its pretraining images in [0, 1]:

    x̂_c = (x_c - μ_c) / σ_c,   μ_c = mean over (n, h, w) of x[n, c, h, w],   σ_c likewise

(:class:`~eblearn.data.images.DatasetSplits` computes them; a streamed data set on its decoded
sample). Every later use of the encoder (``eval``, ``embed``, ``neighbors``, ``export``'s
:func:`~eblearn.app.export.load_encoder`) must normalize with the *same* numbers. Before they
were saved, each of these read the pretraining data again to recompute them: slow for a large
folder, impossible once the data has moved, and wrong for an image folder trained at its native
size (8 px images were decoded again at the run's 16 px view size, so ``μ``, ``σ`` and the
pixels differed). ``eblearn train`` now writes them to :data:`STATS_FILE` (atomically, as every
file of the run), with the side ``image_size`` the loader decoded the images at; a run folder
without the file (older runs) falls back to reading the data again (:func:`read_statistics`
returns ``None``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eblearn.data.images import DatasetSplits

STATS_FILE = "data_stats.json"
"""The file of a run folder holding its :class:`DataStatistics`."""


@dataclass(frozen=True)
class DataStatistics:
    """How the pretraining images were read and normalized.

    Attributes:
        data: The pretraining data spec (``imagefolder:PATH``).
        channels: Channels ``C`` of the images.
        image_size: The side the loader decoded the images at (an image folder's native size
            unless ``--image-size`` was given), which may differ from the run's view size.
        mean: Per-channel mean ``μ`` of the pretraining images in [0, 1] (``C`` values).
        std: Per-channel standard deviation ``σ`` of the same images (``C`` values, > 0).

    Raises:
        ValueError: If ``mean`` or ``std`` do not hold ``channels`` finite numbers, ``std`` is
            not positive, or ``channels`` or ``image_size`` is not a positive integer.

    Example:
        >>> stats = DataStatistics("digits", 1, 8, (0.3,), (0.4,))
        >>> DataStatistics.from_dict(stats.to_dict(), "x") == stats
        True
    """

    data: str
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("channels", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != self.channels or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in values
            ):
                raise ValueError(
                    f"{name} must hold {self.channels} finite number(s), one per channel, "
                    f"got {values!r}"
                )
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive in every channel, got {self.std!r}")

    @classmethod
    def of(cls, data: Any) -> DataStatistics:
        """The statistics of a loaded image data set (a ``DatasetSplits``)."""
        return cls(
            data.name,
            int(data.channels),
            int(data.image_size),
            tuple(float(m) for m in data.mean),
            tuple(float(s) for s in data.std),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "channels": self.channels,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, values: Any, source: str) -> DataStatistics:
        """Reads :meth:`to_dict`'s mapping.

        Raises:
            ValueError: Naming ``source``: not a mapping, missing or extra keys, wrong types.
        """
        keys = ("data", "channels", "image_size", "mean", "std")
        if not isinstance(values, dict) or sorted(values) != sorted(keys):
            found = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(
                f"{source} must be a mapping with keys {', '.join(keys)}, got {found}; it was "
                "not written by this version of eblearn (delete it to recompute the "
                "statistics from the training data)"
            )
        if not all(isinstance(values[k], list) for k in ("mean", "std")):
            raise ValueError(f"{source}: 'mean' and 'std' must be lists of numbers")
        try:
            return cls(
                str(values["data"]),
                values["channels"],
                values["image_size"],
                tuple(values["mean"]),
                tuple(values["std"]),
            )
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None


def read_statistics(run_dir: str | os.PathLike[str]) -> DataStatistics | None:
    """The statistics saved in a run folder, or ``None`` when it has none (an older run).

    Raises:
        ValueError: If the file exists but is not valid (naming it).
    """
    path = Path(run_dir) / STATS_FILE
    if not path.is_file():
        return None
    source = f"normalization statistics {str(path)!r}"
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:  # JSONDecodeError and UnicodeDecodeError too
        raise ValueError(f"{source} cannot be read as JSON: {error}") from None
    return DataStatistics.from_dict(values, source)


def with_statistics(data: DatasetSplits, stats: DataStatistics) -> DatasetSplits:
    """``data`` normalized with the saved ``stats`` instead of its own mean and std.

    Raises:
        ValueError: If ``data`` has another number of channels than the run was trained on.
    """
    if data.channels != stats.channels:
        raise ValueError(
            f"{data.name!r} has {data.channels}-channel images, but the run was trained on "
            f"{stats.channels}-channel ones ({stats.data!r}); expected the same number of channels"
        )
    return replace(data, mean=stats.mean, std=stats.std)
