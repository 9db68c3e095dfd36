"""The energy lab end to end: files, metrics, the collapse it is meant to show, the CLI."""

from __future__ import annotations

import json

import pytest

from eblearn.app.lab import LabConfig, run_lab
from eblearn.cli import main

TINY = {"n": 128, "batch_size": 64, "resolution": 16, "progress": False, "sampler_steps": 3}


@pytest.mark.parametrize(
    ("data", "model", "loss", "sampler"),
    [
        ("ellipse", "latent", "energy", "none"),
        ("horn", "mlp", "square-square", "hard"),
        ("two-moons", "mlp", "nll", "pcd"),
        ("eight-gaussians", "mlp", "dsm", "none"),
        ("spirals", "mlp", "mee", "generator"),
        ("horn", "latent", "hinge", "cd"),
    ],
)
def test_every_figure_is_written(tmp_path, data: str, model: str, loss: str, sampler: str) -> None:
    config = LabConfig(
        data=data, model=model, loss=loss, sampler=sampler, steps=3, latent_points=8, **TINY
    )
    config.out = str(tmp_path)
    result = run_lab(config)
    names = sorted(p.name for p in result.figures)
    second = "free_energy.png" if model == "latent" else "density.png"
    assert names == sorted(["energy.png", second, "chains.png", "curve.png"])
    assert all(p.exists() for p in result.figures)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["loss"] == loss
    assert set(saved["metrics"]) >= {"loss", "data_energy", "grid_energy"}


def test_a_zero_margin_loss_collapses_where_a_margin_loss_does_not(tmp_path) -> None:
    # Same MLP, same uniform contrastive points: the perceptron loss is satisfied as soon as
    # the data is the lowest (a flat energy), the hinge opens a gap of about the margin.
    gaps = {}
    for loss in ("perceptron", "hinge"):
        config = LabConfig(loss=loss, sampler="uniform", steps=60, out=str(tmp_path / loss))
        config.__dict__.update(TINY)
        metrics = run_lab(config).metrics
        gaps[loss] = metrics["grid_energy"] - metrics["data_energy"]
    assert abs(gaps["perceptron"]) < 0.1
    assert gaps["hinge"] > 0.5


def test_bad_options_are_named(tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="unknown loss 'cosine'; valid choices: energy"):
        run_lab(LabConfig(loss="cosine", out=str(tmp_path)))
    with pytest.raises(ValueError, match="the hinge loss pushes up contrastive points"):
        run_lab(LabConfig(loss="hinge", sampler="none", out=str(tmp_path)))
    with pytest.raises(ValueError, match="score matching needs a smooth energy"):
        run_lab(LabConfig(loss="dsm", sampler="none", model="latent", out=str(tmp_path)))
    assert main(["lab", "--data", "circles", "--out", str(tmp_path)]) == 2
    assert "unknown toy data set 'circles'" in capsys.readouterr().err


def test_the_command_line_runs_a_lab(tmp_path, capsys) -> None:
    args = ["lab", "--data", "ellipse", "--loss", "hinge", "--sampler", "langevin"]
    args += ["--steps", "2", "--n", "64", "--resolution", "16", "--sampler-steps", "2"]
    args += ["--out", str(tmp_path), "--no-progress", "--betas", "inf", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "energy.png" in out
    betas = json.loads((tmp_path / "results.json").read_text())["config"]["betas"]
    assert betas == ["inf", 2.0]  # strict JSON
