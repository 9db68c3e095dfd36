"""Waveform views: each does what it promises, checked from the math."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.data.speech_views import (
    SpeechViews,
    add_noise,
    change_speed,
    random_crop,
    random_gain,
)


def sine(frequency: float, n: int = 2000, rate: int = 8000) -> torch.Tensor:
    return torch.sin(2 * math.pi * frequency * torch.arange(n) / rate)


def peak_hz(x: torch.Tensor, rate: int = 8000) -> float:
    spectrum = torch.fft.rfft(x * torch.hann_window(len(x))).abs()
    return float(spectrum.argmax()) * rate / len(x)


def test_random_crop_is_a_window_of_the_real_samples():
    x = torch.arange(1.0, 21.0).repeat(50, 1)
    lengths = torch.full((50,), 12)
    x[:, 12:] = 0
    crops, n = random_crop(x, lengths, 5, torch.Generator().manual_seed(0))
    assert n.tolist() == [5] * 50
    starts = crops[:, 0] - 1
    assert torch.equal(crops, starts[:, None] + 1 + torch.arange(5.0))
    assert int(starts.min()) == 0 and int(starts.max()) == 7  # every start in 0..7 reachable


def test_random_crop_keeps_short_rows_whole():
    crops, n = random_crop(torch.tensor([[1.0, 2.0, 0.0, 0.0]]), torch.tensor([2]), 3)
    assert crops.tolist() == [[1.0, 2.0, 0.0]] and n.tolist() == [2]


def test_gain_scales_each_row_within_the_range():
    x = torch.randn(200, 30)
    y, _ = random_gain(x, None, -6.0, 6.0, torch.Generator().manual_seed(0))
    ratio_db = 20 * torch.log10(y.norm(dim=1) / x.norm(dim=1))
    assert float(ratio_db.min()) >= -6.0 - 1e-4 and float(ratio_db.max()) <= 6.0 + 1e-4
    assert float(ratio_db.std()) > 2.0  # uniform on 12 dB has std 3.5
    assert torch.allclose(y / x, (y / x)[:, :1].expand_as(x), atol=1e-5)


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_has_the_requested_snr(snr):
    x = sine(440.0, 4000).repeat(8, 1) * torch.linspace(0.5, 2.0, 8)[:, None]
    y, _ = add_noise(x, None, snr, torch.Generator().manual_seed(0))
    noise = y - x
    measured = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
    assert torch.allclose(measured, torch.full((8,), snr), atol=0.3)


def test_noise_leaves_padding_zero():
    x = torch.ones(1, 10)
    x[0, 6:] = 0
    y, _ = add_noise(x, torch.tensor([6]), 10.0)
    assert torch.equal(y[0, 6:], torch.zeros(4))


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_speed_multiplies_frequency_and_divides_duration(factor):
    x = sine(500.0, 2000)[None]
    lengths = torch.tensor([1600])
    x[:, 1600:] = 0
    y, n = change_speed(x, lengths, factor)
    assert int(n) == math.floor(1599 / factor) + 1 or int(n) == 2000
    assert peak_hz(y[0, : min(int(n), 1200)]) == pytest.approx(500 * factor, rel=0.03)


def test_speed_one_is_the_identity_and_interpolates_linearly():
    x = torch.randn(3, 50)
    y, n = change_speed(x, None, 1.0)
    assert torch.allclose(y, x) and n.tolist() == [50] * 3
    y, _ = change_speed(x, None, torch.tensor([0.5, 1.0, 2.0]))
    assert torch.allclose(y[0, 1], (x[0, 0] + x[0, 1]) / 2)
    assert torch.allclose(y[2, :25], x[2, ::2])


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="speed factors must be > 0"):
        change_speed(torch.zeros(1, 4), None, 0.0)
    with pytest.raises(ValueError, match=r"waveforms must be a tensor of shape \(B, T\)"):
        random_gain(torch.zeros(4))
    with pytest.raises(ValueError, match="lengths must lie"):
        add_noise(torch.zeros(1, 4), torch.tensor([5]))
    with pytest.raises(ValueError, match="speed_range"):
        SpeechViews(10, speed_range=(1.2, 1.1))(torch.zeros(1, 20), None)


def test_views_of_one_batch_differ_and_have_the_crop_length():
    recipe = SpeechViews(crop_length=300)
    x = sine(300.0, 1000).repeat(4, 1)
    generator = torch.Generator().manual_seed(0)
    a, na = recipe(x, None, generator)
    b, nb = recipe(x, None, generator)
    assert a.shape == b.shape == (4, 300) and not torch.allclose(a, b)
    assert na.tolist() == nb.tolist() == [300] * 4
