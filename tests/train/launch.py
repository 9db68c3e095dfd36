"""Starting ``eblearn train`` as separate processes, the way users launch it on a cluster.

Shared by the multi-node and fault tests: a tiny labeled ``.npz``, the tiny run's options,
an environment without launcher variables, one ``torchrun`` call per "node" of one process
on this host, and waiting with a timeout (a hang fails the test instead of blocking CI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.gloo import free_port

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


def train_args(data: Path, run_dir: Path, epochs: int = 1) -> list[str]:
    """``eblearn train`` of a 4-wide ConvNet, 8 images per process and step, seed 3."""
    return [
        "train",
        "--data",
        f"npz:{data}",
        "--accelerator",
        "cpu",
        "--precision",
        "32",
        "--epochs",
        str(epochs),
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


def start_nodes(
    folder: Path, args: list[str], nodes: int = 2, node_args: Sequence[list[str]] = ()
) -> list[subprocess.Popen[str]]:
    """``torchrun --nnodes nodes --nproc-per-node 1`` once per node, each in its own working
    directory ``folder/node<rank>``, running ``python -m eblearn.cli *args --num-nodes nodes``
    (then ``node_args[rank]``, options given to that node alone)."""
    port = free_port()
    started = []
    for rank in range(nodes):
        cwd = folder / f"node{rank}"
        cwd.mkdir()
        launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes)]
        launch += ["--nproc-per-node", "1", "--node-rank", str(rank)]
        launch += ["--master-addr", "127.0.0.1", "--master-port", str(port)]
        command = [*launch, "-m", "eblearn.cli", *args, "--num-nodes", str(nodes)]
        command += list(node_args[rank]) if rank < len(node_args) else []
        started.append(
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
    return started


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m eblearn.cli *args`` in ``cwd``, to completion (at most :data:`TIMEOUT_S`)."""
    return subprocess.run(
        [sys.executable, "-m", "eblearn.cli", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def finish(process: subprocess.Popen[str], timeout: float = TIMEOUT_S) -> tuple[int, str, str]:
    """Waits for ``process``; on timeout kills its whole session (torchrun and its worker)."""
    return finish_nodes([process], timeout)[0]


def finish_nodes(
    processes: Sequence[subprocess.Popen[str]], timeout: float = TIMEOUT_S
) -> list[tuple[int, str, str]]:
    """Waits for every process (started by :func:`start_nodes`) within one ``timeout``.

    If one is still running then, the test fails naming, for every node, the processes of its
    session still alive (``torchrun``'s agent, its worker) and the end of its output: a hang
    of one node is often the other node's failure."""
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pytest.fail(_hang_report(processes, timeout))
    return [(p.returncode, *p.communicate()) for p in processes]


def _hang_report(processes: Sequence[subprocess.Popen[str]], timeout: float) -> str:
    """Kills every node's session and describes each: exit code or live processes, stderr."""
    report = [f"a node did not finish within {timeout} s"]
    for rank, process in enumerate(processes):
        alive = subprocess.run(
            ["ps", "-o", "pid=,etime=,args=", "-s", str(process.pid)],
            capture_output=True,
            text=True,
        ).stdout
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        state = f"exit code {process.returncode}" if alive == "" else f"alive:\n{alive}"
        report.append(f"--- node {rank}: {state}\nstdout: {out[-500:]}\nstderr: {err[-2500:]}")
    return "\n".join(report)


def encoder(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "encoder.pt", weights_only=True)
