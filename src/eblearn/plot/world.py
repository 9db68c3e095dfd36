"""World-model figures: planned against executed trajectories, two-rooms paths, returns."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eblearn.plot._figure import new_figure, save_figure
from eblearn.world.control import Episode
from eblearn.world.tasks import Task
from eblearn.world.two_rooms import TwoRoomsDynamics


def pendulum_features(states: Tensor) -> Tensor:
    """``(cos θ, sin θ, θ̇) → (θ, θ̇)`` for plotting, shape ``(..., 2)``."""
    theta = torch.atan2(states[..., 1], states[..., 0])
    return torch.stack((theta, states[..., 2]), -1)


def _break_wraps(values: np.ndarray) -> np.ndarray:
    """NaN where an angle in (-π, π] wraps around, so the line is not drawn across the plot."""
    values = values.astype(float).copy()
    jumps = np.abs(np.diff(values)) > np.pi
    values[1:][jumps] = np.nan
    return values


def plot_planned_trajectories(
    episode: Episode,
    path: str | os.PathLike[str],
    names: Sequence[str],
    features: Callable[[Tensor], Tensor] | None = None,
    dt: float = 1.0,
    title: str = "",
    angles: Sequence[int] = (),
) -> Path:
    """One panel per state feature: the executed trajectory and the plans made along it.

    Each recorded plan (predicted states from the step it was made) is drawn as a thin line
    starting where it was made, so a plan that the execution follows is a line under the
    thick one, and model error shows as plans that drift away from it.

    Args:
        episode: An episode with recorded plans (``run_episodes(..., record_every=k)``).
        path: Where to write the PNG.
        names: Names of the plotted features (one panel each).
        features: Maps states ``(..., S)`` to the plotted features ``(..., len(names))``
            (identity by default).
        dt: Seconds per step (the x axis is in seconds when given, steps otherwise).
        title: Figure title.
        angles: Indices of features that are angles in ``(-π, π]``: their lines break where
            they wrap around instead of crossing the panel.

    Returns:
        The PNG's path.

    Raises:
        ValueError: If ``names`` does not match the features' size.
    """
    transform = features or (lambda s: s)
    executed = transform(episode.states).cpu().numpy()
    if executed.shape[-1] != len(names):
        raise ValueError(f"{len(names)} names for {executed.shape[-1]} plotted features")
    figure = new_figure(4.2 * len(names), 3.4)
    axes_list = figure.subplots(1, len(names), squeeze=False)[0]
    time = np.arange(len(executed)) * dt
    for index, axes in enumerate(axes_list):
        wrap = _break_wraps if index in angles else (lambda v: v)
        for count, (step, planned) in enumerate(episode.plans):
            values = wrap(transform(planned).cpu().numpy()[:, index])
            axes.plot(
                (step + np.arange(len(values))) * dt,
                values,
                color="tab:orange",
                lw=0.9,
                alpha=0.7,
                label="planned" if count == 0 else None,
            )
        axes.plot(time, wrap(executed[:, index]), color="tab:blue", lw=2.0, label="executed")
        axes.set(xlabel="time (s)" if dt != 1.0 else "step", ylabel=names[index])
    axes_list[0].legend(fontsize=8, loc="best")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def _draw_rooms(axes: object, dynamics: TwoRoomsDynamics) -> None:
    low, high = dynamics.left_face, dynamics.right_face
    for y0, y1 in ((0.0, dynamics.door_low), (dynamics.door_high, 1.0)):
        axes.fill_between([low, high], y0, y1, color="0.35", lw=0)  # type: ignore[attr-defined]
    axes.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xticks=[], yticks=[])  # type: ignore[attr-defined]


def plot_two_rooms_paths(
    episodes: Sequence[Episode],
    goals: Tensor,
    path: str | os.PathLike[str],
    dynamics: TwoRoomsDynamics | None = None,
    planned: Sequence[Tensor | None] | None = None,
    title: str = "",
) -> Path:
    """Executed paths in the two rooms (circle: start, star: its goal, red cross: a failure).

    Args:
        episodes: Episodes whose states are positions ``(T + 1, 2)``.
        goals: Goal of each episode ``(E, 2)``.
        path: Where to write the PNG.
        dynamics: The geometry drawn (default layout if ``None``).
        planned: Optional first plan of each episode as positions ``(H + 1, 2)``, drawn dashed.
        title: Figure title.

    Returns:
        The PNG's path.
    """
    dynamics = dynamics or TwoRoomsDynamics()
    figure = new_figure(5.2, 5.2)
    axes = figure.subplots()
    _draw_rooms(axes, dynamics)
    colors = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:purple",
        "tab:brown",
        "tab:pink",
        "tab:olive",
        "tab:cyan",
    ]
    for index, episode in enumerate(episodes):
        color = colors[index % len(colors)]
        xy = episode.states.cpu().numpy()
        axes.plot(xy[:, 0], xy[:, 1], "-", color=color, lw=1.6)
        axes.plot(xy[0, 0], xy[0, 1], "o", color=color, ms=5)
        axes.plot(
            float(goals[index, 0]),
            float(goals[index, 1]),
            "*",
            ms=13,
            color=color,
            markeredgecolor="k",
            markeredgewidth=0.6,
        )
        if not episode.success:  # where a failed episode ended
            axes.plot(xy[-1, 0], xy[-1, 1], "X", ms=9, color="tab:red", markeredgecolor="k")
        if planned is not None and planned[index] is not None:
            plan = planned[index].cpu().numpy()  # type: ignore[union-attr]
            axes.plot(plan[:, 0], plan[:, 1], "--", color=color, lw=0.9, alpha=0.8)
    axes.set_title(title or "two rooms: executed paths")
    return save_figure(figure, path)


def plot_returns(
    returns: Mapping[str, Sequence[float]],
    path: str | os.PathLike[str],
    ylabel: str = "return",
    title: str = "",
) -> Path:
    """Per-start returns of several controllers, side by side (one group per start).

    Args:
        returns: Controller name → returns, one per start (same starts for all).
        path: Where to write the PNG.
        ylabel: Y axis label.
        title: Figure title (the means are added to the legend).

    Returns:
        The PNG's path.

    Raises:
        ValueError: If the controllers have different numbers of starts.
    """
    counts = {len(v) for v in returns.values()}
    if len(counts) != 1:
        raise ValueError(f"every controller needs the same number of starts, got {counts}")
    (count,) = counts
    figure = new_figure(max(6.0, 0.45 * count + 2), 3.6)
    axes = figure.subplots()
    width = 0.8 / len(returns)
    for index, (name, values) in enumerate(returns.items()):
        axes.bar(
            np.arange(count) + (index - (len(returns) - 1) / 2) * width,
            values,
            width,
            label=f"{name} (mean {np.mean(values):.1f})",
        )
    axes.set(xlabel="start", ylabel=ylabel, xticks=np.arange(count), title=title)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(returns))
    return save_figure(figure, path)


def draw_task_episodes(
    task: Task,
    episodes: Sequence[Episode],
    resets: Sequence[dict[str, Any]],
    path: str | os.PathLike[str],
    title: str,
    decode: Callable[[Tensor], Tensor] | None = None,
) -> Path:
    """Draws a task's evaluated ``episodes`` (started from ``resets``) to the PNG ``path``.

    State tasks draw the first episode's executed trajectory with the plans made along it;
    two-rooms draws every given episode's path, start and goal, and its first plan. The
    figure's kind is the task's ``figure`` (see :data:`eblearn.world.tasks.FIGURES`).

    Args:
        task: The task.
        episodes: Episodes recorded with plans (``run_episodes(..., record_every=k)``).
        resets: Their resets.
        path: The PNG to write.
        title: The figure's title.
        decode: Maps planned states to positions when plans are embeddings.
    """
    if task.figure == "rooms":
        goals = torch.stack([r["goal"] for r in resets[: len(episodes)]])
        planned = [e.plans[0][1] if e.plans else None for e in episodes]
        if decode is not None:
            planned = [None if p is None else decode(p) for p in planned]
        dynamics = task.env().dynamics()
        if not isinstance(dynamics, TwoRoomsDynamics):
            raise ValueError(f"{task.name} is not a two-rooms task")
        return plot_two_rooms_paths(list(episodes), goals, path, dynamics, planned, title=title)
    pendulum = task.figure == "pendulum"  # the angle is wrapped: draw (cos, sin), unroll it
    return plot_planned_trajectories(
        episodes[0],
        path,
        task.state_names,
        features=pendulum_features if pendulum else None,
        dt=task.dt,
        title=title,
        angles=(0,) if pendulum else (),
    )
