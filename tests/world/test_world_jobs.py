"""``eblearn world collect|train|plan`` end to end, at toy sizes."""

from __future__ import annotations

import json
import sys

import pytest

from eblearn.cli import main


def run(*argv: str) -> int:
    return main(["world", *argv])


def test_pendulum_collect_train_plan(tmp_path, capsys):
    pytest.importorskip("gymnasium")
    folder = str(tmp_path / "pendulum")
    assert run("collect", "--env", "pendulum", "--steps", "150", "--run-dir", folder) == 0
    assert "collected 150 transitions in 2 episode(s)" in capsys.readouterr().out
    assert (
        run(
            "train",
            "--run-dir",
            folder,
            "--epochs",
            "2",
            "--hidden",
            "16,16",
            "--policy",
            "--policy-iterations",
            "3",
        )
        == 0
    )
    assert "trained a ForwardModel on 150 transitions" in capsys.readouterr().out
    plans = {
        "gradient": ("--planner-arg", "iterations=1", "--planner-arg", "restarts=2"),
        "cem": ("--planner-arg", "population=16", "--planner-arg", "elites=4"),
        "policy": (),
    }
    for planner, extra in plans.items():
        code = run(
            "plan",
            "--run-dir",
            folder,
            "--planner",
            planner,
            "--episodes",
            "1",
            "--horizon",
            "4",
            *extra,
        )
        assert code == 0
        out = capsys.readouterr().out
        assert "mean return" in out
        assert "model error" in out
        content = json.loads((tmp_path / "pendulum" / f"plan-{planner}-learned.json").read_text())
        assert len(content["returns"]) == 1
        assert content["steps"] == 200
        assert set(content["model_error"]) == {"rmse@1", "rmse@5", "rmse@10"}
        assert (tmp_path / "pendulum" / f"plan-{planner}-learned.png").read_bytes()[
            :4
        ] == b"\x89PNG"
    content = json.loads((tmp_path / "pendulum" / "plan-gradient-learned.json").read_text())
    assert content["evaluations_per_step"] == pytest.approx(2 * 4 * 2 + 4, rel=0.2)
    # The true dynamics need no run folder's model.
    assert (
        run(
            "plan",
            "--env",
            "pendulum",
            "--model",
            "true",
            "--run-dir",
            str(tmp_path / "true"),
            "--planner",
            "mppi",
            "--episodes",
            "1",
            "--horizon",
            "3",
            "--planner-arg",
            "population=8",
            "--planner-arg",
            "iterations=1",
        )
        == 0
    )
    assert (tmp_path / "true" / "plan-mppi-true.json").exists()


def test_two_rooms_from_pixels(tmp_path, capsys):
    folder = str(tmp_path / "rooms")
    assert run("collect", "--env", "two-rooms", "--steps", "120", "--run-dir", folder) == 0
    assert run("train", "--run-dir", folder, "--epochs", "1") == 0
    assert "trained a PixelWorldModel" in capsys.readouterr().out
    code = run(
        "plan",
        "--run-dir",
        folder,
        "--planner",
        "mppi",
        "--episodes",
        "2",
        "--horizon",
        "3",
        "--planner-arg",
        "population=8",
        "--planner-arg",
        "iterations=1",
    )
    assert code == 0
    assert "success rate" in capsys.readouterr().out
    content = json.loads((tmp_path / "rooms" / "plan-mppi-learned.json").read_text())
    assert 0.0 <= content["success_rate"] <= 1.0
    assert "rmse@1" in content["model_error"]
    assert (tmp_path / "rooms" / "plan-mppi-learned.png").exists()


def test_world_command_errors(tmp_path, capsys, monkeypatch):
    folder = str(tmp_path / "rooms")
    assert run("plan", "--run-dir", folder, "--planner", "cem") == 2
    assert "name the environment with --env" in capsys.readouterr().err
    assert run("collect", "--env", "two-rooms", "--steps", "20", "--run-dir", folder) == 0
    assert run("collect", "--env", "two-rooms", "--steps", "20", "--run-dir", folder) == 2
    assert "already holds a run (transitions.pt); pass --overwrite" in capsys.readouterr().err
    assert run("plan", "--run-dir", folder, "--planner", "cem") == 2
    assert "no learned model" in capsys.readouterr().err
    assert run("plan", "--env", "two-rooms", "--model", "true", "--planner", "x") == 2
    assert "unknown planner 'x'; valid choices: cem, gradient, hybrid, mppi, policy" in (
        capsys.readouterr().err
    )
    assert run("collect", "--env", "cartpole", "--run-dir", folder) == 2
    assert "valid environments" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    assert run("collect", "--env", "pendulum", "--run-dir", str(tmp_path / "p")) == 2
    assert "pip install 'eblearn[world]'" in capsys.readouterr().err
