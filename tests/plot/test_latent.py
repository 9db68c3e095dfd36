import pytest
import torch
from matplotlib.image import imread

from eblearn.plot import (
    plot_atoms,
    plot_code_space,
    plot_energy_vs_depth,
    plot_future_samples,
    plot_reconstructions,
)


def _is_png(path):
    image = imread(path)
    return image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_atoms_as_rows_gray_maps_and_color_filters(tmp_path):
    assert _is_png(plot_atoms(torch.randn(10, 64), tmp_path / "rows.png", shape=(8, 8)))
    assert _is_png(plot_atoms(torch.randn(6, 1, 5, 5), tmp_path / "gray.png", title="filters"))
    assert _is_png(plot_atoms(torch.randn(4, 3, 5, 5), tmp_path / "rgb.png", columns=2))
    with pytest.raises(ValueError, match=r"rows of 64 values cannot be shown as shape \(7, 7\)"):
        plot_atoms(torch.randn(3, 64), tmp_path / "bad.png", shape=(7, 7))


def test_reconstructions(tmp_path):
    x = torch.rand(5, 64)
    path = plot_reconstructions(
        x, {"PCA": x * 0.9, "VAE": x.flip(0)}, tmp_path / "r.png", shape=(8, 8)
    )
    assert _is_png(path)
    with pytest.raises(ValueError, match="reconstructions 'AE' have shape"):
        plot_reconstructions(x, {"AE": x[:2]}, tmp_path / "bad.png", shape=(8, 8))


def test_code_space_in_two_and_more_dimensions(tmp_path):
    labels = torch.arange(40) % 4
    assert _is_png(plot_code_space(torch.randn(40, 2), labels, tmp_path / "two.png"))
    assert _is_png(
        plot_code_space(torch.randn(40, 5), labels, tmp_path / "five.png", classes="abcd")
    )
    with pytest.raises(ValueError, match="40 codes but 3 labels"):
        plot_code_space(torch.randn(40, 2), labels[:3], tmp_path / "bad.png")


def test_future_samples(tmp_path):
    path = plot_future_samples(
        torch.rand(3, 2, 16, 16),
        torch.rand(3, 16, 16),
        torch.rand(3, 16, 16),
        torch.rand(3, 4, 16, 16),
        tmp_path / "f.png",
    )
    assert _is_png(path)
    with pytest.raises(ValueError, match="must agree"):
        plot_future_samples(
            torch.rand(3, 2, 16, 16),
            torch.rand(2, 16, 16),
            torch.rand(3, 16, 16),
            torch.rand(3, 4, 16, 16),
            tmp_path / "bad.png",
        )


def test_future_samples_of_several_models_side_by_side(tmp_path):
    import matplotlib.image as mpimg

    clips = torch.rand(2, 2, 8, 8)
    one = plot_future_samples(
        clips, torch.rand(2, 8, 8), None, torch.rand(2, 4, 8, 8), tmp_path / "one.png"
    )
    two = plot_future_samples(
        clips,
        torch.rand(2, 8, 8),
        None,
        {"CVAE": torch.rand(2, 4, 8, 8), "MCL": torch.rand(2, 4, 8, 8)},
        tmp_path / "two.png",
    )
    assert _is_png(one) and _is_png(two)
    # 2 past + truth + 4 columns against 2 past + truth + 2 × 4: the second is wider
    assert mpimg.imread(two).shape[1] > mpimg.imread(one).shape[1]
    with pytest.raises(ValueError, match="must agree"):
        plot_future_samples(
            clips, torch.rand(2, 8, 8), None, {"CVAE": torch.rand(3, 4, 8, 8)}, tmp_path / "b.png"
        )


def test_energy_vs_depth(tmp_path):
    history = [1.0 / (1 + i) + 0.5 for i in range(50)]
    path = plot_energy_vs_depth(
        {"LISTA (codes)": {1: 1.2, 2: 0.9, 5: 0.6}, "LISTA (energy)": {1: 1.1, 3: 0.7}},
        {"ISTA": history, "FISTA": history[::2]},
        0.5,
        tmp_path / "e.png",
    )
    assert _is_png(path)
