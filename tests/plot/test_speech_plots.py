import pytest
import torch
from matplotlib.image import imread

from eblearn.plot.speech import plot_codebook_usage, plot_label_curves, plot_span_mask


def _is_png(path):
    image = imread(path)
    return image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_span_mask_figure_and_its_checks(tmp_path):
    mask = torch.zeros(20, dtype=torch.bool)
    mask[3:8] = True
    assert _is_png(plot_span_mask(torch.randn(1600), mask, 80, tmp_path / "m.png"))
    with pytest.raises(ValueError, match="run past the waveform"):
        plot_span_mask(torch.randn(800), mask, 80, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="must be 1-D"):
        plot_span_mask(torch.randn(2, 800), mask, 80, tmp_path / "bad.png")


def test_codebook_usage_figure_and_its_checks(tmp_path):
    indices = torch.randint(8, (100, 2))
    assert _is_png(plot_codebook_usage(indices, 8, tmp_path / "c.png"))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        plot_codebook_usage(indices, 4, tmp_path / "bad.png")


def test_label_curves(tmp_path):
    curves = {"a": [(60, 0.5), (300, 0.8)], "b": [(300, 0.7), (60, 0.4)]}
    assert _is_png(plot_label_curves(curves, tmp_path / "l.png"))
