"""The ``waveforms`` modality of ``eblearn train``: speech data sets cut into fixed-length
crops the engine gathers by index, and the views a speech method trains on.

The engine gathers one tensor by index, so each recording travels *packed*: row ``i`` of
:attr:`SpeechSplits.pretrain_inputs` is ``[n_i, x_i1, ..., x_iL]``, its number of real
samples ``n_i`` followed by ``L`` float samples in ``[-1, 1)`` (zeros after ``n_i``).
:class:`WaveformViews` unpacks a gathered batch into ``[waveforms (B, L'), lengths (B,)]``,
after the speech view recipe (speed, crop, gain, noise) or none.

Data: ``fsdd:PATH``, the Free Spoken Digit Dataset in its ``.npz`` format
(:mod:`eblearn.data.speech`), takes 0–4 of every speaker and digit held out for testing;
with ``download`` a missing file is built from the public repository's recordings.

[0] Free Spoken Digit Dataset, Z. Jackson et al.,
    https://github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0)
"""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
import wave
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from eblearn.data.speech import Recordings, load_fsdd, split_by_take
from eblearn.data.speech_views import SpeechViews
from eblearn.registry import Registry

WAVEFORMS = "waveforms"
"""The modality of speech data sets and methods."""
CROP_SAMPLES = 4000
"""Default samples per training crop (``--seq-len`` of a speech run): 0.5 s at 8 kHz."""
WAVEFORM_AUGMENTATIONS = ("speech", "none")
"""View recipes of a speech run: speed, crop, gain and noise (:class:`SpeechViews`), or the
crops as they are."""
FSDD_ARCHIVE_URL = (
    "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
)
_RECORDING = re.compile(r"recordings/(\d)_([A-Za-z]+)_(\d+)\.wav$")


def pack_crops(waveforms: Tensor, lengths: Tensor) -> Tensor:
    """``(B, 1 + L)`` float32 rows ``[n, x_1 .. x_L]`` from ``(B, L)`` crops and ``(B,)``
    lengths (exact: lengths below 2^24).

    Example:
        >>> pack_crops(torch.ones(1, 3), torch.tensor([2])).tolist()
        [[2.0, 1.0, 1.0, 1.0]]
    """
    return torch.cat([lengths.float()[:, None], waveforms.float()], dim=1)


def unpack_crops(packed: Tensor) -> tuple[Tensor, Tensor]:
    """``(waveforms (B, L), lengths (B,))`` from rows packed by :func:`pack_crops`.

    Raises:
        ValueError: If ``packed`` is not ``(B, 1 + L)`` with ``L >= 1``.
    """
    if packed.ndim != 2 or packed.shape[1] < 2:
        raise ValueError(f"packed crops must have shape (B, 1 + L), got {tuple(packed.shape)}")
    return packed[:, 1:], packed[:, 0].round().long()


@dataclass(frozen=True)
class SpeechSplits:
    """Labeled recordings split into training and test takes, cropped for pretraining.

    Attributes:
        name: How the data set was asked for (``"fsdd:/data/fsdd.npz"``).
        train, test: The recordings of each split (FSDD: takes 5 and above train).
        crop_length: Samples L per pretraining crop; longer recordings keep their center.
    """

    name: str
    train: Recordings
    test: Recordings
    crop_length: int

    modality = WAVEFORMS

    @cached_property
    def pretrain_inputs(self) -> Tensor:
        """Training crops packed ``(N, 1 + L)`` (:func:`pack_crops`): what the engine gathers
        by index."""
        waves, lengths = self.train.batch(length=self.crop_length, crop="center")
        return pack_crops(waves, lengths)

    @property
    def pretrain_count(self) -> int:
        """Number of training recordings."""
        return len(self.train)

    @property
    def pretrain_labels(self) -> Tensor:
        """The digit of each training recording (for the online probe)."""
        return self.train.labels

    @property
    def num_classes(self) -> int:
        return int(max(int(self.train.labels.max()), int(self.test.labels.max()))) + 1

    @property
    def has_labels(self) -> bool:
        return True


class WaveformViews(nn.Module):
    """The views of a speech method: a gathered packed batch as ``[waveforms, lengths]``.

    With a recipe (:class:`~eblearn.data.speech_views.SpeechViews`), every row is first
    sped up or slowed down, cropped, scaled and given noise, drawn from torch's global
    random state (which the engine seeds per step, so a resumed run replays its views).

    Example:
        >>> x, n = WaveformViews()(pack_crops(torch.ones(2, 5), torch.tensor([5, 3])))
        >>> tuple(x.shape), n.tolist()
        ((2, 5), [5, 3])
    """

    def __init__(self, recipe: SpeechViews | None = None) -> None:
        super().__init__()
        self.recipe = recipe

    def forward(self, packed: Tensor) -> list[Tensor]:
        waveforms, lengths = unpack_crops(packed)
        if self.recipe is not None:
            waveforms, lengths = self.recipe(waveforms, lengths)
        return [waveforms, lengths]


def waveform_views(augmentation: str, crop_length: int) -> WaveformViews:
    """The views of ``augmentation`` (one of :data:`WAVEFORM_AUGMENTATIONS`).

    Raises:
        ValueError: On an unknown recipe (listing the valid ones).
    """
    if augmentation not in WAVEFORM_AUGMENTATIONS:
        raise ValueError(
            f"unknown augmentation {augmentation!r} for waveforms; valid: "
            f"{', '.join(WAVEFORM_AUGMENTATIONS)}"
        )
    return WaveformViews(SpeechViews(crop_length) if augmentation == "speech" else None)


SpeechLoader = Callable[[str, bool], Recordings]
"""Reads recordings given the spec's argument (a path) and whether to download."""

SPEECH_DATASETS: Registry[SpeechLoader] = Registry("speech data set")
"""Speech data sets by name; :func:`load_speech` is the way to read them."""
SPEECH_NEEDS_ARGUMENT = ("fsdd",)


def download_fsdd(path: str | Path, url: str = FSDD_ARCHIVE_URL) -> Path:
    """Builds the FSDD ``.npz`` at ``path`` from the repository archive at ``url``.

    Reads every ``recordings/{digit}_{speaker}_{take}.wav`` (16-bit mono) of the zip archive
    and writes them end to end in the format :func:`~eblearn.data.speech.load_fsdd` reads.

    Raises:
        ValueError: If the archive cannot be fetched (offline: the message says how to copy
            the file by hand), or holds no recordings, or recordings that are not 16-bit mono
            at one sample rate.
    """
    path = Path(path)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
    except (urllib.error.URLError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"could not download the Free Spoken Digit Dataset from {url}: {error}; without "
            f"a network, copy an FSDD .npz to {path} and leave out --download"
        ) from None
    pieces, labels, speakers, takes, rates = [], [], [], [], set()
    names: list[str] = []
    for member in sorted(archive.namelist()):
        match = _RECORDING.search(member)
        if match is None:
            continue
        with wave.open(io.BytesIO(archive.read(member))) as recording:
            if recording.getsampwidth() != 2 or recording.getnchannels() != 1:
                raise ValueError(f"{member} in {url} is not 16-bit mono")
            rates.add(recording.getframerate())
            pieces.append(np.frombuffer(recording.readframes(recording.getnframes()), "<i2"))
        digit, speaker, take = match.groups()
        if speaker not in names:
            names.append(speaker)
        labels.append(int(digit))
        speakers.append(names.index(speaker))
        takes.append(int(take))
    if not pieces or len(rates) != 1:
        raise ValueError(
            f"{url} holds {len(pieces)} recordings at sample rates {sorted(rates)}; expected "
            "recordings/{digit}_{speaker}_{take}.wav at one rate"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        np.savez(
            file,
            audio=np.concatenate(pieces).astype(np.int16),
            offsets=np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64),
            labels=np.array(labels, dtype=np.int64),
            speakers=np.array(speakers, dtype=np.int64),
            speaker_names=np.array(names),
            index=np.array(takes, dtype=np.int64),
            sample_rate=np.int64(rates.pop()),
        )
    return path


@SPEECH_DATASETS.register("fsdd")
def fsdd(argument: str, download: bool = False) -> Recordings:
    """Free Spoken Digit Dataset (.npz, 8 kHz; CC BY-SA 4.0): fsdd:PATH, takes 0–4 test."""
    path = Path(argument)
    if not path.is_file():
        if not download:
            raise ValueError(
                f"no FSDD file at {path}; give the path of an FSDD .npz, or add --download "
                f"to build it there from {FSDD_ARCHIVE_URL}"
            )
        download_fsdd(path, FSDD_ARCHIVE_URL)
    try:
        return load_fsdd(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} as an FSDD .npz: {error}") from None


def load_speech(spec: str, crop_length: int = CROP_SAMPLES, download: bool = False) -> SpeechSplits:
    """Reads a speech data set and splits it (FSDD: takes 0–4 test).

    Args:
        spec: ``"fsdd:PATH"``.
        crop_length: Samples per pretraining crop.
        download: Build a missing file from the public repository.

    Raises:
        ValueError: On an unknown name (listing the valid ones), a missing path, an
            unreadable file, a crop length below 2, or a split left empty.
    """
    if not isinstance(spec, str):
        raise ValueError(f"dataset spec must be a string such as 'fsdd:PATH', got {spec!r}")
    name, _, argument = spec.partition(":")
    loader = SPEECH_DATASETS.get(name)
    if not argument:
        raise ValueError(f"dataset {name!r} needs a path: use '{name}:PATH'")
    if isinstance(crop_length, bool) or not isinstance(crop_length, int) or crop_length < 2:
        raise ValueError(f"crop length (--seq-len) must be an integer >= 2, got {crop_length!r}")
    train, test = split_by_take(loader(argument, download))
    for part, recordings in (("training", train), ("test", test)):
        if len(recordings) == 0:
            raise ValueError(
                f"{spec!r} has no {part} recordings (takes 0-4 test, the others train)"
            )
    return SpeechSplits(spec, train, test, crop_length)


__all__ = [
    "CROP_SAMPLES",
    "SPEECH_DATASETS",
    "WAVEFORMS",
    "SpeechSplits",
    "WaveformViews",
    "download_fsdd",
    "load_speech",
    "pack_crops",
    "unpack_crops",
    "waveform_views",
]
