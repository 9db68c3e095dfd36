"""Lightning glue for training runs: atomic checkpoint I/O, the per-epoch checkpoint and a
training clock. The checkpoint files themselves are :mod:`eblearn.train.checkpoint`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint

from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.train.checkpoint import load_checkpoint, save_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        save_checkpoint(checkpoint, path)

    def load_checkpoint(  # type: ignore[override]
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location if map_location is not None else "cpu")


class EpochCheckpoint(Checkpoint):
    """Saves the full training state to ``path`` at the end of every epoch.

    As a :class:`~lightning.pytorch.callbacks.Checkpoint`, Lightning calls it after the
    module's own ``on_train_epoch_end`` (so the epoch's metrics are logged first). Writing goes
    through the trainer's checkpoint I/O, atomic with :class:`AtomicCheckpointIO`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume


class TrainingClock(L.Callback):
    """Wall-clock seconds and optimizer steps between the start and the end of training."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.steps = 0
        self._start = 0.0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self._start
        self.steps = int(trainer.global_step)


ESTIMATE_SAMPLE = 256
"""Training images :meth:`KnnMonitor.estimate_seconds` encodes to estimate a kNN point."""


class KnnMonitor(L.Callback):
    """Every ``every`` epochs, the frozen encoder's kNN test accuracy, logged as ``eval/knn``.

    Features of the labeled training images (the bank) and of the test images are extracted
    in eval mode with the evaluation transform, and scored by the protocol's weighted cosine
    kNN (:func:`eblearn.evaluate.knn.knn_accuracy`), so the curve ends at the figure the final
    evaluation reports. Costs one feature extraction of the data set per evaluation, shared by
    the processes of a distributed run: Lightning calls this hook on every process, and each
    encodes its shard of the images
    (:func:`~eblearn.evaluate.distributed.knn_accuracy_distributed`), so every process logs
    the accuracy one process would.

    Args:
        every: Epochs between evaluations (the last epoch is always evaluated).
        data: The data set (labels are used only here).
        transform: The evaluation transform.
        k, temperature: The kNN's neighbours and vote temperature.
        started_at: ``clock()`` when the job started; each evaluation also logs the minutes
            since then as ``eval/minutes`` (data preparation and earlier evaluations count),
            for curves of accuracy against wall time. Default: when the monitor is built.
        clock: Seconds, monotonic.
        inference: The precision and layout the encoder extracts features in
            (:func:`eblearn.train.precision.inference_setting`: the run's own, where the
            device runs it natively); default float32, contiguous.
    """

    def __init__(
        self,
        every: int,
        data: Any,
        transform: Any,
        k: int = 20,
        temperature: float = 0.07,
        started_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        inference: Inference = FLOAT32,
    ) -> None:
        self.every, self.data, self.transform = every, data, transform
        self.k, self.temperature = k, temperature
        self.inference = inference
        self.clock = clock
        self.started_at = started_at if started_at is not None else clock()
        self.history: list[tuple[int, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = epoch >= int(trainer.max_epochs or 0) or trainer.should_stop
        # The extraction is a collective: every process must agree to take part (a process
        # told to stop, by its own clock, takes the others with it; one process: no-op).
        if not trainer.strategy.reduce_boolean_decision(not epoch % self.every or last, all=False):
            return
        from eblearn.evaluate.distributed import knn_accuracy_distributed

        encoder: torch.nn.Module = getattr(module, "method").encoder  # noqa: B009 - any module
        accuracy = knn_accuracy_distributed(  # every process of the run encodes its shard
            encoder,
            self.data,
            self.transform.to(module.device),
            self.k,
            self.temperature,
            device=module.device,
            inference=self.inference,
        )
        self.history.append((epoch, accuracy))
        module.log("eval/knn", accuracy, on_step=False, on_epoch=True)
        minutes = (self.clock() - self.started_at) / 60.0
        module.log("eval/minutes", minutes, on_step=False, on_epoch=True)

    def estimate_seconds(self, trainer: L.Trainer, module: L.LightningModule) -> float:
        """What one kNN point should take on this process, before any has been timed.

        The extraction of ``ESTIMATE_SAMPLE`` training images is timed twice (the first pass
        pays one-off costs and is not counted) and scaled to the training and test images
        this process encodes, ``(N_train + N_test) / world_size``. Scoring the neighbours is
        not counted: about 2 s of a 50-s CIFAR-10 point on 2 CPU cores.
        """
        from eblearn.evaluate.protocol import extract_features

        encoder: torch.nn.Module = getattr(module, "method").encoder  # noqa: B009 - any module
        transform = self.transform.to(module.device)
        sample = self.data.train.images[:ESTIMATE_SAMPLE]
        seconds = 0.0
        for _ in range(2):  # the second pass is timed
            started = self.clock()
            extract_features(encoder, sample, transform, device=module.device,
                             inference=self.inference)  # fmt: skip
            seconds = self.clock() - started
        images = len(self.data.train.images) + len(self.data.test.images)
        return seconds * images / len(sample) / max(1, int(trainer.world_size))
