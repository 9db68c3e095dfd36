"""Two "machines" started by torchrun train the same weights as one machine with two devices.

Each torchrun call below is one node of one process on this host (gloo on CPU); the reference
is ``eblearn train --devices 2`` on one node, Lightning's own launcher, with the same per-process
batch (so the same global batch), the same seed and the same data. Data-parallel training
with the same ranks, seeds and shards is the same computation, so the encoders agree to float
tolerance. Every subprocess has a timeout, so a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

TIMEOUT_S = 240
LAUNCHER_VARIABLES = (
    "LOCAL_RANK",
    "RANK",
    "GROUP_RANK",
    "NODE_RANK",
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "EBLEARN_RUN_DIR",
    "TORCHELASTIC_RUN_ID",
)


def tiny_npz(folder: Path) -> Path:
    """64 labeled gray 8×8 images (a part is held out as the test split)."""
    rng = np.random.default_rng(0)
    path = folder / "tiny.npz"
    np.savez(
        path,
        images=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8),
        labels=np.arange(64) % 2,
    )
    return path


def train_args(data: Path, run_dir: Path) -> list[str]:
    return [
        "train",
        "--data",
        f"npz:{data}",
        "--accelerator",
        "cpu",
        "--precision",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--backbone-arg",
        "width=4",
        "--method-arg",
        "projector_dims=[16,16]",
        "--no-online-probe",
        "--seed",
        "3",
        "--run-dir",
        str(run_dir),
        "--no-progress",
    ]


def clean_env() -> dict[str, str]:
    """This environment without launcher variables, importing the eblearn under test."""
    import eblearn

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    source = str(Path(eblearn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Waits for ``process``; on timeout kills its whole session (torchrun and its worker)."""
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"a node did not finish within {TIMEOUT_S} s:\n{err[-3000:]}")
    return process.returncode, out, err


def encoder(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "encoder.pt", weights_only=True)


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun and gloo on one host")
def test_two_torchrun_nodes_train_the_weights_of_one_node_with_two_devices(tmp_path):
    data = tiny_npz(tmp_path)
    single, multi = tmp_path / "one-node", tmp_path / "two-nodes"
    port = free_port()
    nodes = []
    for rank in (0, 1):
        cwd = tmp_path / f"node{rank}"
        cwd.mkdir()
        launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
        launch += ["--nproc-per-node", "1", "--node-rank", str(rank)]
        launch += ["--master-addr", "127.0.0.1", "--master-port", str(port)]
        command = [*launch, "-m", "eblearn.cli", *train_args(data, multi), "--num-nodes", "2"]
        nodes.append(
            subprocess.Popen(
                command,
                cwd=cwd,
                env=clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # so that a hang can be killed with its worker
            )
        )
    (code0, out0, err0), (code1, out1, err1) = (finish(node) for node in nodes)
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    reference = subprocess.run(
        [sys.executable, "-m", "eblearn.cli", *train_args(data, single), "--devices", "2"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert reference.returncode == 0, reference.stderr[-3000:]

    # Rank 0 alone evaluated and wrote; node 1 wrote nothing, not even in its own folder.
    assert out0.count("kNN (k=20, cosine)") == 1 and "kNN" not in out1
    assert not any((tmp_path / "node1").iterdir())
    assert "num_nodes: 2" in (multi / "config.yaml").read_text()
    assert (multi / "results.json").is_file() and (multi / "checkpoints/last.ckpt").is_file()

    ours, theirs = encoder(multi), encoder(single)
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        torch.testing.assert_close(value, theirs[name], rtol=1e-5, atol=1e-6, msg=name)
    plan = untrained_plan(data, tmp_path / "unused")
    steps = len(plan.data.pretrain_images) // (2 * 8)  # two processes of 8 images per step
    for run in (multi, single):
        assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["global_step"] == steps
    initial = plan.method.encoder.state_dict()
    moved = max(float((ours[k] - v).abs().max()) for k, v in initial.items() if k in ours)
    assert moved > 1e-4  # the weights trained: agreeing is not agreeing on the initial ones


def untrained_plan(data: Path, run_dir: Path) -> Any:
    """The run as every rank builds it before training (its method untrained; on disk: none)."""
    from eblearn.app.train import prepare_training
    from eblearn.train import TrainConfig

    return prepare_training(
        TrainConfig(
            data=f"npz:{data}",
            backbone_args={"width": 4},
            method_args={"projector_dims": [16, 16]},
            seed=3,
            precision="32",
            accelerator="cpu",
            online_probe=False,
            epochs=1,
            batch_size=8,
            run_dir=str(run_dir),
        )
    )
