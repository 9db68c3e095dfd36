"""The joint-embedding methods inside the training engine: an interrupted and resumed run ends
exactly where an uninterrupted one does (queues, memory banks, prototypes and momentum
encoders included), SimSiam without its predictor collapses and the engine warns, and
``eblearn train --devices 2`` runs data-parallel on the CPU (DeepCluster-v2: a memory bank
gathered from both processes, Sinkhorn over both batches, k-means broadcast from rank 0)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from eblearn.app import pretrain
from eblearn.data import load_dataset
from eblearn.data.images import DatasetSplits, ImageSet
from eblearn.evaluate import CollapseWarning
from eblearn.train import TrainConfig

# One method per kind of state: a queue and a momentum encoder (MoCo v2, whose EMA is BYOL's
# and MoCo v3's), prototypes and a queue used from epoch 1 (SwAV), a memory bank clustered at
# every epoch start (DeepCluster-v2, whose bank is the one SimCLR's PIRL option uses).
STATEFUL = {
    "mocov2": {"projector_dims": [16, 8], "queue_size": 24},
    "swav": {"projector_dims": [16, 8], "num_prototypes": 6, "queue_size": 16,
             "queue_start_epoch": 1},
    "deepclusterv2": {"projector_dims": [16, 8], "num_prototypes": 6},
}  # fmt: skip


def toy_data(n_train: int = 48, n_test: int = 16, seed: int = 0) -> DatasetSplits:
    generator = torch.Generator().manual_seed(seed)

    def images(n: int) -> ImageSet:
        pixels = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=generator)
        return ImageSet(pixels, torch.arange(n) % 2, ("even", "odd"))

    return DatasetSplits("toy", images(n_train), images(n_test))


def config(run_dir: Path, method: str, **fields: object) -> TrainConfig:
    values: dict[str, object] = {
        "method": method,
        "epochs": 2,
        "batch_size": 16,
        "run_dir": str(run_dir),
        "progress_bar": False,
        "backbone_args": {"width": 4},
        "method_args": STATEFUL.get(method, {}),
        "optimizer": "sgd",
        "warmup_epochs": 0,
    }
    values.update(fields)
    return TrainConfig(**values)  # type: ignore[arg-type]


class StopAfterFirstEpoch(L.Callback):
    """Ends the fit after epoch 0, after its checkpoint was written (an interruption)."""

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        trainer.should_stop = True


@pytest.mark.parametrize("method", sorted(STATEFUL))
def test_a_resumed_run_continues_exactly(tmp_path, method):
    data = toy_data()
    straight = pretrain(config(tmp_path / "straight", method), data=data)
    pretrain(config(tmp_path / "resumed", method), data=data, callbacks=[StopAfterFirstEpoch()])
    first_epoch = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert first_epoch["global_step"] == 3  # one epoch of 48 images in batches of 16
    resumed = pretrain(config(tmp_path / "resumed", method), data=data, resume=True)
    expected, got = straight.method.state_dict(), resumed.method.state_dict()
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    kept = ("queue", "bank", "momentum_", "target_")
    assert any(word in key for key in expected for word in kept), "state between steps"


def _collapse_warnings(tmp_path: Path, use_predictor: bool) -> list[float]:
    settings = config(
        tmp_path / f"simsiam-{use_predictor}",
        "simsiam",
        epochs=5,
        batch_size=8,
        lr=0.5,
        weight_decay=0.01,
        method_args={
            "projector_dims": [16, 16],
            "predictor_hidden": 8,
            "use_predictor": use_predictor,
            "output_batch_norm": False,
        },
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(settings, data=toy_data(64))
    return [str(w.message) for w in caught if issubclass(w.category, CollapseWarning)]


def test_simsiam_without_its_predictor_collapses_and_the_engine_warns(tmp_path):
    collapsed = _collapse_warnings(tmp_path, use_predictor=False)
    assert collapsed, "SimSiam without a predictor should collapse"
    assert "the embeddings have collapsed" in collapsed[-1]
    assert _collapse_warnings(tmp_path, use_predictor=True) == []


def test_eblearn_train_runs_data_parallel_on_two_cpu_processes(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "toy.npz",
        images=rng.integers(0, 256, (96, 8, 8), dtype=np.uint8),
        labels=np.arange(96) % 3,
    )
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "eblearn.cli", "train",
        "--data", f"npz:{tmp_path / 'toy.npz'}",
        "--method", "deepclusterv2", "--method-arg", "projector_dims=[16,8]",
        "--method-arg", "num_prototypes=6", "--backbone-arg", "width=4",
        "--epochs", "2", "--batch-size", "8", "--devices", "2", "--accelerator", "cpu",
        "--run-dir", str(run_dir), "--no-progress",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kNN" in result.stdout
    assert "devices: 2" in (run_dir / "config.yaml").read_text()
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    n_train = len(load_dataset(f"npz:{tmp_path / 'toy.npz'}").train)
    assert checkpoint["global_step"] == 2 * (n_train // (8 * 2))  # two processes, 8 images each
    # both processes pushed their embeddings into one bank, which k-means clustered at epoch 1
    state = checkpoint["state_dict"]
    assert bool(state["method.bank.filled"].sum() >= 2 * 8 * (n_train // 16))
    # The slots filled in epoch 0 (16 distinct samples a step) got one of the 6 clusters at
    # epoch 1's start; slots first filled in epoch 1 (samples epoch 0 dropped) wait at -1.
    labels = state["method.bank.labels"]
    assert int((labels >= 0).sum()) == 2 * 8 * (n_train // 16)
    assert bool(((labels >= -1) & (labels < 6)).all())
