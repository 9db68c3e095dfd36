"""``eblearn train`` and ``eval`` as a user meets them: bad input, signals, concurrency, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from eblearn.cli import main
from tests.test_cli import TINY as CLI_TINY

assert CLI_TINY[:2] == ["--epochs", "2"]
TINY = CLI_TINY[2:]  # the tiny settings without their epochs: the tests below set them
SRC = str(Path(__file__).parents[2] / "src")


def run_cli(*arguments: str) -> subprocess.Popen[str]:
    """``eblearn ARGS`` in a fresh interpreter (signals and locks are per process)."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "eblearn.cli", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.2)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_training_non_zero_keeping_the_checkpoint(tmp_path, signum, code):
    run_dir = tmp_path / "run"
    process = run_cli("train", *TINY, "--epochs", "200", "--run-dir", str(run_dir))
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    wait_for(checkpoint, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err[-2000:]
    assert "interrupted" in err and "resume with --resume" in err
    assert "Traceback" not in err
    import torch

    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] >= 0 and "state_dict" in saved
    assert not (run_dir / "results.json").exists()
    assert not list(run_dir.rglob("*.tmp"))


def test_a_second_train_on_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    run_dir = tmp_path / "run"
    first = run_cli("train", *TINY, "--epochs", "200", "--run-dir", str(run_dir))
    try:
        wait_for(run_dir / "checkpoints" / "last.ckpt", first)
        seconds = [  # at once: each spends most of its time importing torch
            run_cli("train", *TINY, "--epochs", "200", "--run-dir", str(run_dir), *extra)
            for extra in ([], ["--resume"], ["--overwrite"])
        ]
        for second in seconds:
            _, err = second.communicate(timeout=240)
            assert second.returncode == 2, err[-2000:]
            assert f"is in use by process {first.pid}" in err
    finally:
        first.kill()
        first.wait()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["epochs"] == 200


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "done"
    assert (
        main(["train", *TINY, "--epochs", "1", "--warmup-epochs", "0", "--run-dir", str(run_dir)])
        == 0
    )
    return run_dir


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope"], "unknown method 'nope'"),
        (["--accelerator", "gpu"], "none is available"),
        (["--backbone-arg", "depth=3"], "backbone 'convnet' has no option(s) depth; valid: width"),
        (["--method-arg", "projector_dims=abc"], "method 'vicreg' cannot be built"),
        (["--method-arg", "colour=2"], "has no hyper-parameter(s) colour"),
        (["--image-size", "2"], "image_size must be >= 8 pixels"),
        (["--augmentation-arg", "colour=2"], "unknown augmentation option(s) colour; valid:"),
        (["--augmentation-arg", "crop_scale=[0.9,0.1]"], "crop_scale must satisfy 0 < low"),
        (["--data", "npz:/no/such.npz"], "does not exist"),
    ],
)
def test_overwrite_with_a_bad_option_deletes_nothing(finished_run, capsys, extra, message):
    before = snapshot(finished_run)
    assert main(["train", *TINY, "--run-dir", str(finished_run), "--overwrite", *extra]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(finished_run) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lr", "0.5"], "lr (saved"),
        (["--epochs", "3"], "epochs (saved 1, given 3)"),
        (["--method-arg", "nu_param=3"], "method_args"),
    ],
)
def test_resume_refuses_options_it_would_ignore(finished_run, capsys, extra, message):
    before = snapshot(finished_run)
    assert main(["train", "--run-dir", str(finished_run), "--resume", *extra]) == 2
    err = capsys.readouterr().err
    assert "--resume continues the saved run, so these options cannot change" in err
    assert message in err and "A resume may change only run_dir, progress_bar" in err
    assert snapshot(finished_run) == before


@pytest.mark.parametrize(
    "argument",
    [
        ["--epochs", "0"],
        ["--batch-size", "0"],
        ["--image-size", "0"],
        ["--devices", "0"],
        ["--lr", "0"],
        ["--lr", "nan"],
        ["--warmup-epochs", "-1"],
        ["--accelerator", "tpu"],
        ["--precision", "64"],
        ["--memory-format", "nhwc"],
        ["--method-arg", "projector_dims=[1,"],
        ["--method-arg", "=3"],
        ["--backbone-arg", "width"],
        ["--augmentation-arg", "brightness"],
    ],
)
def test_values_the_parser_refuses_exit_2(argument, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argument, "--run-dir", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert f"argument {argument[0]}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: [1\n", "is not valid YAML at line"),
        ('epochs: "two"\n', "epochs must be an integer, got 'two'"),
        ("epochs: 1.5\n", "epochs must be an integer, got 1.5"),
        ("batch_size: [64]\n", "batch_size must be an integer, got [64]"),
        ('lr: "abc"\n', "lr must be a number, got 'abc'"),
        ("method_args: 5\n", "method_args must be a mapping of names to values, got 5"),
        ("run_dir: 5\n", "run_dir must be a string, got 5"),
        ('online_probe: "no"\n', "online_probe must be true or false, got 'no'"),
        ("epochs: 0\n", "epochs must be >= 1, got 0"),
        ("image_size: 0\n", "image_size must be a positive integer or None, got 0"),
        ("- 1\n", "must hold a mapping"),
        ("learning_rate: 1\n", "unknown config key(s) learning_rate"),
    ],
)
def test_config_files_with_bad_yaml_or_types(tmp_path, capsys, text, message):
    (tmp_path / "run.yaml").write_text(text)
    run_dir = tmp_path / "r"
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--run-dir", str(run_dir)]) == 2
    assert message in capsys.readouterr().err
    assert not run_dir.exists()


def test_eval_on_a_malformed_or_foreign_folder(tmp_path, capsys, finished_run):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text("epochs: [\n")
    assert main(["eval", str(broken)]) == 2
    assert "is not valid YAML" in capsys.readouterr().err
    (broken / "config.yaml").write_text("epochs: 3\n")
    assert main(["eval", str(broken)]) == 2
    assert "lacks method, data" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["eval", str(a_file)]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err


def test_eval_refuses_nan_features_by_name(finished_run, tmp_path, capsys):
    import shutil

    import torch

    copy = tmp_path / "nan"
    shutil.copytree(finished_run, copy)
    checkpoint = torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)
    for name, value in checkpoint["state_dict"].items():
        if name.startswith("method.encoder") and value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(checkpoint, copy / "checkpoints" / "last.ckpt")
    assert main(["eval", str(copy)]) == 2
    assert "the encoder gives NaN or Inf features for" in capsys.readouterr().err
    assert not (copy / "eval.json").exists()


def test_eval_writes_into_the_run_and_registers_its_files(finished_run, capsys):
    assert main(["eval", str(finished_run)]) == 0
    manifest = json.loads((finished_run / ".eblearn-manifest.json").read_text())
    assert {"eval.json", "config.yaml", "checkpoints/last.ckpt", "encoder.pt"} <= set(
        manifest["files"]
    )
    results = json.loads((finished_run / "eval.json").read_text())
    assert results["encoder"]["knn"] > 0.5  # a 1-epoch VICReg on digits is far above chance


def test_the_interruption_message_belongs_to_the_job():
    from eblearn.app.interrupt import Interrupted, interruptible

    def nested_jobs() -> None:
        with interruptible("outer hint"), interruptible("inner hint"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)

    with pytest.raises(Interrupted) as outer:
        nested_jobs()
    assert outer.value.exit_code == 143
    assert outer.value.message() == "interrupted (SIGTERM); outer hint"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_raw_pixel_baseline_is_computed_once_per_data_set(tmp_path, monkeypatch):
    from eblearn.app import evaluation
    from tests.train.conftest import tiny_digits

    monkeypatch.setenv("EBLEARN_CACHE", str(tmp_path / "cache"))
    calls = []
    real = evaluation.evaluate_raw_pixels

    def counted(data, **protocol):
        calls.append(data.name)
        return real(data, **protocol)

    monkeypatch.setattr(evaluation, "evaluate_raw_pixels", counted)
    data = tiny_digits()
    protocol = {"knn_k": 5, "knn_temperature": 0.07, "seed": 0}
    first = evaluation.raw_pixel_baseline(data, **protocol)
    second = evaluation.raw_pixel_baseline(data, **protocol)
    assert calls == ["digits"] and second == first  # the same figures, read back exactly
    evaluation.raw_pixel_baseline(data, **{**protocol, "knn_k": 7})  # another protocol
    smaller = type(data)("digits", data.train.subset(torch.arange(300)), data.test)
    evaluation.raw_pixel_baseline(smaller, **protocol)  # other images, same name
    assert len(calls) == 3
    for path in (tmp_path / "cache" / "baselines").iterdir():
        path.write_text("{not json")
    assert evaluation.raw_pixel_baseline(data, **protocol) == first  # corrupt: recomputed
    assert len(calls) == 4
    monkeypatch.setenv("EBLEARN_CACHE", "off")
    evaluation.raw_pixel_baseline(data, **protocol)
    assert len(calls) == 5


def test_the_probes_draw_with_the_probe_seed_not_the_runs(tmp_path, monkeypatch):
    """Runs of different seeds on one data set are scored on the same subsets and splits, and
    share one cached raw-pixel baseline (the first run of a new seed used to recompute it)."""
    from types import SimpleNamespace

    from eblearn.app import evaluation
    from eblearn.evaluate.protocol import PROBE_SEED, evaluate_features, raw_pixel_features
    from tests.train.conftest import tiny_digits

    monkeypatch.setenv("EBLEARN_CACHE", str(tmp_path / "cache"))
    calls = []
    real = evaluation.evaluate_raw_pixels
    monkeypatch.setattr(
        evaluation, "evaluate_raw_pixels", lambda data, **p: calls.append(p) or real(data, **p)
    )
    data = tiny_digits()
    generator = torch.Generator().manual_seed(0)
    projection = torch.randn(64, 16, generator=generator)
    features = tuple(raw_pixel_features(s.images) @ projection for s in (data.train, data.test))
    protocol = {"knn_k": 5, "knn_temperature": 0.07}
    reports = []
    for seed in (0, 3):
        run = SimpleNamespace(config=SimpleNamespace(seed=seed, **protocol), data=data)
        reports.append(evaluation.evaluate_pretrained(run, features=features)[:2])
    assert reports[0] == reports[1]
    assert [c["seed"] for c in calls] == [PROBE_SEED]  # computed once, for both seeds
    labels = (data.train.labels, data.test.labels)
    by_seed = [
        evaluate_features(features[0], labels[0], features[1], labels[1], **protocol, seed=s)
        for s in (PROBE_SEED, 3)
    ]
    assert reports[0][0] == by_seed[0]
    assert by_seed[0].few_label != by_seed[1].few_label  # the seed would change the scores


# --- --logger tensorboard ---------------------------------------------------------------------


def tiny_unlabeled_run(tmp_path: Path, name: str, *extra: str) -> Path:
    """A 1-epoch run of 4 steps on 64 random 8×8 images without labels (no probes)."""
    data = tmp_path / "tiny.npz"
    if not data.exists():
        images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
        np.savez(data, images=images)
    run_dir = tmp_path / name
    tiny = [*TINY, "--batch-size", "16", "--epochs", "1", "--warmup-epochs", "0"]
    arguments = [*tiny, "--data", f"npz:{data}", "--run-dir", str(run_dir), *extra]
    assert main(["train", *arguments]) == 0
    return run_dir


def test_tensorboard_logger_writes_the_loss_beside_an_unchanged_log_csv(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from eblearn.app.run_folder import Mode
    from eblearn.app.train import train_folder
    from eblearn.train.history import read_history

    plain = tiny_unlabeled_run(tmp_path, "plain")
    run_dir = tiny_unlabeled_run(tmp_path, "board", "--logger", "tensorboard")
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["logger"] == "tensorboard"
    assert not (plain / "tensorboard").exists()
    # log.csv is the csv run's, byte for byte (same seed, same steps)
    assert (run_dir / "log.csv").read_bytes() == (plain / "log.csv").read_bytes()
    events = sorted((run_dir / "tensorboard").iterdir())
    assert len(events) == 1 and events[0].name.startswith("events.out.tfevents.")
    folder = train_folder(run_dir)
    assert "tensorboard/" + events[0].name in folder.written()
    assert not (run_dir / "lightning_logs").exists()
    board = EventAccumulator(str(run_dir / "tensorboard"))
    board.Reload()
    history = read_history(run_dir / "log.csv")
    for key, logged in (("train/loss_step", 4), ("train/loss_epoch", 1)):  # 64 images / 16
        rows = [r for r in history if key in r]
        scalars = board.Scalars(key)
        assert len(rows) == logged
        assert [s.step for s in scalars] == [int(r["step"]) for r in rows]
        for scalar, row in zip(scalars, rows, strict=True):
            assert scalar.value == pytest.approx(row[key], rel=1e-6)
    # --overwrite deletes the event files eblearn wrote, never a file it did not write
    (run_dir / "tensorboard" / "notes.txt").write_text("mine")
    with folder.claimed(Mode.OVERWRITE, command="test"):
        assert not events[0].exists()
    assert (run_dir / "tensorboard" / "notes.txt").read_text() == "mine"


def test_tensorboard_logger_without_the_package_is_refused_touching_nothing(
    tmp_path, capsys, monkeypatch
):
    import importlib.util

    finished_run = tiny_unlabeled_run(tmp_path, "done")
    tmp_path = tmp_path / "empty"
    tmp_path.mkdir()

    find_spec = importlib.util.find_spec

    def without_tensorboard(name, *args, **kwargs):
        return None if name.split(".")[0] == "tensorboard" else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_tensorboard)
    new = tmp_path / "new"
    assert main(["train", *TINY, "--run-dir", str(new), "--logger", "tensorboard"]) == 2
    assert "pip install tensorboard" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    before = snapshot(finished_run)
    arguments = ["--run-dir", str(finished_run), "--overwrite", "--logger", "tensorboard"]
    assert main(["train", *TINY, *arguments]) == 2
    assert "pip install tensorboard" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_augmentation_args_reach_the_run_config(tmp_path):
    run_dir = tmp_path / "run"
    strength = ["--augmentation-arg", "brightness=0.8", "--augmentation-arg", "crop_scale=[0.5,1]"]
    assert main(["train", *TINY, "--epochs", "1", *strength, "--run-dir", str(run_dir)]) == 0
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["augmentation_args"] == {"brightness": 0.8, "crop_scale": [0.5, 1]}


def test_view_size_trains_smaller_views_and_evaluates_at_the_image_size(tmp_path, capsys):
    run_dir = tmp_path / "run"
    smaller = ["--epochs", "1", "--view-size", "12", "--run-dir", str(run_dir)]
    assert main(["train", *TINY, *smaller]) == 0
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["image_size"], config["view_size"]) == (16, 12)
    capsys.readouterr()
    refused = tmp_path / "refused"
    too_deep = ["--backbone-arg", "stages=5", "--view-size", "8", "--run-dir", str(refused)]
    assert main(["train", *TINY, "--epochs", "1", *too_deep]) == 2
    assert "cannot train on 8 px views" in capsys.readouterr().err
    assert not refused.exists()  # checked before the folder was made


def test_memory_format_is_given_and_recorded(tmp_path):
    run_dir = tmp_path / "run"
    given = ["--epochs", "1", "--precision", "32", "--memory-format", "channels_last"]
    assert main(["train", *TINY, *given, "--run-dir", str(run_dir)]) == 0
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["precision"], config["memory_format"]) == ("32", "channels_last")
    record = json.loads((run_dir / "precision.json").read_text())
    assert (record["source"], record["channels_last"]) == ("requested", True)
