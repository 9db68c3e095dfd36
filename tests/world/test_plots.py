"""World figures are written as PNGs and refuse mismatched inputs."""

from __future__ import annotations

import pytest
import torch

from eblearn.plot.world import (
    pendulum_features,
    plot_planned_trajectories,
    plot_returns,
    plot_two_rooms_paths,
)
from eblearn.world.control import Episode

PNG = b"\x89PNG"


def pendulum_episode() -> Episode:
    theta = torch.linspace(3.0, 0.0, 21)
    states = torch.stack((theta.cos(), theta.sin(), -0.5 * torch.ones(21)), -1)
    plans = [(0, states[:11] + 0.05), (10, states[10:])]
    return Episode(states, torch.zeros(20, 1), -torch.ones(20), plans, [0.01] * 20)


def test_pendulum_features_recover_the_angle():
    theta = torch.tensor([0.5, -2.0, 3.0])
    states = torch.stack((theta.cos(), theta.sin(), torch.ones(3)), -1)
    torch.testing.assert_close(pendulum_features(states)[:, 0], theta)


def test_angle_lines_break_where_they_wrap():
    from eblearn.plot.world import _break_wraps

    values = _break_wraps(torch.tensor([3.0, 3.1, -3.1, -3.0, 0.0]).numpy())
    assert values[2] != values[2]  # NaN at the wrap
    assert values.tolist()[3:] == [-3.0, 0.0]


def test_planned_trajectories_figure(tmp_path):
    path = plot_planned_trajectories(
        pendulum_episode(),
        tmp_path / "plan.png",
        ("θ", "θ̇"),
        features=pendulum_features,
        dt=0.05,
        title="t",
        angles=(0,),
    )
    assert path.read_bytes()[:4] == PNG
    with pytest.raises(ValueError, match="2 names for 3 plotted features"):
        plot_planned_trajectories(pendulum_episode(), tmp_path / "x.png", ("a", "b"))


def test_two_rooms_and_returns_figures(tmp_path):
    states = torch.tensor([[0.2, 0.2], [0.45, 0.45], [0.55, 0.5], [0.8, 0.3]])
    episode = Episode(states, torch.zeros(3, 2), torch.zeros(3), success=True)
    path = plot_two_rooms_paths(
        [episode], torch.tensor([[0.8, 0.3]]), tmp_path / "rooms.png", planned=[states]
    )
    assert path.read_bytes()[:4] == PNG
    path = plot_returns({"a": [-1.0, -2.0], "b": [-1.5, -1.0]}, tmp_path / "returns.png")
    assert path.read_bytes()[:4] == PNG
    with pytest.raises(ValueError, match="the same number of starts"):
        plot_returns({"a": [-1.0], "b": [-1.0, -2.0]}, tmp_path / "bad.png")
