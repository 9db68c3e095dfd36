"""Figures of 2-D energies: heat maps with data on top, free energies, sampler chains, curves.

Every energy is evaluated on the grid in one batched call. Functions take a plain callable
``fn(points (N, 2)) -> (N,)`` so that conditional energies (``lambda y: energy(y, x)``),
free energies and densities all draw the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from torch import Tensor

from eblearn.plot._figure import new_figure, save_figure

Bounds = tuple[float, float, float, float]
"""``(x_min, x_max, y_min, y_max)`` of the plotted square."""

GridFn = Callable[[Tensor], Tensor]


def evaluate_on_grid(fn: GridFn, bounds: Bounds, resolution: int = 150) -> np.ndarray:
    """``fn`` on a ``resolution × resolution`` grid over ``bounds``, in one call.

    Returns:
        Array of shape ``(resolution, resolution)``, row ``i`` at height ``y_i`` (for
        ``imshow(origin="lower")``).
    """
    x_min, x_max, y_min, y_max = bounds
    xs = torch.linspace(x_min, x_max, resolution)
    ys = torch.linspace(y_min, y_max, resolution)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)
    with torch.no_grad():
        values = fn(points)
    if values.shape != (resolution * resolution,):
        raise ValueError(
            f"the function must return one value per point, shape ({resolution**2},), "
            f"got {tuple(values.shape)}"
        )
    return values.detach().cpu().numpy().reshape(resolution, resolution)


def draw_heat_map(
    axes: Axes,
    values: np.ndarray,
    bounds: Bounds,
    data: Tensor | None = None,
    negatives: Tensor | None = None,
    title: str = "",
    clip_quantile: float = 0.99,
    colorbar: bool = True,
    label: str = "energy",
    gamma: float = 0.5,
) -> None:
    """Draws ``values`` as a heat map, with points on top.

    The colours follow a power law (``gamma``; 1 is linear) between the minimum and the
    ``clip_quantile`` quantile, so that the shape of the low-energy valleys stays visible next
    to steep walls; the colour bar is in the values' units.
    """
    high = float(np.quantile(values, clip_quantile))
    low = float(values.min())
    high = high if high > low else low + 1e-6
    image = axes.imshow(
        np.clip(values, low, high),
        origin="lower",
        extent=bounds,
        cmap="viridis",
        aspect="auto",
        norm=PowerNorm(gamma, vmin=low, vmax=high),
    )
    if data is not None:
        axes.scatter(data[:, 0], data[:, 1], s=3, c="white", alpha=0.6, linewidths=0)
    if negatives is not None:
        axes.scatter(negatives[:, 0], negatives[:, 1], s=6, c="tab:red", marker="x", lw=0.6)
    axes.set(xlim=bounds[:2], ylim=bounds[2:], title=title, xticks=[], yticks=[])
    if colorbar:
        axes.figure.colorbar(image, ax=axes, shrink=0.8, label=label)


def plot_energy_panels(
    panels: Sequence[tuple[str, GridFn]],
    path: str | os.PathLike[str],
    bounds: Bounds,
    data: Sequence[Tensor | None] | Tensor | None = None,
    negatives: Tensor | None = None,
    suptitle: str = "",
    resolution: int = 150,
    label: str = "energy",
    gamma: float = 0.5,
) -> Path:
    """Heat maps side by side, one per ``(title, fn)``, each with the data on top.

    Args:
        panels: Titles and functions ``(N, 2) -> (N,)``.
        path: Where to write the PNG.
        bounds: The plotted square.
        data: Points drawn on every panel, or one tensor (or ``None``) per panel.
        negatives: Contrastive points drawn on the first panel.
        suptitle: Figure title.
        resolution: Grid points per side.
        label: Colour-bar label.
        gamma: Power of the colour scale (1 for linear, as for densities).

    Returns:
        The PNG's path.

    Example:
        >>> import tempfile
        >>> out = plot_energy_panels(
        ...     [("‖y‖²", lambda p: p.pow(2).sum(1))], tempfile.mktemp(suffix=".png"),
        ...     (-1, 1, -1, 1), resolution=20)
        >>> out.exists()
        True
    """
    if not panels:
        raise ValueError("give at least one panel")
    per_panel: list[Tensor | None] = (
        list(data) if isinstance(data, (list, tuple)) else [data] * len(panels)  # type: ignore[list-item]
    )
    figure = new_figure(max(5.5, 4.2 * len(panels)), 3.8)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for i, ((title, fn), ax) in enumerate(zip(panels, axes)):
        values = evaluate_on_grid(fn, bounds, resolution)
        draw_heat_map(
            ax,
            values,
            bounds,
            per_panel[i],
            negatives if i == 0 else None,
            title,
            label=label,
            gamma=gamma,
            clip_quantile=0.99 if gamma != 1 else 1.0,
        )
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return save_figure(figure, path)


def plot_chains(
    fn: GridFn,
    chains: Mapping[str, Tensor],
    path: str | os.PathLike[str],
    bounds: Bounds,
    n_paths: int = 4,
    resolution: int = 150,
    suptitle: str = "",
) -> Path:
    """One panel per sampler: the energy, a few chain paths and every chain's final state.

    Args:
        fn: The energy ``(N, 2) -> (N,)``.
        chains: Sampler name → states ``(T + 1, B, 2)``.
        path: Where to write the PNG.
        bounds: The plotted square.
        n_paths: Chains whose whole path is drawn.
        resolution: Grid points per side.
        suptitle: Figure title.
    """
    if not chains:
        raise ValueError("give at least one chain")
    values = evaluate_on_grid(fn, bounds, resolution)
    figure = new_figure(max(5.5, 4.2 * len(chains)), 3.8)
    axes = figure.subplots(1, len(chains), squeeze=False)[0]
    for ax, (name, states) in zip(axes, chains.items()):
        if states.ndim != 3 or states.shape[2] != 2:
            raise ValueError(f"chain {name!r} must have shape (T + 1, B, 2), got {states.shape}")
        draw_heat_map(ax, values, bounds, title=name, colorbar=False)
        final = states[-1]
        ax.scatter(final[:, 0], final[:, 1], s=4, c="white", alpha=0.7, linewidths=0)
        for b in range(min(n_paths, states.shape[1])):
            ax.plot(states[:, b, 0], states[:, b, 1], "-", color="tab:orange", lw=0.6, alpha=0.8)
            ax.plot(states[0, b, 0], states[0, b, 1], "o", color="tab:red", ms=3)
        steps = states.shape[0] - 1
        ax.set_title(f"{name} ({steps} steps, {states.shape[1]} chains)")
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return save_figure(figure, path)


def plot_lab_curves(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """The training curve of the lab: the loss, and the energies that show collapse.

    Args:
        history: ``step`` and any of ``loss``, ``data_energy``, ``negative_energy``,
            ``grid_energy`` (mean energy over the plotted square).
        path: Where to write the PNG.
        title: Figure title.
    """
    steps = history["step"]
    figure = new_figure(10, 3.6)
    loss_axes, energy_axes = figure.subplots(1, 2)
    loss_axes.plot(steps, history["loss"], lw=1.2)
    loss_axes.set(xlabel="step", ylabel="loss", title="loss")
    for key, name in (
        ("data_energy", "data F(y)"),
        ("negative_energy", "contrastive F(ȳ)"),
        ("grid_energy", "mean F over the square"),
    ):
        if history.get(key):
            energy_axes.plot(steps[: len(history[key])], history[key], lw=1.2, label=name)
    energy_axes.set(xlabel="step", ylabel="energy", title="energies (equal = collapsed)")
    plotted = [
        abs(v)
        for key in ("data_energy", "negative_energy", "grid_energy")
        for v in history.get(key, [])
    ]
    if plotted and max(plotted) > 10:
        energy_axes.set_yscale("symlog", linthresh=1.0)  # linear within ±1, log beyond
    if plotted:  # fitted lab models log a loss only
        energy_axes.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
