"""Two "machines" started by torchrun train the same weights as one machine with two devices.

Each torchrun call below is one node of one process on this host (gloo on CPU); the reference
is ``eblearn train --devices 2`` on one node, Lightning's own launcher, with the same per-process
batch (so the same global batch), the same seed and the same data. Data-parallel training
with the same ranks, seeds and shards is the same computation, so the trained states agree to
float tolerance: for a batch-wide loss (VICReg), a queue of keys gathered from every rank
(MoCo v2: its queue and momentum encoder are compared too) and a clustering method whose
Sinkhorn assignments use the global batch (SwAV: its prototypes too). Every subprocess has a
timeout, so a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.train.launch import encoder, finish_nodes, run_cli, start_nodes, tiny_npz, train_args

METHOD_ARGS = {
    "vicreg": [],
    "mocov2": ["--method-arg", "queue_size=32"],
    "swav": ["--method-arg", "num_prototypes=8"],
}
"""Each method's extra options: a queue of two global batches, eight prototypes."""


def method_args(method: str) -> list[str]:
    return ["--method", method, *METHOD_ARGS[method]]


def method_state(run_dir: Path) -> dict[str, torch.Tensor]:
    """The method's whole state in the last checkpoint: weights, queues, momentum copies."""
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("method.")}


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun and gloo on one host")
@pytest.mark.parametrize("method", sorted(METHOD_ARGS))
def test_two_torchrun_nodes_train_the_weights_of_one_node_with_two_devices(tmp_path, method):
    data = tiny_npz(tmp_path)
    single, multi = tmp_path / "one-node", tmp_path / "two-nodes"
    nodes = start_nodes(tmp_path, [*train_args(data, multi), *method_args(method)])
    (code0, out0, err0), (code1, out1, err1) = finish_nodes(nodes)
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    reference = run_cli(
        [*train_args(data, single), *method_args(method), "--devices", "2"], tmp_path
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
    ours, theirs = method_state(multi), method_state(single)
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        torch.testing.assert_close(value, theirs[name], rtol=1e-5, atol=1e-6, msg=name)
    plan = untrained_plan(data, tmp_path / "unused", method)
    steps = len(plan.data.pretrain_images) // (2 * 8)  # two processes of 8 images per step
    for run in (multi, single):
        assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["global_step"] == steps
    initial = plan.method.state_dict()
    moved = max(float((ours[f"method.{k}"] - v).abs().max()) for k, v in initial.items())
    assert moved > 1e-4  # the state trained: agreeing is not agreeing on the initial one


def untrained_plan(data: Path, run_dir: Path, method: str = "vicreg") -> Any:
    """The run as every rank builds it before training (its method untrained; on disk: none)."""
    from eblearn.app.train import prepare_training
    from eblearn.train import TrainConfig

    extra = dict(arg.split("=") for arg in METHOD_ARGS[method][1::2])
    return prepare_training(
        TrainConfig(
            method=method,
            data=f"npz:{data}",
            backbone_args={"width": 4},
            method_args={"projector_dims": [16, 16], **{k: int(v) for k, v in extra.items()}},
            seed=3,
            precision="32",
            accelerator="cpu",
            online_probe=False,
            epochs=1,
            batch_size=8,
            run_dir=str(run_dir),
        )
    )
