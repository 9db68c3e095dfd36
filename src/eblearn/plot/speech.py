"""Figures of the speech models: span masking over a waveform, codebook usage, and probe
accuracy against the number of labels."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from eblearn.plot._figure import new_figure, save_figure


def plot_span_mask(
    waveform: Tensor,
    mask: Tensor,
    hop: int,
    path: str | os.PathLike[str],
    sample_rate: int = 8000,
    title: str = "",
) -> Path:
    """A waveform ``(T,)`` with its masked frames ``mask`` ``(T',)`` shaded, frame ``j``
    covering samples ``[j · hop, (j + 1) · hop)``.

    Raises:
        ValueError: If the shapes are not ``(T,)`` and ``(T',)`` or the frames run past ``T``.
    """
    if waveform.ndim != 1 or mask.ndim != 1:
        raise ValueError(
            f"waveform and mask must be 1-D (T,) and (T',), got {tuple(waveform.shape)} "
            f"and {tuple(mask.shape)}"
        )
    if len(mask) * hop > len(waveform) + hop:
        raise ValueError(
            f"{len(mask)} frames of {hop} samples run past the waveform's {len(waveform)}"
        )
    figure = new_figure(7.0, 2.6)
    axes = figure.subplots()
    seconds = np.arange(len(waveform)) / sample_rate
    axes.plot(seconds, waveform.detach().float().cpu().numpy(), lw=0.6, color="black")
    for j in np.flatnonzero(mask.cpu().numpy()):
        axes.axvspan(
            j * hop / sample_rate, (j + 1) * hop / sample_rate, color="C1", alpha=0.35, lw=0
        )
    axes.set(
        xlabel="time (s)",
        ylabel="amplitude",
        title=title or f"span masking: {int(mask.sum())} of {len(mask)} frames masked (orange)",
    )
    return save_figure(figure, path)


def plot_codebook_usage(
    indices: Tensor, entries: int, path: str | os.PathLike[str], title: str = ""
) -> Path:
    """How often each codebook entry is chosen, sorted, one panel per group.

    Args:
        indices: ``(N, G)`` chosen entries of ``N`` frames (a quantizer's ``indices``).
        entries: ``V``, entries per codebook.

    Raises:
        ValueError: If ``indices`` is not ``(N, G)`` or holds entries outside ``[0, V)``.
    """
    if indices.ndim != 2 or len(indices) == 0:
        raise ValueError(f"indices must be (N, G) with N >= 1, got {tuple(indices.shape)}")
    if int(indices.min()) < 0 or int(indices.max()) >= entries:
        raise ValueError(f"indices must lie in [0, {entries}) (the codebook's entries)")
    groups = indices.shape[1]
    figure = new_figure(3.2 * groups, 2.8)
    panels = np.atleast_1d(figure.subplots(1, groups))
    for g, axes in enumerate(panels):
        counts = np.bincount(indices[:, g].cpu().numpy(), minlength=entries)
        share = np.sort(counts)[::-1] / counts.sum()
        nonzero = share[share > 0]
        perplexity = float(np.exp(-(nonzero * np.log(nonzero)).sum()))
        axes.bar(np.arange(entries), share, width=1.0, color="C0")
        axes.set(
            xlabel="entry (sorted by use)",
            ylabel="share of frames",
            title=(
                f"group {g}: {int((counts > 0).sum())}/{entries} used, perplexity {perplexity:.1f}"
            ),
        )
        axes.title.set_fontsize(8)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def plot_label_curves(
    curves: Mapping[str, Sequence[tuple[int, float]]],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Accuracy against the number of labeled recordings (log scale), one line per model.

    Args:
        curves: Model name to ``(labels, accuracy)`` points.
    """
    figure = new_figure(5.6, 4.0)
    axes = figure.subplots()
    for name, points in curves.items():
        labels, accuracy = zip(*sorted(points), strict=True)
        axes.plot(labels, accuracy, "o-", label=name)
    axes.set(
        xscale="log",
        xlabel="labeled recordings",
        ylabel="test accuracy",
        ylim=(0, 1),
        title=title or "spoken digits: accuracy against labels",
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)
