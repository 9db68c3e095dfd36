"""A rank killed mid-run: the survivor stops with an error naming it, the checkpoint of the
last finished epoch is intact, and ``--resume`` continues it on another number of processes.

Two torchrun "nodes" of one process train on this host (gloo); once the first epoch's
checkpoint exists, node 1's worker is killed with SIGKILL (nothing of it runs any more, as on
a machine that fails). Node 0 must exit non-zero well within ``--dist-timeout``, saying that
rank 1 was lost; then the run resumes as one process with the global batch kept (16 images
per step instead of 2 × 8), so it ends on the step count of the full schedule.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from eblearn.train.checkpoint import load_checkpoint
from tests.train.launch import finish, run_cli, start_nodes, tiny_npz, train_args

EPOCHS = 40
DIST_TIMEOUT_S = 20
"""The collectives' timeout; the survivor of a killed peer must stop well within it."""


def worker_of(launcher_pid: int, wait_s: float = 60.0) -> int:
    """The process torchrun started (its child), from ``/proc``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    pytest.fail("torchrun started no worker")


def wait_for(path: Path, processes: list, wait_s: float = 180.0) -> None:
    deadline = time.monotonic() + wait_s
    while not path.is_file():
        if any(p.poll() is not None for p in processes):
            pytest.fail(
                f"a node ended before {path.name} was written: " + processes[0].stderr.read()
            )
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {wait_s} s")
        time.sleep(0.02)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="torchrun, gloo and /proc")
def test_a_killed_rank_stops_the_other_and_the_run_resumes_on_one_process(tmp_path):
    data = tiny_npz(tmp_path)
    run_dir = tmp_path / "run"
    args = [*train_args(data, run_dir, EPOCHS), "--dist-timeout", f"{DIST_TIMEOUT_S}s"]
    nodes = start_nodes(tmp_path, args)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    wait_for(checkpoint, nodes)
    os.kill(worker_of(nodes[1].pid), signal.SIGKILL)
    killed_at = time.monotonic()
    assert nodes[0].poll() is None, "the run ended before a rank could be killed"

    code0, _, err0 = finish(nodes[0], timeout=DIST_TIMEOUT_S + 60)
    stopped_after = time.monotonic() - killed_at
    finish(nodes[1])
    assert code0 != 0
    assert "a peer process was lost (rank 1" in err0, err0[-3000:]
    assert stopped_after < DIST_TIMEOUT_S + 30  # not a hang (torchrun's exit included)
    assert not (run_dir / "encoder.pt").exists()

    saved = load_checkpoint(checkpoint)  # intact: written atomically at an epoch's end
    steps_per_epoch = saved["global_step"] // (saved["epoch"] + 1)
    assert steps_per_epoch > 0 and saved["epoch"] < EPOCHS - 1

    resumed = run_cli(
        ["train", "--run-dir", str(run_dir), "--resume", "--num-nodes", "1"], tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    config = (run_dir / "config.yaml").read_text()
    assert "num_nodes: 1" in config and "batch_size: 16" in config  # the global batch kept
    final = torch.load(checkpoint, weights_only=True)
    assert final["global_step"] == steps_per_epoch * EPOCHS  # the same schedule, finished
    assert (run_dir / "encoder.pt").is_file() and (run_dir / "results.json").is_file()
