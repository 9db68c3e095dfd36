"""2-D maps of embeddings: shapes, and tiny sets that t-SNE cannot map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eblearn.plot.embedding import TSNE_MIN_POINTS, plot_embedding, project_2d


def singular_values(points: np.ndarray, k: int) -> np.ndarray:
    return np.linalg.svd(points - points.mean(0), compute_uv=False)[:k]


@pytest.mark.parametrize("n", [1, 2, 3, 9])
def test_a_handful_of_points_is_mapped_by_pca(n):
    """t-SNE needs a perplexity below the number of points: tiny sets are mapped by PCA."""
    assert n < TSNE_MIN_POINTS
    features = torch.randn(n, 5, generator=torch.Generator().manual_seed(n))
    points = project_2d(features, "tsne")
    assert points.shape == (n, 2) and np.isfinite(points).all()
    k = min(2, n - 1)  # the rank of n centered points
    expected = singular_values(features.double().numpy(), k)
    np.testing.assert_allclose(singular_values(points, k), expected, rtol=1e-4)


def test_pca_of_one_point_is_the_origin():
    assert project_2d(torch.ones(1, 3), "pca").tolist() == [[0.0, 0.0]]


def test_a_two_image_test_set_gets_its_figure(tmp_path):
    path = plot_embedding(torch.randn(2, 4), torch.tensor([0, 1]), tmp_path / "e.png")
    assert path.is_file() and path.stat().st_size > 0


def test_the_legend_names_each_class_shown_once(tmp_path, monkeypatch):
    from eblearn.plot import embedding

    drawn = {}
    monkeypatch.setattr(
        embedding, "save_figure", lambda figure, path: drawn.setdefault("f", figure)
    )
    labels = torch.tensor([0, 2, 2, 0, 2, 0, 0, 2, 2, 0, 2, 0])
    plot_embedding(torch.randn(12, 4), labels, tmp_path / "e.png", classes=["cat", "dog", "emu"])
    legend = drawn["f"].axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["cat", "emu"]
