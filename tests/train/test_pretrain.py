"""Reliability of the training engine: resume after SIGKILL, NaN stops, run folders."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from eblearn.app import load_pretrained, pretrain
from eblearn.methods import VICReg
from eblearn.nn import ConvNet
from eblearn.train import NonFiniteLossError
from eblearn.train.history import read_history

from .conftest import STEPS_PER_EPOCH, tiny_config

KILL_SCRIPT = """
import os, signal, sys
import torch
torch.set_num_threads({threads})  # same as the parent: CPU sums depend on the thread count
sys.path.insert(0, {root!r})
from lightning.pytorch.callbacks import Callback
from tests.train.conftest import tiny_config, tiny_digits
from eblearn.app import pretrain

class KillMidEpoch(Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == {kill_step}:
            os.kill(os.getpid(), signal.SIGKILL)

pretrain(tiny_config({run_dir!r}), data=tiny_digits(), callbacks=[KillMidEpoch()])
"""


def _weights(method: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path, data):
    reference = pretrain(tiny_config(tmp_path / "straight"), data=data)

    killed_dir = tmp_path / "killed"
    kill_step = STEPS_PER_EPOCH + 2  # in the middle of the second epoch
    script = KILL_SCRIPT.format(
        root=str(Path(__file__).parents[2]),
        kill_step=kill_step,
        run_dir=str(killed_dir),
        threads=torch.get_num_threads(),
    )
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert result.returncode == -9, result.stderr[-2000:]
    checkpoint = torch.load(killed_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 0  # only the first epoch was saved

    resumed = pretrain(tiny_config(killed_dir), resume=True, data=data)
    expected, actual = _weights(reference.method), _weights(resumed.method)
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)

    # The log keeps the first epoch, replays the interrupted one, and has no duplicates.
    rows = [r for r in read_history(killed_dir / "log.csv") if "train/loss_step" in r]
    assert [int(r["step"]) for r in rows] == list(range(3 * STEPS_PER_EPOCH))


class PoisonedVICReg(VICReg):
    """VICReg whose invariance term turns NaN from a given step on."""

    def __init__(self, poison_step: int) -> None:
        super().__init__(ConvNet(1, width=4), projector_dims=(32, 32))
        self.poison_step = poison_step
        self.calls = 0

    def forward(self, views):
        out = super().forward(views)
        self.calls += 1
        if self.calls > self.poison_step:
            out["invariance"] = out["invariance"] * float("nan")
            out["loss"] = out["loss"] + out["invariance"]
        return out


class RecordCheckpoint(Callback):
    def __init__(self, path: Path) -> None:
        self.path, self.digest = path, None

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == 1:
            self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()


def test_nan_loss_stops_with_the_step_and_term_and_keeps_the_last_checkpoint(tmp_path, data):
    run_dir = tmp_path / "run"
    recorder = RecordCheckpoint(run_dir / "checkpoints" / "last.ckpt")
    poison_step = STEPS_PER_EPOCH + 1
    with pytest.raises(
        NonFiniteLossError,
        match=rf"step {poison_step} \(epoch 1\): loss = nan, invariance = nan.*"
        r"the checkpoint of the last finished epoch is kept",
    ):
        pretrain(
            tiny_config(run_dir),
            data=data,
            method=PoisonedVICReg(poison_step),
            callbacks=[recorder],
        )
    assert recorder.digest is not None
    after = hashlib.sha256(recorder.path.read_bytes()).hexdigest()
    assert after == recorder.digest
    assert torch.load(recorder.path, weights_only=True)["epoch"] == 0


def test_a_nan_before_any_checkpoint_says_so_and_a_plain_rerun_reuses_the_folder(tmp_path, data):
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="no epoch finished, so no checkpoint was saved"):
        pretrain(tiny_config(run_dir), data=data, method=PoisonedVICReg(1))
    assert (run_dir / "config.yaml").is_file()
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()
    with pytest.raises(ValueError, match="nothing to resume"):
        pretrain(tiny_config(run_dir), data=data, resume=True)
    rerun = pretrain(tiny_config(run_dir, epochs=1, warmup_epochs=0), data=data)
    assert rerun.config.epochs == 1 and (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_run_folder_rules(tmp_path, data):
    run_dir = tmp_path / "run"
    first = pretrain(tiny_config(run_dir, epochs=1), data=data)
    for name in ("config.yaml", "log.csv", "encoder.pt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    with pytest.raises(
        ValueError,
        match=r"already holds a run \(checkpoints/last.ckpt, encoder.pt\); pass --resume .*"
        r" --overwrite",
    ):
        pretrain(tiny_config(run_dir, epochs=1), data=data)
    with pytest.raises(ValueError, match="choose one of --resume"):
        pretrain(tiny_config(run_dir), data=data, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="nothing to resume"):
        pretrain(tiny_config(tmp_path / "empty"), data=data, resume=True)

    restored = load_pretrained(run_dir, data=data)
    for name, value in _weights(first.method).items():
        torch.testing.assert_close(restored.method.state_dict()[name], value, rtol=0, atol=0)
    encoder = torch.load(run_dir / "encoder.pt", weights_only=True)
    assert encoder.keys() == first.method.encoder.state_dict().keys()

    second = pretrain(tiny_config(run_dir, epochs=1, seed=1), data=data, overwrite=True)
    assert second.config.seed == 1


def test_batch_sizes_the_loss_or_data_cannot_take(tmp_path, data):
    with pytest.raises(ValueError, match=r"too small for 'vicreg'.*at least 2 samples"):
        pretrain(tiny_config(tmp_path / "a", batch_size=1), data=data)
    with pytest.raises(ValueError, match="exceeds the 400 pretraining images"):
        pretrain(tiny_config(tmp_path / "b", batch_size=512), data=data)


def test_eval_every_logs_a_knn_curve_ending_at_the_final_figure(tmp_path, data):
    from eblearn.evaluate.knn import knn_accuracy
    from eblearn.evaluate.protocol import extract_features

    started = time.monotonic()
    run = pretrain(tiny_config(tmp_path / "run", eval_every=2), data=data)
    wall_minutes = (time.monotonic() - started) / 60
    rows = [r for r in read_history(tmp_path / "run" / "log.csv") if "eval/knn" in r]
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # epochs 2 and 3 (the last) of 3
    minutes = [r["eval/minutes"] for r in rows]  # wall time of each point, for curves
    assert 0 < minutes[0] < minutes[1] <= wall_minutes
    encoder = run.method.encoder
    bank = extract_features(encoder, data.train.images, run.eval_transform)
    queries = extract_features(encoder, data.test.images, run.eval_transform)
    expected = knn_accuracy(bank, data.train.labels, queries, data.test.labels, 20, 0.07)
    assert rows[-1]["eval/knn"] == pytest.approx(expected, abs=1e-6)
    assert expected > 0.3  # 3 tiny epochs on digits are far above chance (0.1)
