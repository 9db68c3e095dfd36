"""2-D maps of embeddings, points colored by class, by cluster, or not at all."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from torch import Tensor

from eblearn.plot._figure import new_figure, save_figure

MAX_POINTS = 3000
TSNE_ITERATIONS = 500
"""Half of scikit-learn's default: the map settles well before on a few thousand points."""
TSNE_MIN_POINTS = 10
"""Fewer points are mapped by PCA: t-SNE needs a perplexity below the number of points."""


def project_2d(features: Tensor, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """Projects ``(N, D)`` features to ``(N, 2)`` with t-SNE (cosine) or PCA.

    Fewer than :data:`TSNE_MIN_POINTS` points are projected by PCA whatever ``method`` says;
    a missing second axis (one point, or features of rank 1) is zero.

    Raises:
        ValueError: On an unknown ``method`` (valid: ``tsne``, ``pca``).
    """
    if method not in ("tsne", "pca"):
        raise ValueError(f"unknown projection {method!r}; valid choices: tsne, pca")
    x = features.float().cpu().numpy()
    if method == "pca" or len(x) < TSNE_MIN_POINTS:
        centered = x - x.mean(0)
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        points = np.zeros((len(x), 2), dtype=x.dtype)
        axes = vt[:2]  # (≤ 2, D)
        points[:, : len(axes)] = centered @ axes.T
        return points
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
    return TSNE(
        n_components=2,
        init="pca",
        metric="cosine",
        perplexity=perplexity,
        max_iter=TSNE_ITERATIONS,
        random_state=seed,
    ).fit_transform(x)


def plot_embedding(
    features: Tensor,
    labels: Tensor | None,
    path: str | os.PathLike[str],
    classes: Sequence[str] = (),
    title: str = "",
    method: str = "tsne",
    seed: int = 0,
    legend_title: str = "class",
) -> Path:
    """Draws a 2-D projection of ``features`` ``(N, D)`` colored by ``labels`` ``(N,)``.

    At most :data:`MAX_POINTS` points, drawn at random, are shown. With ``labels=None`` the
    points are drawn in one color (data without labels); labels may also be cluster ids
    (``legend_title="K-means cluster"``).

    Raises:
        ValueError: If ``labels`` has another length than ``features``, or on an unknown
            ``method``.
    """
    if labels is not None and len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    if len(features) > MAX_POINTS:
        keep = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))
        keep = keep[:MAX_POINTS]
        features = features[keep]
        labels = labels[keep] if labels is not None else None
    points = project_2d(features, method, seed)
    figure = new_figure(6.4, 5.6)
    axes = figure.subplots()
    axes.set(xticks=[], yticks=[], title=title or f"{method.upper()} of the embeddings")
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], color="tab:blue", s=9, alpha=0.6, linewidths=0)
        return save_figure(figure, path)
    label_array = labels.cpu().numpy()
    present = np.unique(label_array)
    colormap = matplotlib.colormaps["tab10" if present.max(initial=0) < 10 else "tab20"]
    names = list(classes) if classes else [str(i) for i in present]
    for label in present:  # one scatter per class: the legend names exactly the classes shown
        at = label_array == label
        name = names[label] if classes and 0 <= label < len(names) else str(label)
        color = colormap(int(label) % colormap.N)
        axes.scatter(
            points[at, 0], points[at, 1], color=color, s=9, alpha=0.85, linewidths=0, label=name
        )
    if len(present) <= 20:
        axes.legend(
            fontsize=7,
            loc="best",
            markerscale=0.8,
            title=legend_title,
            title_fontsize=8,
        )
    return save_figure(figure, path)
