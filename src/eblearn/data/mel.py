"""Log-mel spectrograms in plain torch (``torch.stft`` and a triangular mel filterbank).

The mel scale (HTK): ``m(f) = 2595 · log10(1 + f / 700)``. ``n_mels`` triangular filters have
their corners at ``n_mels + 2`` points equally spaced in mel between ``f_min`` and ``f_max``;
filter ``i`` rises linearly from 0 at corner ``i`` to 1 at corner ``i + 1`` and falls back to 0
at corner ``i + 2``, evaluated at the FFT bin frequencies ``k · sample_rate / n_fft``.

[0] Young et al., The HTK Book (mel filterbank analysis); Davis, Mermelstein, Comparison of
    parametric representations for monosyllabic word recognition, IEEE TASSP 1980.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eblearn._validate import check_ndim


def hz_to_mel(hz: Tensor) -> Tensor:
    """``2595 · log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    """The inverse of :func:`hz_to_mel`: ``700 · (10^(m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> Tensor:
    """Triangular filters ``(n_mels, n_fft // 2 + 1)`` over the one-sided FFT bins.

    Raises:
        ValueError: If ``n_mels < 1`` or the band ``[f_min, f_max]`` is empty or above Nyquist.

    Example:
        >>> bank = mel_filterbank(4, 16, 8000)
        >>> bank.shape, float(bank.max()) <= 1.0
        (torch.Size([4, 9]), True)
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if n_mels < 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels}")
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
            f"got f_min={f_min}, f_max={f_max}"
        )
    corners_mel = torch.linspace(
        float(hz_to_mel(torch.tensor(f_min))), float(hz_to_mel(torch.tensor(f_max))), n_mels + 2
    )
    corners = mel_to_hz(corners_mel.double())  # (n_mels + 2,)
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    left, center, right = corners[:-2, None], corners[1:-1, None], corners[2:, None]
    rising = (bins[None, :] - left) / (center - left)
    falling = (right - bins[None, :]) / (right - center)
    return torch.minimum(rising, falling).clamp_min(0.0).float()


def log_mel_spectrogram(
    waveforms: Tensor,
    sample_rate: int,
    n_fft: int = 256,
    hop_length: int = 80,
    n_mels: int = 40,
    eps: float = 1e-6,
) -> Tensor:
    """``log(M |STFT(x)|² + eps)`` per frame, shape ``(B, n_mels, frames)``.

    Hann window of ``n_fft`` samples, hop ``hop_length``, frames centered (reflect padding),
    ``frames = T // hop_length + 1``.

    Args:
        waveforms: ``(B, T)`` float samples.
    """
    check_ndim(waveforms, 2, "waveforms", "(B, T)")
    window = torch.hann_window(n_fft, device=waveforms.device, dtype=waveforms.dtype)
    spectrum = torch.stft(
        waveforms, n_fft, hop_length=hop_length, window=window, center=True, return_complex=True
    )  # (B, n_fft // 2 + 1, frames)
    power = spectrum.abs().pow(2)
    bank = mel_filterbank(n_mels, n_fft, sample_rate).to(power)
    return torch.log(torch.einsum("mf,bft->bmt", bank, power) + eps)


def pooled_log_mel(
    waveforms: Tensor, lengths: Tensor, sample_rate: int, **spectrogram: int
) -> Tensor:
    """Mean and standard deviation over each recording's real frames: ``(B, 2 · n_mels)``.

    Frames whose center lies beyond ``lengths[b]`` are left out; the baseline features for a
    linear classifier of whole recordings.
    """
    mel = log_mel_spectrogram(waveforms, sample_rate, **spectrogram)  # (B, n_mels, frames)
    hop = spectrogram.get("hop_length", 80)
    frames = (lengths // hop + 1).clamp(1, mel.shape[2])  # (B,)
    valid = (torch.arange(mel.shape[2])[None, :] < frames[:, None]).to(mel)[:, None, :]
    mean = (mel * valid).sum(2) / frames[:, None].to(mel)
    var = ((mel - mean[:, :, None]).pow(2) * valid).sum(2) / frames[:, None].to(mel)
    return torch.cat([mean, var.sqrt()], dim=1)
