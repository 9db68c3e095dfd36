"""Labeled speech recordings: the Free Spoken Digit Dataset's ``.npz`` format, its split, and
fixed-length batches.

The format (``fsdd.npz``) stores every recording end to end: ``audio`` int16 samples,
``offsets`` ``(N + 1,)`` so that recording ``i`` is ``audio[offsets[i]:offsets[i + 1]]``,
``labels`` (the digit), ``speakers`` (an index into ``speaker_names``), ``index`` (the take
number) and ``sample_rate``. The data set's own convention puts takes 0–4 of every speaker and
digit in the test split.

[0] Free Spoken Digit Dataset, Z. Jackson et al., https://github.com/Jakobovski/free-spoken-digit-dataset
    (CC BY-SA 4.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

FSDD_KEYS = ("audio", "offsets", "labels", "speakers", "speaker_names", "index", "sample_rate")
FSDD_TEST_TAKES = 5
"""Takes ``0 .. FSDD_TEST_TAKES - 1`` of every speaker and digit form the test split."""
CROP_MODES = ("start", "center", "random")


@dataclass(frozen=True)
class Recordings:
    """Variable-length recordings stored end to end, with their labels.

    Attributes:
        audio: int16 samples of every recording, end to end, shape ``(S,)``.
        offsets: ``(N + 1,)`` int64; recording ``i`` is ``audio[offsets[i]:offsets[i + 1]]``.
        labels: ``(N,)`` int64 class (the digit).
        speakers: ``(N,)`` int64 index into ``speaker_names``.
        takes: ``(N,)`` int64 take number of each recording.
        speaker_names: Name of each speaker.
        sample_rate: Samples per second.
    """

    audio: Tensor
    offsets: Tensor
    labels: Tensor
    speakers: Tensor
    takes: Tensor
    speaker_names: tuple[str, ...]
    sample_rate: int

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.offsets.shape != (n + 1,):
            raise ValueError(
                f"offsets must have N + 1 = {n + 1} entries for {n} labels, "
                f"got shape {tuple(self.offsets.shape)}"
            )
        for name in ("speakers", "takes"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"{name} must have shape ({n},), got {tuple(getattr(self, name).shape)}"
                )
        if n and (int(self.offsets[0]) < 0 or int(self.offsets[-1]) > len(self.audio)):
            raise ValueError(
                f"offsets must lie in [0, {len(self.audio)}] (the audio's length), "
                f"got [{int(self.offsets[0])}, {int(self.offsets[-1])}]"
            )
        if n and bool((self.offsets.diff() <= 0).any()):
            raise ValueError("offsets must increase strictly (every recording non-empty)")
        if n and int(self.speakers.max()) >= len(self.speaker_names):
            raise ValueError(
                f"speakers index {int(self.speakers.max())} but only "
                f"{len(self.speaker_names)} speaker_names are given"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> Tensor:
        """Samples in each recording, ``(N,)``."""
        return self.offsets.diff()

    def waveform(self, i: int) -> Tensor:
        """Recording ``i`` as float32 in ``[-1, 1)`` (int16 divided by 32768)."""
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.audio[start:end].float() / 32768.0

    def subset(self, index: Tensor) -> Recordings:
        """The recordings at ``index`` (a ``(M,)`` long tensor), audio repacked end to end."""
        index = torch.as_tensor(index, dtype=torch.long)
        pieces = [self.audio[int(self.offsets[i]) : int(self.offsets[i + 1])] for i in index]
        lengths = self.lengths[index]
        return Recordings(
            audio=torch.cat(pieces) if pieces else self.audio[:0],
            offsets=torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]),
            labels=self.labels[index],
            speakers=self.speakers[index],
            takes=self.takes[index],
            speaker_names=self.speaker_names,
            sample_rate=self.sample_rate,
        )

    def batch(
        self,
        index: Tensor | None = None,
        length: int | None = None,
        crop: str = "center",
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Recordings at ``index`` (default all) as a fixed-length batch, see :func:`fix_length`.

        Returns:
            ``(waveforms, lengths)``: float32 ``(B, length)`` and int64 ``(B,)``.
        """
        index = torch.arange(len(self)) if index is None else torch.as_tensor(index)
        waves = [self.waveform(int(i)) for i in index]
        if length is None:
            length = max((len(w) for w in waves), default=1)
        return fix_length(waves, length, crop, generator)


def fix_length(
    waveforms: list[Tensor],
    length: int,
    crop: str = "center",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Crops longer recordings and zero-pads shorter ones to ``length`` samples.

    Args:
        waveforms: 1-D float tensors of any lengths.
        length: Samples per output row.
        crop: Where a longer recording is cut: ``"start"`` keeps its first ``length``
            samples, ``"center"`` its middle, ``"random"`` a uniformly drawn window.
        generator: Random source for ``crop="random"``.

    Returns:
        ``(batch, lengths)``: ``(B, length)`` with zeros after each recording's end, and the
        number of real samples in each row, ``min(len, length)``.

    Raises:
        ValueError: On a non-positive length, an unknown crop mode or a non-1-D waveform.

    Example:
        >>> batch, lengths = fix_length([torch.ones(3), torch.ones(6)], 4, crop="start")
        >>> batch.tolist(), lengths.tolist()
        ([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]], [3, 4])
    """
    if length <= 0:
        raise ValueError(f"length must be a positive number of samples, got {length}")
    if crop not in CROP_MODES:
        raise ValueError(f"unknown crop {crop!r}; valid choices: {', '.join(CROP_MODES)}")
    out = torch.zeros(len(waveforms), length)
    lengths = torch.zeros(len(waveforms), dtype=torch.long)
    for row, wave in enumerate(waveforms):
        if wave.ndim != 1:
            raise ValueError(f"waveform {row} must be 1-D (T,), got shape {tuple(wave.shape)}")
        excess = len(wave) - length
        if excess > 0:
            if crop == "start":
                start = 0
            elif crop == "center":
                start = excess // 2
            else:
                start = int(torch.randint(excess + 1, (1,), generator=generator))
            wave = wave[start : start + length]
        out[row, : len(wave)] = wave
        lengths[row] = len(wave)
    return out, lengths


def load_fsdd(path: str | Path) -> Recordings:
    """Reads the FSDD ``.npz`` format (see the module docstring).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If a key is missing or the arrays disagree.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no FSDD file at {path} (expected an .npz with {FSDD_KEYS})")
    with np.load(path, allow_pickle=False) as arrays:
        missing = [key for key in FSDD_KEYS if key not in arrays]
        if missing:
            raise ValueError(
                f"{path} lacks key(s) {', '.join(missing)}; an FSDD .npz holds "
                f"{', '.join(FSDD_KEYS)}"
            )
        if arrays["audio"].dtype != np.int16:
            raise ValueError(f"{path}: audio must be int16, got {arrays['audio'].dtype}")
        return Recordings(
            audio=torch.from_numpy(arrays["audio"].copy()),
            offsets=torch.from_numpy(arrays["offsets"].astype(np.int64)),
            labels=torch.from_numpy(arrays["labels"].astype(np.int64)),
            speakers=torch.from_numpy(arrays["speakers"].astype(np.int64)),
            takes=torch.from_numpy(arrays["index"].astype(np.int64)),
            speaker_names=tuple(str(s) for s in arrays["speaker_names"]),
            sample_rate=int(arrays["sample_rate"]),
        )


def split_by_take(
    recordings: Recordings, test_takes: int = FSDD_TEST_TAKES
) -> tuple[Recordings, Recordings]:
    """``(train, test)``: takes ``>= test_takes`` train, takes ``< test_takes`` test (FSDD's
    convention with the default 5)."""
    if test_takes < 0:
        raise ValueError(f"test_takes must be >= 0, got {test_takes}")
    is_test = recordings.takes < test_takes
    return (
        recordings.subset(torch.nonzero(~is_test).flatten()),
        recordings.subset(torch.nonzero(is_test).flatten()),
    )


def write_synthetic_fsdd(
    path: str | Path,
    num_speakers: int = 2,
    num_takes: int = 6,
    num_digits: int = 10,
    sample_rate: int = 8000,
    seed: int = 0,
) -> Path:
    """Writes a small generated data set in the FSDD ``.npz`` format, for tests and examples.

    Recording (digit ``d``, speaker ``s``, take ``k``) is two harmonics whose frequencies
    depend on the digit (``300 + 150·d`` Hz and a gliding second tone), scaled by a speaker
    pitch factor ``1 + 0.08·s``, with a random length of 0.15–0.3 s, a Hann envelope and a
    little noise: classes a small network can tell apart.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    rng = np.random.default_rng(seed)
    pieces, labels, speakers, takes = [], [], [], []
    for s in range(num_speakers):
        for d in range(num_digits):
            for k in range(num_takes):
                n = int(rng.integers(int(0.15 * sample_rate), int(0.3 * sample_rate)))
                t = np.arange(n) / sample_rate
                pitch = 1.0 + 0.08 * s
                f1 = (300.0 + 150.0 * d) * pitch
                f2 = (900.0 + 120.0 * ((3 * d) % 10) * t / t[-1]) * pitch
                wave = np.sin(2 * math.pi * f1 * t) + 0.5 * np.sin(2 * math.pi * f2 * t)
                wave = wave * np.hanning(n) * 0.5 + 0.01 * rng.standard_normal(n)
                pieces.append(np.clip(wave * 32767, -32768, 32767).astype(np.int16))
                labels.append(d)
                speakers.append(s)
                takes.append(k)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64)
    path = Path(path)
    np.savez(
        path,
        audio=np.concatenate(pieces),
        offsets=offsets,
        labels=np.array(labels, dtype=np.int64),
        speakers=np.array(speakers, dtype=np.int64),
        speaker_names=np.array([f"speaker{s}" for s in range(num_speakers)]),
        index=np.array(takes, dtype=np.int64),
        sample_rate=np.int64(sample_rate),
    )
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
