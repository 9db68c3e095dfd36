"""Figures of the latent-variable models: atoms, reconstructions, code spaces, CVAE samples,
and the energy reached by LISTA against the iterations of ISTA and FISTA."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from torch import Tensor

from eblearn.plot._figure import new_figure, save_figure
from eblearn.plot.embedding import project_2d


def _as_images(images: Tensor, shape: tuple[int, ...] | None, what: str) -> np.ndarray:
    """``(N, D)`` rows (with ``shape``), ``(N, H, W)`` or ``(N, C, H, W)`` to ``(N, H, W[, C])``."""
    array = images.detach().float().cpu()
    if shape is not None:
        if int(np.prod(shape)) != array[0].numel():
            raise ValueError(
                f"{what}: rows of {array[0].numel()} values cannot be shown as shape {shape}"
            )
        array = array.reshape(len(array), *shape)
    if array.ndim == 4:
        array = array[:, 0] if array.shape[1] == 1 else array.permute(0, 2, 3, 1)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{what} must be (N, D) rows with a shape, (N, H, W) or (N, C, H, W) images, "
            f"got shape {tuple(images.shape)}"
        )
    return array.numpy()


def _show(
    axes: Axes,
    image: np.ndarray,
    symmetric: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> None:
    if image.ndim == 3:  # color: scale each image into [0, 1]
        low, high = image.min(), image.max()
        axes.imshow((image - low) / (high - low + 1e-12), interpolation="nearest")
    elif symmetric:
        bound = np.abs(image).max() + 1e-12
        axes.imshow(image, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    else:
        axes.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set(xticks=[], yticks=[])


def plot_atoms(
    atoms: Tensor,
    path: str | os.PathLike[str],
    shape: tuple[int, ...] | None = None,
    columns: int | None = None,
    title: str = "",
) -> Path:
    """Draws dictionary atoms (or filters) as a grid of small images.

    Each gray atom is drawn with its own symmetric color scale (red positive, blue negative);
    color atoms are rescaled into [0, 1].

    Args:
        atoms: ``(K, D)`` rows with ``shape`` (e.g. ``(8, 8)``), or ``(K, [C,] h, w)``.
        path: Where to write the PNG.
        shape: The image shape of each row.
        columns: Grid columns (default ``ceil(sqrt(K))``).
        title: Figure title.

    Returns:
        The PNG's path.

    Raises:
        ValueError: If the atoms cannot be shown with the given shape.
    """
    images = _as_images(atoms, shape, "atoms")
    k = len(images)
    columns = columns or math.ceil(math.sqrt(k))
    rows = math.ceil(k / columns)
    figure = new_figure(0.55 * columns + 0.2, 0.55 * rows + (0.45 if title else 0.2))
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index < k:
            _show(axes, images[index], symmetric=images.ndim == 3)
        else:
            axes.axis("off")
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


def plot_reconstructions(
    originals: Tensor,
    reconstructions: Mapping[str, Tensor],
    path: str | os.PathLike[str],
    shape: tuple[int, ...] | None = None,
    title: str = "",
) -> Path:
    """Draws originals in the first row and each model's reconstructions below.

    Args:
        originals: ``(N, D)`` rows with ``shape``, or ``(N, [C,] H, W)`` images.
        reconstructions: Model name to reconstructions of the same shape.
        path: Where to write the PNG.
        shape: The image shape of each row.
        title: Figure title.

    Raises:
        ValueError: If a reconstruction's shape differs from the originals'.
    """
    for name, images in reconstructions.items():
        if images.shape != originals.shape:
            raise ValueError(
                f"reconstructions {name!r} have shape {tuple(images.shape)}, the originals "
                f"{tuple(originals.shape)}"
            )
    rows = {"input": _as_images(originals, shape, "originals")}
    rows.update({name: _as_images(v, shape, name) for name, v in reconstructions.items()})
    n = len(rows["input"])
    low = min(float(r.min()) for r in rows.values())
    high = max(float(r.max()) for r in rows.values())
    figure = new_figure(0.6 * n + 1.6, 0.62 * len(rows) + (0.4 if title else 0.1))
    grid = figure.subplots(len(rows), n, squeeze=False)
    for row, (name, row_images) in enumerate(rows.items()):
        for column in range(n):
            _show(grid[row, column], row_images[column], vmin=low, vmax=high)
        grid[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


def plot_code_space(
    codes: Tensor,
    labels: Tensor,
    path: str | os.PathLike[str],
    classes: Sequence[str] = (),
    title: str = "",
) -> Path:
    """Scatters codes ``(N, Z)`` colored by class: the first two coordinates when ``Z = 2``,
    else their first two principal components.

    Raises:
        ValueError: If codes and labels differ in length.
    """
    if len(codes) != len(labels):
        raise ValueError(f"{len(codes)} codes but {len(labels)} labels")
    points = codes.detach().float().cpu().numpy()
    if points.shape[1] != 2:
        points = project_2d(codes, method="pca")
    label_array = labels.cpu().numpy()
    figure = new_figure(5.6, 5.0)
    axes = figure.subplots()
    scatter = axes.scatter(
        points[:, 0], points[:, 1], c=label_array, cmap="tab10", s=7, alpha=0.8, linewidths=0
    )
    names = list(classes) if classes else [str(c) for c in np.unique(label_array)]
    handles, _ = scatter.legend_elements(num=len(np.unique(label_array)))
    axes.legend(handles, names[: len(handles)], fontsize=7, title="class", title_fontsize=8)
    axes.set(xlabel="z₁", ylabel="z₂", title=title or "code space")
    axes.set_aspect("equal", adjustable="datalim")
    return save_figure(figure, path)


def plot_future_samples(
    context: Tensor,
    truth: Tensor,
    deterministic: Tensor | None,
    samples: Tensor | Mapping[str, Tensor],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """One row per clip: past frames, the true next frame, the deterministic prediction, and
    latent-variable samples (of one model, or of several side by side).

    Args:
        context: ``(N, T, H, W)`` past frames.
        truth: ``(N, H, W)``.
        deterministic: ``(N, H, W)``, or ``None`` for no deterministic column.
        samples: ``(N, S, H, W)``, or a mapping from a model's short name to its samples
            ``(N, S_m, H, W)`` (the columns are headed ``name i``).
        path: Where to write the PNG.
        title: Figure title.

    Raises:
        ValueError: If the shapes do not agree.
    """
    n, t = context.shape[:2]
    groups = {"sample": samples} if isinstance(samples, Tensor) else dict(samples)
    shown = [truth] if deterministic is None else [truth, deterministic]
    if (
        not groups
        or any(frame.shape != truth.shape or frame.shape[0] != n for frame in shown)
        or any(group.shape[0] != n for group in groups.values())
    ):
        raise ValueError(
            "context (N, T, H, W), truth and deterministic (N, H, W) and samples (N, S, H, W) "
            f"must agree, got {tuple(context.shape)}, {tuple(truth.shape)}, "
            f"{None if deterministic is None else tuple(deterministic.shape)}, "
            f"{ {name: tuple(group.shape) for name, group in groups.items()} }"
        )
    headers = [f"t-{t - i}" for i in range(t)] + ["truth"]
    headers += [] if deterministic is None else ["deterministic"]
    for name, group in groups.items():
        headers += [f"{name} {i + 1}" for i in range(group.shape[1])]
    columns = len(headers)
    figure = new_figure(0.75 * columns + 0.3, 0.8 * n + 0.6)
    grid = figure.subplots(n, columns, squeeze=False)
    for row in range(n):
        frames = [*context[row], *(frame[row] for frame in shown)]
        frames += [frame for group in groups.values() for frame in group[row]]
        for column, frame in enumerate(frames):
            _show(grid[row, column], frame.detach().float().cpu().numpy(), vmin=0.0, vmax=1.0)
            if row == 0:
                grid[row, column].set_title(headers[column], fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


def plot_energy_vs_depth(
    lista: Mapping[str, Mapping[int, float]],
    solvers: Mapping[str, Sequence[float]],
    minimum: float,
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Mean energy above the minimum: LISTA against its depth, solvers against iterations.

    Args:
        lista: Curve label (e.g. ``"LISTA, trained on the energy"``) to a mapping from depth
            ``T`` to LISTA-``T``'s mean energy; each label is one line with markers.
        solvers: Solver name (``"ISTA"``, ``"FISTA"``) to its mean energy after each iteration.
        minimum: The minimum mean energy (from a converged solver); the y axis is the gap to it.
        path: Where to write the PNG.
        title: Figure title.
    """
    figure = new_figure(6.4, 4.4)
    axes = figure.subplots()
    # Gaps below float32's relative resolution of the energies are rounding noise: draw them
    # at that floor instead of letting them flicker down to zero.
    floor = max(float(np.finfo(np.float32).eps) * abs(minimum), 1e-12)
    for name, history in solvers.items():
        steps = np.arange(1, len(history) + 1)
        gaps = np.maximum(np.asarray(history) - minimum, floor)
        axes.plot(steps, gaps, lw=1.6, label=f"{name} (iterations)")
    for (label, curve), marker in zip(lista.items(), itertools.cycle("osD^v"), strict=False):
        depths = sorted(curve)
        gaps = np.maximum(np.asarray([curve[d] for d in depths]) - minimum, floor)
        axes.plot(depths, gaps, f"{marker}-", lw=2, ms=5, label=f"{label} (layers)")
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="iterations / layers",
        ylabel="mean energy − minimum",
        title=title or "sparse coding: energy reached",
    )
    axes.axhline(floor, color="gray", ls=":", lw=1, label="float32 resolution")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)
