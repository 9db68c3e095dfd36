"""`eblearn train --devices 2` runs DDP on CPU (gloo), end to end from the command line: with
eblearn's SyncBatchNorm, and the evaluation's features extracted by both processes, for the
final figures as for the training curve's kNN point (``--eval-every``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eblearn.train.history import read_history
from tests.train.launch import clean_env


@pytest.mark.skipif(sys.platform == "win32", reason="the DDP launcher re-runs the command")
def test_two_cpu_processes_train_and_rank_zero_evaluates(tmp_path):
    run_dir = tmp_path / "ddp"
    env = clean_env()  # imports the eblearn under test, without launcher variables
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eblearn.cli",
            "train",
            "--devices",
            "2",
            "--accelerator",
            "cpu",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--backbone-arg",
            "width=4",
            "--method-arg",
            "projector_dims=[16,16]",
            "--run-dir",
            str(run_dir),
            "--no-progress",
            "--sync-batchnorm",  # eblearn's SyncBatchNorm: torch's refuses the CPU
            "--eval-every",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in result.stderr  # a second process trained
    assert result.stdout.count("kNN (k=20, cosine)") == 1  # only rank 0 evaluates
    results = json.loads((run_dir / "results.json").read_text())
    assert results["method"] == "vicreg"
    config = (run_dir / "config.yaml").read_text()
    assert "devices: 2" in config and "sync_batchnorm: true" in config

    # The two processes shared the feature extraction; one process finds the same figures.
    again = subprocess.run(
        [sys.executable, "-m", "eblearn.cli", "eval", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    alone = json.loads((run_dir / "eval.json").read_text())["encoder"]
    for probe in ("knn", "linear", "linear_top5"):
        assert alone[probe] == results["encoder"][probe], probe
    # The curve's point after the last epoch, measured by both processes while training,
    # is the kNN figure one process finds afterwards.
    curve = [row["eval/knn"] for row in read_history(run_dir / "log.csv") if "eval/knn" in row]
    assert curve == [pytest.approx(alone["knn"], abs=1e-6)]
