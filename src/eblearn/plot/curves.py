"""Training curves from a run's ``log.csv``: loss terms, collapse metrics, online probe."""

from __future__ import annotations

import os
from pathlib import Path

from eblearn.plot._figure import new_figure, save_figure


def _series(rows: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    picked = [(row["step"], row[key]) for row in rows if key in row]
    return [p[0] for p in picked], [p[1] for p in picked]


def plot_training_curves(
    rows: list[dict[str, float]], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Draws the loss and its terms per step, and per epoch the collapse metrics and probe.

    Args:
        rows: Rows of a run's log (see :func:`eblearn.train.history.read_history`).
        path: Where to write the PNG.
        title: Figure title.

    Returns:
        The PNG's path.
    """
    figure = new_figure(13, 3.8)
    loss_axes, collapse_axes, probe_axes = figure.subplots(1, 3)
    terms = sorted(
        {k for row in rows for k in row if k.startswith("train/") and k.endswith("_step")}
    )
    for key in terms:
        steps, values = _series(rows, key)
        name = key[len("train/") : -len("_step")]
        loss_axes.plot(steps, values, lw=2.2 if name == "loss" else 1.2, label=name)
    loss_axes.set(xlabel="step", ylabel="loss (weighted terms)", title="loss")
    if terms:
        loss_axes.legend(fontsize=8)

    steps, normalized_std = _series(rows, "collapse/normalized_std")
    collapse_axes.plot(steps, normalized_std, "o-", color="tab:blue", ms=3)
    collapse_axes.set(
        xlabel="step",
        ylabel="std of normalized embeddings × √D",
        title="collapse metrics (per epoch)",
    )
    collapse_axes.yaxis.label.set_color("tab:blue")
    collapse_axes.set_ylim(bottom=0)
    rank_axes = collapse_axes.twinx()
    steps, rank = _series(rows, "collapse/effective_rank")
    rank_axes.plot(steps, rank, "s-", color="tab:orange", ms=3)
    rank_axes.set_ylabel("effective rank", color="tab:orange")
    rank_axes.set_ylim(bottom=0)

    steps, accuracy = _series(rows, "probe/accuracy_epoch")
    probe_axes.plot(
        steps, [100 * a for a in accuracy], "o-", color="tab:green", ms=3,
        label="online linear probe (train views)",
    )  # fmt: skip
    steps, knn = _series(rows, "eval/knn")
    if knn:  # --eval-every
        probe_axes.plot(
            steps, [100 * a for a in knn], "s-", color="tab:purple", ms=3, label="kNN (test)"
        )
        probe_axes.legend(fontsize=8)
    probe_axes.set(xlabel="step", ylabel="accuracy (%)", title="probes during training")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
