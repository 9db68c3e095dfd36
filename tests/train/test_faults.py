"""A rank killed or hung mid-run: the survivor stops with an error naming it, the checkpoint
of the last finished epoch is intact, and ``--resume`` continues it on another number of
processes.

Two torchrun "nodes" of one process train on this host (gloo); once the first epoch's
checkpoint exists, node 1's worker is killed with SIGKILL (nothing of it runs any more, as on
a machine that fails) or stopped with SIGSTOP (alive but silent, as in a deadlock). Node 0
must exit non-zero, saying that rank 1 was lost: at once for the killed peer, after
``--dist-timeout`` for the hung one. The killed run then resumes as one process with the
global batch kept (16 images per step instead of 2 × 8), so it ends on the step count of the
full schedule.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from lightning.pytorch.strategies import DDPStrategy

from eblearn.train.checkpoint import load_checkpoint
from eblearn.train.config import TrainConfig, keep_global_batch, resolve
from eblearn.train.faults import lost_peer_message
from eblearn.train.runs import strategy
from tests.train.launch import finish, run_cli, start_nodes, tiny_npz, train_args

EPOCHS = 40
DIST_TIMEOUT_S = 10
"""The collectives' timeout: the survivor of a killed peer stops at once, that of a hung one
after it."""


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
        codes = [p.poll() for p in processes]
        if any(code is not None for code in codes):
            pytest.fail(f"a node ended (exit codes {codes}) before {path.name} was written")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {wait_s} s")
        time.sleep(0.02)


def fail_node_one(tmp_path: Path, how: signal.Signals) -> tuple[Path, int, str, float]:
    """Trains on two torchrun nodes, sends ``how`` to node 1's worker after the first epoch;
    returns the run folder, node 0's exit code, its stderr and the seconds it took to stop."""
    data = tiny_npz(tmp_path)
    run_dir = tmp_path / "run"
    args = [*train_args(data, run_dir, EPOCHS), "--dist-timeout", f"{DIST_TIMEOUT_S}s"]
    nodes = start_nodes(tmp_path, args)
    wait_for(run_dir / "checkpoints" / "last.ckpt", nodes)
    worker = worker_of(nodes[1].pid)
    os.kill(worker, how)
    failed_at = time.monotonic()
    assert nodes[0].poll() is None, "the run ended before a rank could fail"
    code0, _, err0 = finish(nodes[0], timeout=2 * DIST_TIMEOUT_S + 60)
    stopped_after = time.monotonic() - failed_at
    if how is not signal.SIGKILL:
        os.kill(worker, signal.SIGKILL)  # a stopped process: end it, and torchrun with it
    finish(nodes[1])
    return run_dir, code0, err0, stopped_after


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="torchrun, gloo and /proc")
def test_a_killed_rank_stops_the_other_and_the_run_resumes_on_one_process(tmp_path):
    run_dir, code0, err0, stopped_after = fail_node_one(tmp_path, signal.SIGKILL)
    assert code0 != 0
    assert "a peer process was lost (rank 1" in err0, err0[-3000:]
    assert "the checkpoint of the last finished epoch is kept" in err0
    assert "continue with --resume, on the same or another number of processes" in err0
    assert stopped_after < DIST_TIMEOUT_S + 30  # not a hang (torchrun's exit included)
    assert not (run_dir / "encoder.pt").exists()

    checkpoint = run_dir / "checkpoints" / "last.ckpt"
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="torchrun, gloo and /proc")
def test_a_hung_rank_stops_the_other_after_the_timeout(tmp_path):
    """SIGSTOP: the peer's connection stays open and silent, so only the timeout ends the wait."""
    _, code0, err0, stopped_after = fail_node_one(tmp_path, signal.SIGSTOP)
    assert code0 != 0
    assert "a peer process was lost (rank 1)" in err0, err0[-3000:]
    lost = next(line for line in err0.splitlines() if "peer process was lost" in line)
    assert f"--dist-timeout {DIST_TIMEOUT_S} s" in lost and "timeout" in lost.lower(), lost
    # gloo says "Timed out waiting 10000ms ..." or "Application timeout caused pair closure"
    assert DIST_TIMEOUT_S - 1 < stopped_after < 2 * DIST_TIMEOUT_S + 40, stopped_after


# -- the pieces, without processes ------------------------------------------------------------


def test_a_closed_connection_names_the_other_rank_and_the_timeout():
    error = RuntimeError(
        "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer "
        "[127.0.0.1]:41234"
    )
    message = lost_peer_message(error, rank=0, world_size=2, timeout_s=60)
    assert message is not None
    assert "rank 0 of 2" in message and "(rank 1, at 127.0.0.1:41234)" in message
    assert "--dist-timeout 60 s" in message and "pair.cc" not in message


def test_a_timeout_among_four_names_the_candidates():
    error = RuntimeError("Timed out waiting 20000ms for recv operation to complete")
    message = lost_peer_message(error, rank=2, world_size=4, timeout_s=20)
    assert message is not None and "one of ranks 0, 1, 3" in message


@pytest.mark.parametrize(
    "error",
    [RuntimeError("mat1 and mat2 shapes cannot be multiplied"), ValueError("gloo"), KeyError()],
)
def test_other_errors_are_not_a_lost_peer(error):
    assert lost_peer_message(error, 0, 2, 60) is None


def test_a_single_process_has_no_peer_to_lose():
    assert lost_peer_message(RuntimeError("Connection closed by peer"), 0, 1, 60) is None


def test_the_timeout_reaches_the_ddp_strategy():
    config = resolve(TrainConfig(devices=2, dist_timeout="90s"), 1, 8)
    chosen = strategy(config)
    assert config.dist_timeout == 90.0
    assert isinstance(chosen, DDPStrategy) and chosen._timeout == timedelta(seconds=90)
    assert strategy(resolve(TrainConfig(), 1, 8)) == "auto"


@pytest.mark.parametrize("value", ["soon", 0, -5, "0s"])
def test_a_bad_timeout_is_refused_naming_the_option(value):
    with pytest.raises(ValueError, match="dist_timeout: a duration must be"):
        resolve(TrainConfig(devices=2, dist_timeout=value), 1, 8)


def test_sync_batchnorm_on_one_process_is_refused():
    with pytest.raises(ValueError, match=r"--sync-batchnorm .* has one .*--devices 2"):
        resolve(TrainConfig(sync_batchnorm=True), 1, 8)
    assert resolve(TrainConfig(sync_batchnorm=True, devices=2), 1, 8).sync_batchnorm


def test_a_resume_on_other_processes_keeps_the_global_batch():
    saved = resolve(TrainConfig(devices=2, num_nodes=2, batch_size=6, sync_batchnorm=True), 1, 8)
    assert keep_global_batch(saved, 2, 2) == {}
    assert keep_global_batch(saved, 3, 1) == {
        "devices": 3,
        "num_nodes": 1,
        "batch_size": 8,
        "sync_batchnorm": True,
    }
    assert keep_global_batch(saved, 1, 1)["sync_batchnorm"] is False  # BN sees all 24
    with pytest.raises(ValueError, match=r"global batch of 24 .* divides 24"):
        keep_global_batch(saved, 5, 1)
