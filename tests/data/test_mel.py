"""Mel filterbank and log-mel features from the formulas."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.data.mel import (
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    pooled_log_mel,
)


def test_mel_scale_known_values_and_inverse():
    assert float(hz_to_mel(torch.tensor(1000.0))) == pytest.approx(1000.0, abs=0.1)
    assert float(hz_to_mel(torch.tensor(0.0))) == 0.0
    f = torch.tensor([50.0, 440.0, 3999.0], dtype=torch.float64)
    assert torch.allclose(mel_to_hz(hz_to_mel(f)), f)


def test_filters_are_triangles_with_unit_peaks_that_tile():
    n_fft, rate = 512, 8000
    bank = mel_filterbank(10, n_fft, rate).double()
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * rate / n_fft
    corners = mel_to_hz(torch.linspace(0, float(hz_to_mel(torch.tensor(4000.0))), 12).double())
    for i in range(10):
        # linear rise from corner i to corner i+1, zero outside (corner i, corner i+2)
        inside = (bins > corners[i]) & (bins < corners[i + 2])
        assert (bank[i][~inside] == 0).all()
        rising = (bins > corners[i]) & (bins <= corners[i + 1])
        expected = (bins[rising] - corners[i]) / (corners[i + 1] - corners[i])
        assert torch.allclose(bank[i][rising], expected, atol=1e-5)
        assert float(bank[i].max()) <= 1.0
    # adjacent triangles sum to one between the first and last centers
    between = (bins >= corners[1]) & (bins <= corners[10])
    assert torch.allclose(bank.sum(0)[between], torch.ones(int(between.sum())).double(), atol=1e-5)


def test_a_pure_tone_lights_the_band_holding_its_frequency():
    rate = 8000
    tone = torch.sin(2 * math.pi * 1000 * torch.arange(4000) / rate)[None]
    mel = log_mel_spectrogram(tone, rate, n_fft=256, hop_length=80, n_mels=20)
    assert mel.shape == (1, 20, 4000 // 80 + 1)
    centers = mel_to_hz(torch.linspace(0, float(hz_to_mel(torch.tensor(4000.0))), 22))[1:-1]
    band = int(mel[0, :, 10:-10].mean(1).argmax())
    assert abs(float(centers[band]) - 1000) < 120


def test_log_mel_power_law_and_pooled_statistics():
    rate = 8000
    x = torch.randn(2, 1600)
    mel = log_mel_spectrogram(x, rate)
    doubled = log_mel_spectrogram(2 * x, rate)
    assert torch.allclose(doubled - mel, torch.full_like(mel, math.log(4.0)), atol=1e-3)
    lengths = torch.tensor([1600, 800])
    pooled = pooled_log_mel(x, lengths, rate)
    assert pooled.shape == (2, 80)
    frames = 800 // 80 + 1
    assert torch.allclose(pooled[1, :40], mel[1, :, :frames].mean(1), atol=1e-5)
    assert torch.allclose(pooled[1, 40:], mel[1, :, :frames].std(1, unbiased=False), atol=1e-4)


def test_bad_band_is_refused():
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2"):
        mel_filterbank(10, 256, 8000, f_max=5000.0)
    with pytest.raises(ValueError, match="n_mels must be >= 1"):
        mel_filterbank(0, 256, 8000)
