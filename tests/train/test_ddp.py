"""`eblearn train --devices 2` runs DDP on CPU (gloo), end to end from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.skipif(sys.platform == "win32", reason="the DDP launcher re-runs the command")
def test_two_cpu_processes_train_and_rank_zero_evaluates(tmp_path):
    run_dir = tmp_path / "ddp"
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "EBLEARN_RUN_DIR")}
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
