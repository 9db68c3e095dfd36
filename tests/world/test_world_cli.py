"""``eblearn world``: options validated before anything is written, the run folder, signals."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from eblearn.app.run_folder import MANIFEST_FILE, RunFolder
from eblearn.app.world import _prepare_planning, collect_run, plan_run, train_run
from eblearn.cli import build_parser, main
from eblearn.world.critic import Critic
from eblearn.world.io import load_module
from eblearn.world.planners import build_planner
from eblearn.world.two_rooms import TwoRooms


def run(*argv: str) -> int:
    return main(["world", *argv])


def tiny_plan(*extra: str) -> tuple[str, ...]:
    """Options of a plan on the true two-rooms dynamics that takes well under a second."""
    return ("--episodes", "1", "--horizon", "2", "--planner", "mppi",
            "--planner-arg", "population=4", "--planner-arg", "iterations=1", *extra)  # fmt: skip


@pytest.fixture
def rooms(tmp_path):
    """A collected two-rooms run folder (20 transitions)."""
    folder = tmp_path / "rooms"
    assert run("collect", "--env", "two-rooms", "--steps", "20", "--run-dir", str(folder)) == 0
    return folder


@pytest.fixture
def pendulum(tmp_path):
    """A collected pendulum run folder with a tiny model and policy."""
    pytest.importorskip("gymnasium")
    folder = tmp_path / "pendulum"
    assert run("collect", "--env", "pendulum", "--steps", "40", "--run-dir", str(folder)) == 0
    train = ("train", "--run-dir", str(folder), "--epochs", "1", "--hidden", "8")
    assert run(*train, "--policy", "--policy-iterations", "2") == 0
    return folder


def files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()} - {MANIFEST_FILE, ".eblearn.lock"}


# --- zero is not "the default" -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--env", "two-rooms", "--model", "true", "--horizon", "0"],
        ["plan", "--env", "two-rooms", "--model", "true", "--batch", "0"],
        ["plan", "--env", "two-rooms", "--model", "true", "--episodes", "0"],
        ["plan", "--env", "two-rooms", "--model", "true", "--episodes", "-2"],
        ["collect", "--env", "two-rooms", "--run-dir", "x", "--episode-steps", "0"],
        ["collect", "--env", "two-rooms", "--run-dir", "x", "--steps", "0"],
        ["train", "--run-dir", "x", "--epochs", "0"],
        ["train", "--run-dir", "x", "--policy-iterations", "0"],
        ["train", "--run-dir", "x", "--hidden", "16,0"],
    ],
)
def test_the_parser_refuses_counts_below_one(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["world", *argv])
    assert stop.value.code == 2
    assert "must be >= 1, got" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["128,,128", "128;128", "a,b"])
def test_hidden_takes_comma_separated_sizes(text, capsys):
    parser = build_parser()
    assert parser.parse_args(["world", "train", "--run-dir", "x"]).hidden == (128, 128)
    assert parser.parse_args(["world", "train", "--run-dir", "x", "--hidden", "64"]).hidden == (64,)
    with pytest.raises(SystemExit):
        parser.parse_args(["world", "train", "--run-dir", "x", "--hidden", text])
    assert "--hidden" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"horizon": 0}, "horizon must be a positive integer, got 0"),
        ({"batch": 0}, "batch must be a positive integer, got 0"),
        ({"episodes": 0}, "episodes must be a positive integer, got 0"),
    ],
)
def test_plan_run_refuses_counts_below_one(tmp_path, options, message):
    target = tmp_path / "plan"
    settings = {"episodes": 1, "planner_options": {"population": 4, "iterations": 1}}
    with pytest.raises(ValueError, match=message):
        plan_run(target, "two-rooms", "mppi", "true", **{**settings, **options})
    assert not target.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"episode_steps": 0}, "episode_steps must be a positive integer, got 0"),
    ],
)
def test_collect_run_refuses_counts_below_one(tmp_path, options, message):
    target = tmp_path / "data"
    with pytest.raises(ValueError, match=message):
        collect_run("two-rooms", target, **{"steps": 10, **options})
    assert not target.exists()


def test_train_run_refuses_zero_epochs_and_keeps_the_folder(rooms):
    before = files(rooms)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        train_run(rooms, epochs=0)
    with pytest.raises(ValueError, match="every hidden size must be a positive integer, got 0"):
        train_run(rooms, hidden=(8, 0))
    assert files(rooms) == before == {"transitions.pt", "world.json"}


# --- world train does not replace a model silently ------------------------------------------


def test_train_refuses_to_replace_the_model_without_overwrite(pendulum, capsys):
    model = (pendulum / "model.pt").read_bytes()
    capsys.readouterr()
    assert run("train", "--run-dir", str(pendulum), "--epochs", "1", "--hidden", "8") == 2
    err = capsys.readouterr().err
    assert "model.pt' exists; pass --overwrite to replace it" in err
    assert (pendulum / "model.pt").read_bytes() == model
    assert {"policy.pt", "train.json"} <= files(pendulum)


def test_retraining_removes_what_the_old_model_made(pendulum, capsys):
    assert run("plan", "--run-dir", str(pendulum), "--planner", "policy", "--episodes", "1") == 0
    assert run("plan", "--run-dir", str(pendulum), "--model", "true", *tiny_plan()) == 0
    assert {"plan-policy-learned.json", "plan-mppi-true.json"} <= files(pendulum)
    assert (
        run("train", "--run-dir", str(pendulum), "--epochs", "1", "--hidden", "8", "--overwrite")
        == 0
    )
    left = files(pendulum)
    assert "policy.pt" not in left  # retrained without --policy: no stale policy
    assert not any(name.startswith("plan-policy-learned") for name in left)
    assert {"plan-mppi-true.json", "plan-mppi-true.png", "model.pt", "train.json"} <= left
    assert json.loads((pendulum / "train.json").read_text())["epochs"] == 1
    capsys.readouterr()
    assert run("plan", "--run-dir", str(pendulum), "--planner", "policy", "--episodes", "1") == 2
    assert "no policy in" in capsys.readouterr().err
    # The manifest lists exactly the files in the folder: all of them are eblearn's.
    assert set(RunFolder(pendulum, kind="world").written()) == files(pendulum)


def test_world_folders_are_not_mixed_with_other_runs(tmp_path, capsys):
    folder = tmp_path / "train-run"
    folder.mkdir()
    (folder / MANIFEST_FILE).write_text(json.dumps({"kind": "train", "files": []}))
    (folder / "world.json").write_text(json.dumps({"env": "two-rooms"}))
    assert run("train", "--run-dir", str(folder), "--epochs", "1") == 2
    assert "holds an eblearn 'train' run, not a 'world' run" in capsys.readouterr().err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert run("collect", "--env", "two-rooms", "--run-dir", str(foreign), "--overwrite") == 2
    assert "not eblearn's to delete" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"


def test_pixel_tasks_refuse_state_model_options(rooms, capsys):
    assert run("train", "--run-dir", str(rooms), "--latent-dim", "2", "--policy") == 2
    assert (
        "--latent-dim, --policy apply to forward models on states; two-rooms trains a pixel "
        "world model" in capsys.readouterr().err
    )
    assert files(rooms) == {"transitions.pt", "world.json"}


# --- planner options ------------------------------------------------------------------------


def test_unknown_planner_options_name_the_valid_ones(tmp_path, capsys):
    target = str(tmp_path / "plan")
    argv = ("plan", "--env", "two-rooms", "--model", "true", "--run-dir", target)
    assert run(*argv, *tiny_plan("--planner-arg", "popsize=8")) == 2
    assert (
        "unknown option 'popsize' of planner 'mppi'; valid options: init_std, iterations, "
        "latent_mode, latent_samples, population, seed, temperature"
    ) in capsys.readouterr().err
    assert run(*argv, *tiny_plan("--planner-arg", "seed=3")) == 2
    assert "set --seed instead of --planner-arg seed" in capsys.readouterr().err
    assert not os.path.exists(target)
    env = TwoRooms()
    box = (env.action_low, env.action_high)
    with pytest.raises(ValueError, match="unknown option 'restart' of planner 'gradient'"):
        build_planner("gradient", env.dynamics(), env.cost(), 3, *box, restart=2)


def test_planner_options_override_the_task_settings(tmp_path):
    summary = plan_run(
        tmp_path / "plan",
        "two-rooms",
        "cem",
        "true",
        episodes=1,
        horizon=2,
        planner_options={"population": 6, "elites": 2, "iterations": 1, "init_std": 0.25},
    )
    # Per step: N sequences per iteration, then the returned plan once, H model steps each
    # (the task's own settings, 200 x 4, would give 1,602).
    assert summary.content["evaluations_per_step"] == pytest.approx((6 * 1 + 1) * 2)
    assert summary.json_path.name == "plan-cem-true.json"


@pytest.mark.parametrize("step", ["collect", "train", "plan"])
def test_help_shows_the_defaults(step, capsys):
    with pytest.raises(SystemExit):
        main(["world", step, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    expected = {
        "collect": "(default: 2000)",
        "train": "--hidden SIZES hidden layer sizes, comma-separated (default: 128,128)",
        "plan": "(default: gradient)",
    }
    assert expected[step] in out
    assert "--run-dir" in out
    assert "default: None" not in out  # options without a value say what happens instead


# --- plan --critic --------------------------------------------------------------------------


def test_plan_help_documents_the_critic_and_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["world", "plan", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--critic add a learned cost-to-go V(s) as the planner's terminal cost" in out
    assert "for pendulum and mountaincar (default: off)" in out
    assert "value-iteration sweeps when --critic fits a critic (default: 30)" in out


def test_plan_with_a_critic_fits_it_once_then_reuses_it(pendulum, capsys):
    critic = ("--critic", "--critic-sweeps", "1")
    assert run("plan", "--run-dir", str(pendulum), "--model", "true", *tiny_plan(*critic)) == 0
    out = capsys.readouterr().out
    assert "critic-true.pt (fitted now, 1 sweeps, γ = 0.97)" in out
    assert {"critic-true.pt", "critic-true.json", "plan-mppi-critic-true.json"} <= files(pendulum)
    first = (pendulum / "critic-true.pt").read_bytes()
    content = json.loads((pendulum / "plan-mppi-critic-true.json").read_text())
    assert content["critic"] == {
        "file": "critic-true.pt", "fitted_now": True, "sweeps": 1, "discount": 0.97, "seed": 0
    }  # fmt: skip
    # The planner's terminal cost is that critic, loaded back (same settings: not refitted).
    run_ = _prepare_planning(
        pendulum, None, "mppi", "true", 1, None, 2, "mean", False, {"population": 4}, 0,
        critic=True, critic_sweeps=1,
    )  # fmt: skip
    terminal = run_.controller.planner.terminal_cost
    assert isinstance(terminal, Critic) and run_.critic is not None and not run_.critic.fitted
    saved = load_module(pendulum / "critic-true.pt", "critic")
    states = torch.randn(5, 3)
    torch.testing.assert_close(terminal(states), saved(states))
    assert (pendulum / "critic-true.pt").read_bytes() == first
    # Other settings fit a new one (checked without planning).
    other = _prepare_planning(
        pendulum, None, "mppi", "true", 1, None, 2, "mean", False, {"population": 4}, 0,
        critic=True, critic_sweeps=2,
    )  # fmt: skip
    assert other.critic is not None and other.critic.fitted


def test_retraining_removes_the_critic_of_the_learned_model(pendulum):
    critic = ("--critic", "--critic-sweeps", "1")
    assert run("plan", "--run-dir", str(pendulum), *tiny_plan(*critic)) == 0
    assert {"critic-learned.pt", "critic-learned.json", "plan-mppi-critic-learned.json"} <= files(
        pendulum
    )
    train = ("train", "--run-dir", str(pendulum), "--epochs", "1", "--hidden", "8")
    assert run(*train, "--overwrite") == 0
    left = files(pendulum)
    assert not any(name.startswith(("critic-learned", "plan-mppi-critic-learned")) for name in left)
    assert {"transitions.pt", "world.json", "model.pt"} <= left


@pytest.mark.parametrize(
    ("where", "argv", "message"),
    [
        ("rooms", ["--model", "true", *tiny_plan("--critic")], "applies to mountaincar, pendulum"),
        ("pendulum", ["--planner", "policy", "--critic"], "--planner policy takes none"),
        ("pendulum", ["--model", "true", *tiny_plan("--critic", "--critic-sweeps", "0")], None),
    ],
)
def test_plan_refuses_a_critic_it_cannot_fit_before_acting(where, argv, message, request, capsys):
    folder = request.getfixturevalue(where)
    before = {name: (folder / name).read_bytes() for name in files(folder)}
    if message is None:  # a parser error
        with pytest.raises(SystemExit) as stop:
            run("plan", "--run-dir", str(folder), *argv)
        assert stop.value.code == 2
        assert "must be >= 1, got 0" in capsys.readouterr().err
    else:
        assert run("plan", "--run-dir", str(folder), *argv) == 2
        assert message in capsys.readouterr().err
    assert {name: (folder / name).read_bytes() for name in files(folder)} == before


def test_a_critic_needs_collected_states(tmp_path, capsys):
    pytest.importorskip("gymnasium")
    target = tmp_path / "plan"
    argv = ("plan", "--env", "pendulum", "--model", "true", "--run-dir", str(target))
    assert run(*argv, *tiny_plan("--critic")) == 2
    assert "--critic is fitted on the collected states of a run" in capsys.readouterr().err
    assert not target.exists()


# --- signals --------------------------------------------------------------------------------


class _Unhandled(Exception):
    """Raised by the test's own SIGTERM handler: the job did not handle the signal."""


@pytest.fixture
def sigterm_guard():
    """Without interruptible(), a SIGTERM would raise _Unhandled instead of killing pytest."""

    def handler(signum, frame):
        raise _Unhandled("SIGTERM reached the test's handler")

    previous = signal.signal(signal.SIGTERM, handler)
    yield
    signal.signal(signal.SIGTERM, previous)


def _terminate(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("the signal should have stopped the job")


def test_sigterm_during_train_keeps_the_old_model(pendulum, monkeypatch, sigterm_guard, capsys):
    before = {name: (pendulum / name).read_bytes() for name in ("model.pt", "policy.pt")}
    monkeypatch.setattr("eblearn.app.world.fit_forward_model", _terminate)
    argv = ("train", "--run-dir", str(pendulum), "--epochs", "1", "--hidden", "8")
    assert run(*argv, "--overwrite") == 143
    assert "interrupted (SIGTERM)" in capsys.readouterr().err
    assert {name: (pendulum / name).read_bytes() for name in before} == before
    assert RunFolder(pendulum, kind="world").holder() is None  # the lock was released


def test_sigterm_during_plan_writes_nothing(tmp_path, monkeypatch, sigterm_guard):
    monkeypatch.setattr("eblearn.app.world.run_episodes", _terminate)
    target = tmp_path / "plan"
    argv = ("plan", "--env", "two-rooms", "--model", "true", "--run-dir", str(target))
    assert run(*argv, *tiny_plan()) == 143
    assert not target.exists()
