"""Energy figures: the grid evaluation is one batched call in the right orientation."""

from __future__ import annotations

import pytest
import torch
from matplotlib.image import imread

from eblearn.plot.energy import (
    evaluate_on_grid,
    plot_chains,
    plot_energy_panels,
    plot_lab_curves,
)


def test_grid_is_one_call_with_rows_along_y() -> None:
    calls = []

    def fn(points: torch.Tensor) -> torch.Tensor:
        calls.append(len(points))
        return points[:, 0] + 10 * points[:, 1]

    values = evaluate_on_grid(fn, (0.0, 1.0, 0.0, 2.0), resolution=3)
    assert calls == [9]
    assert values[0].tolist() == pytest.approx([0.0, 0.5, 1.0])  # bottom row, y = 0
    assert values[:, 0].tolist() == pytest.approx([0.0, 10.0, 20.0])  # left column


def test_figures_are_written(tmp_path) -> None:
    energy = lambda p: p.pow(2).sum(1)  # noqa: E731
    square = (-1.0, 1.0, -1.0, 1.0)
    panels = plot_energy_panels(
        [("a", energy), ("b", lambda p: -energy(p))],
        tmp_path / "panels.png",
        square,
        data=torch.zeros(3, 2),
        negatives=torch.ones(2, 2) * 0.5,
        resolution=16,
    )
    chains = plot_chains(
        energy, {"toy": torch.randn(5, 3, 2) * 0.3}, tmp_path / "chains.png", square, resolution=16
    )
    curve = plot_lab_curves(
        {"step": [0, 1], "loss": [1.0, 0.5], "data_energy": [0.2, 0.1], "grid_energy": [1, 2]},
        tmp_path / "curve.png",
    )
    for path in (panels, chains, curve):
        image = imread(path)
        assert image.ndim == 3
        assert image.shape[0] > 100


def test_bad_inputs_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="one value per point"):
        evaluate_on_grid(lambda p: p, (0, 1, 0, 1), resolution=4)
    with pytest.raises(ValueError, match="at least one panel"):
        plot_energy_panels([], tmp_path / "x.png", (0, 1, 0, 1))
    with pytest.raises(ValueError, match=r"must have shape \(T \+ 1, B, 2\)"):
        plot_chains(
            lambda p: p.sum(1), {"bad": torch.zeros(3, 2)}, tmp_path / "x.png", (0, 1, 0, 1)
        )
