"""Views and corruptions of raw waveforms: random crop, gain, additive noise, speed.

Each works on a batch ``(B, T)`` with the number of real samples of each row, ``lengths``
``(B,)`` (zeros after them), draws its random parameters once per row from an optional
``torch.Generator``, and returns the new batch and lengths. :class:`SpeechViews` composes
them into the views a contrastive method compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn._validate import check_ndim


def _check_batch(waveforms: Tensor, lengths: Tensor | None) -> Tensor:
    check_ndim(waveforms, 2, "waveforms", "(B, T)")
    if lengths is None:
        return torch.full((len(waveforms),), waveforms.shape[1], dtype=torch.long)
    if lengths.shape != (len(waveforms),):
        raise ValueError(f"lengths must have shape ({len(waveforms)},), got {tuple(lengths.shape)}")
    if bool((lengths < 0).any()) or bool((lengths > waveforms.shape[1]).any()):
        raise ValueError(f"lengths must lie in [0, {waveforms.shape[1]}] (the batch's T)")
    return lengths.long()


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(B, steps)`` bool, True where ``t < lengths[b]``."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def random_crop(
    waveforms: Tensor,
    lengths: Tensor | None,
    crop_length: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """A window of ``crop_length`` samples drawn uniformly inside each row's real samples.

    A row shorter than ``crop_length`` is kept whole (zero-padded).

    Returns:
        ``(crops, new_lengths)``, shapes ``(B, crop_length)`` and ``(B,)``.

    Example:
        >>> crops, n = random_crop(torch.arange(10.0)[None], None, 4)
        >>> crops.shape, int(n), float(crops[0, 1] - crops[0, 0])
        (torch.Size([1, 4]), 4, 1.0)
    """
    lengths = _check_batch(waveforms, lengths)
    if crop_length <= 0:
        raise ValueError(f"crop_length must be a positive number of samples, got {crop_length}")
    slack = (lengths - crop_length).clamp_min(0)
    starts = (torch.rand(len(waveforms), generator=generator) * (slack + 1).float()).long()
    starts = torch.minimum(starts, slack)
    positions = starts[:, None] + torch.arange(crop_length)[None, :]  # (B, crop_length)
    new_lengths = torch.minimum(lengths, torch.full_like(lengths, crop_length))
    padded = F.pad(waveforms, (0, crop_length))
    crops = padded.gather(1, positions.to(waveforms.device))
    return crops * valid_mask(new_lengths, crop_length).to(crops), new_lengths


def random_gain(
    waveforms: Tensor,
    lengths: Tensor | None = None,
    min_db: float = -6.0,
    max_db: float = 6.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Scales each row by ``10^(g/20)`` with ``g ~ U[min_db, max_db]`` decibels."""
    lengths = _check_batch(waveforms, lengths)
    if min_db > max_db:
        raise ValueError(f"min_db must be <= max_db, got {min_db} > {max_db}")
    gain_db = min_db + (max_db - min_db) * torch.rand(len(waveforms), generator=generator)
    return waveforms * (10.0 ** (gain_db / 20.0)).to(waveforms)[:, None], lengths


def add_noise(
    waveforms: Tensor,
    lengths: Tensor | None = None,
    snr_db: float = 20.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Adds white Gaussian noise at a signal-to-noise ratio of ``snr_db`` decibels.

    With ``P_s`` the mean square of a row's real samples, the noise has standard deviation
    ``sqrt(P_s / 10^(snr_db/10))`` on those samples (padding stays zero).
    """
    lengths = _check_batch(waveforms, lengths)
    mask = valid_mask(lengths, waveforms.shape[1]).to(waveforms)
    power = (waveforms.pow(2) * mask).sum(1) / lengths.clamp_min(1).to(waveforms)
    std = (power / 10.0 ** (snr_db / 10.0)).sqrt()
    noise = torch.randn(waveforms.shape, generator=generator).to(waveforms)
    return waveforms + noise * std[:, None] * mask, lengths


def change_speed(
    waveforms: Tensor, lengths: Tensor | None, factor: Tensor | float
) -> tuple[Tensor, Tensor]:
    """Plays each row ``factor`` times faster, resampling by linear interpolation.

    Output sample ``j`` is ``x(j·factor)``, ``x`` linearly interpolated between samples; a row
    of ``n`` real samples becomes ``floor((n - 1) / factor) + 1``. Frequencies are multiplied
    by ``factor`` and durations divided by it. The batch keeps its width ``T`` (longer rows are
    cut at ``T``).

    Args:
        factor: A float, or ``(B,)`` factors per row, all > 0.

    Example:
        >>> y, n = change_speed(torch.tensor([[0.0, 1.0, 2.0, 3.0]]), None, 0.5)
        >>> y.tolist(), n.tolist()
        ([[0.0, 0.5, 1.0, 1.5]], [4])
    """
    lengths = _check_batch(waveforms, lengths)
    factors = torch.as_tensor(factor, dtype=torch.float64).expand(len(waveforms))
    if not bool((factors > 0).all()):
        raise ValueError(f"speed factors must be > 0, got {factors.tolist()}")
    steps = waveforms.shape[1]
    last = (lengths - 1).clamp_min(0).double()
    new_lengths = torch.where(
        lengths > 0, torch.floor(last / factors).long() + 1, torch.zeros_like(lengths)
    ).clamp_max(steps)
    where = torch.arange(steps, dtype=torch.float64)[None, :] * factors[:, None]  # (B, T)
    where = torch.minimum(where, last[:, None])
    left = where.floor().long()
    right = torch.minimum(left + 1, last.long()[:, None].clamp_min(0))
    weight = (where - left.double()).to(waveforms)
    out = waveforms.gather(1, left) * (1 - weight) + waveforms.gather(1, right) * weight
    return out * valid_mask(new_lengths, steps).to(out), new_lengths


@dataclass(frozen=True)
class SpeechViews:
    """A view recipe for waveforms: crop, speed, gain, then noise, each drawn per row.

    Args:
        crop_length: Samples per view.
        speed_range: ``(low, high)`` speed factors drawn uniformly; ``(1, 1)`` switches off.
        gain_db: ``(min_db, max_db)`` of the random gain.
        snr_db: SNR of the additive noise; ``None`` switches it off.

    Example:
        >>> views = SpeechViews(crop_length=100)
        >>> x, n = views(torch.randn(2, 300), None, torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([2, 100])
    """

    crop_length: int
    speed_range: tuple[float, float] = (0.9, 1.1)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    snr_db: float | None = 20.0

    def __call__(
        self, waveforms: Tensor, lengths: Tensor | None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        low, high = self.speed_range
        if not 0 < low <= high:
            raise ValueError(f"speed_range must satisfy 0 < low <= high, got {self.speed_range}")
        factors = low + (high - low) * torch.rand(len(waveforms), generator=generator)
        x, n = change_speed(waveforms, lengths, factors)
        x, n = random_crop(x, n, self.crop_length, generator)
        x, n = random_gain(x, n, *self.gain_db, generator=generator)
        if self.snr_db is not None:
            x, n = add_noise(x, n, self.snr_db, generator)
        return x, n
