"""Bar charts comparing methods side by side (``eblearn bench``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from eblearn.plot._figure import new_figure, save_figure


def plot_method_comparison(
    methods: Sequence[str],
    accuracies: Mapping[str, Sequence[float]],
    throughput: Sequence[float | None],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Grouped bars of each method's accuracies, and a second panel of its images per second.

    Args:
        methods: Method names, one bar group each.
        accuracies: Metric name → one accuracy in [0, 1] per method.
        throughput: Training images per second per method (``None`` where not measured).
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        The PNG's path.

    Raises:
        ValueError: If a metric does not have one value per method.
    """
    for name, values in accuracies.items():
        if len(values) != len(methods):
            raise ValueError(f"metric {name!r} has {len(values)} values for {len(methods)} methods")
    figure = new_figure(max(8.0, 0.9 * len(methods) + 5.0), 4.2)
    accuracy_axes, speed_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    positions = np.arange(len(methods))
    width = 0.8 / max(1, len(accuracies))
    for i, (name, values) in enumerate(accuracies.items()):
        offset = (i - (len(accuracies) - 1) / 2) * width
        bars = accuracy_axes.bar(positions + offset, [100 * v for v in values], width, label=name)
        if len(methods) <= 6:  # beyond, the labels overlap
            accuracy_axes.bar_label(bars, fmt="%.0f", fontsize=6, padding=1)
    accuracy_axes.set_xticks(positions, methods, rotation=30, ha="right")
    accuracy_axes.set(ylabel="test accuracy (%)", ylim=(0, 118), title="frozen-encoder probes")
    accuracy_axes.set_yticks(range(0, 101, 20))
    accuracy_axes.grid(axis="y", alpha=0.3)
    accuracy_axes.legend(fontsize=7, ncols=len(accuracies), loc="upper center", frameon=False)
    speeds = [float(s) if s is not None else 0.0 for s in throughput]
    speed_axes.barh(positions, speeds, color="tab:gray")
    speed_axes.set_yticks(positions, methods)
    speed_axes.invert_yaxis()
    speed_axes.set(xlabel="training images / s", title="throughput")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
