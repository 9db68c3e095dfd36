"""The Lightning module that pretrains a :class:`~eblearn.methods.Method`.

Data sit on the training device as ``uint8`` images and a step receives a batch of indices
and gathers the images; or, for a streamed data set (:mod:`eblearn.data.streaming`), a step
receives the ``uint8`` images that DataLoader workers decoded from disk. Either way each
process reads its shard of an epoch's seeded permutation
(:class:`~eblearn.train.sharding.ShardedEpochSampler`).

The step augments the images on the device (:class:`~eblearn.data.MultiViewAugment`;
in float32 under any precision, then in ``channels_last`` layout where the run uses it),
calls the method, checks that every loss term is finite, trains the online linear probe on
the detached features, and collects embeddings for the per-epoch collapse metrics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from eblearn import __version__
from eblearn.data.streaming import StreamBatch, StreamedImages
from eblearn.data.unreadable import Unreadable, report_unreadable
from eblearn.evaluate.collapse import CollapseWarning, collapse_report
from eblearn.methods.base import Method
from eblearn.train.budget import StepSchedule
from eblearn.train.config import RunConfig
from eblearn.train.errors import NonFiniteLossError
from eblearn.train.optim import build_optimizer, parameter_groups
from eblearn.train.precision import to_channels_last, uses_channels_last
from eblearn.train.replicated import broadcast_replicated_buffers, skip_replicated_buffers
from eblearn.train.seeding import derived_seed, seed_everything
from eblearn.train.sharding import epoch_loader

COLLAPSE_SAMPLE = 4096
"""Embeddings kept per epoch for the collapse metrics."""


class PretrainModule(L.LightningModule):
    """Pretrains ``method`` on ``images`` with ``augment``, per ``config``.

    The same for every modality: a step gathers a batch of ``images`` by index and turns it
    into views with ``augment`` (augmented images; or token windows, which a masked model
    corrupts itself).

    Args:
        method: The self-supervised method (its ``encoder`` is what gets evaluated).
        augment: Turns a gathered batch into the method's views.
        config: The resolved training configuration.
        images: The pretraining inputs, ``uint8`` images ``(N, C, H, W)`` or ``int64`` token
            windows ``(N, T)``, kept out of checkpoints; or the image files of a streamed
            data set.
        labels: ``(N,)`` labels for the online probe, -1 where unknown.
        num_classes: Classes of the online probe (0 for none).
        workers: DataLoader workers that decode a streamed data set (default:
            :func:`~eblearn.data.streaming.default_workers`); unused for images in memory.
        start_epoch: The epoch training starts at (a resumed run's next epoch).
    """

    def __init__(
        self,
        method: Method,
        augment: Callable[[Tensor], Sequence[Tensor]],
        config: RunConfig,
        images: Tensor | StreamedImages,
        labels: Tensor,
        num_classes: int,
        workers: int | None = None,
        start_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.method = method
        self.augment = augment
        self.config = config
        self.probe = (
            nn.Linear(method.feature_dim, num_classes)
            if config.online_probe and num_classes > 0
            else None
        )
        self.images, self.labels = images, labels
        self.workers, self.start_epoch = workers, start_epoch
        self.unreadable: dict[str, str] = {}
        """Files of a stream found unreadable during training, with why (first seen first)."""
        self.reported = 0
        """How many of :attr:`unreadable` a warning has named already."""
        self.epoch_embeddings: list[Tensor] = []
        self.channels_last = uses_channels_last(config.precision, method, config.memory_format)

    # -- data on the device ------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        self.method.prepare(len(self.images))  # before a checkpoint is restored into it
        skip_replicated_buffers(self)  # before DDP wraps it: gathered stores are not resent

    def train_dataloader(self) -> DataLoader:
        """This rank's shard of each epoch, in batches of ``config.batch_size``
        (:func:`epoch_loader`).

        Built here, where the rank is known, rather than by Lightning's distributed sampler:
        the shards follow :class:`~eblearn.train.sharding.ShardedEpochSampler`'s rule.
        """
        # Lightning creates the first iterator while it estimates the steps, before it restores
        # a checkpoint and calls set_epoch; workers then prefetch at once, so a resumed run
        # must start its sampler at the resumed epoch here.
        return epoch_loader(
            self.images,
            self.config.seed,
            self.config.batch_size,
            self.global_rank,
            self.trainer.world_size,
            epoch=self.start_epoch,
            workers=self.workers if isinstance(self.images, StreamedImages) else 0,
            pin_memory=self.trainer.strategy.root_device.type == "cuda",
        )

    def on_fit_start(self) -> None:
        # DDP no longer copies the gathered stores from rank 0 (setup): once here, after
        # a checkpoint is restored, so that every process starts from rank 0's.
        broadcast_replicated_buffers(self)
        if isinstance(self.images, Tensor):
            self.images = self.images.to(self.device)
        self.labels = self.labels.to(self.device)

    def on_train_epoch_start(self) -> None:
        self.epoch_embeddings = []

    def on_train_batch_start(self, batch: Tensor, batch_idx: int) -> None:
        # Every step's randomness (augmentations, dropout) is a function of (seed, step, rank)
        # alone, whatever else drew numbers before: a resumed run replays exactly.
        seed_everything(derived_seed(self.config.seed, self.global_step, self.global_rank))

    # -- the step ----------------------------------------------------------------------------

    def _batch_images(self, batch: Tensor | StreamBatch) -> tuple[Tensor, Tensor]:
        """The step's inputs (``uint8`` images ``(B, C, H, W)`` or ``int64`` windows
        ``(B, T)``) and their indices ``(B,)``."""
        if isinstance(batch, StreamBatch):  # decoded by the workers, moved here by Lightning
            self._note_unreadable(batch.unreadable)
            return batch.images, batch.indices
        if isinstance(self.images, StreamedImages):
            raise TypeError(f"a streamed data set yields StreamBatch batches, got {type(batch)}")
        return self.images[batch], batch

    def _note_unreadable(self, files: tuple[tuple[str, str], ...]) -> None:
        """Records the stream's unreadable files; with ``config.strict``, stops the run."""
        for path, reason in files:
            self.unreadable.setdefault(path, reason)
        if files and self.config.strict:
            self._report_unreadable(strict=True)

    def _report_unreadable(self, strict: bool) -> None:
        """One warning (or, when ``strict``, a ``ValueError``) naming the files not yet named."""
        if not isinstance(self.images, StreamedImages):
            return
        fresh = list(self.unreadable.items())[self.reported :]
        self.reported = len(self.unreadable)
        report_unreadable(
            self.images.name,
            [Unreadable(Path(p), why) for p, why in fresh],
            len(self.images),
            self.images.base,
            strict,
            stacklevel=2,
        )

    def training_step(self, batch: Tensor | StreamBatch, batch_idx: int) -> Tensor:
        images, batch = self._batch_images(batch)  # (B, C, H, W) uint8 or (B, T); (B,) indices
        with torch.autocast(self.device.type, enabled=False):  # the same views in any precision
            views = self.augment(images)
        if self.channels_last:
            views = to_channels_last(views)
        out = self.method(views, indices=batch) if self.method.uses_indices else self.method(views)
        scalars = {k: v for k, v in out.items() if v.ndim == 0}
        self._check_finite(scalars)
        loss = out["loss"]
        logs = {f"train/{k}": v.detach() for k, v in scalars.items()}
        if self.probe is not None:
            probe_loss, probe_accuracy = self._probe_step(
                self.probe, out["features"], self.labels[batch]
            )
            if probe_loss is not None:
                loss = loss + probe_loss
                logs["probe/loss"] = probe_loss.detach()
                logs["probe/accuracy"] = probe_accuracy
        size = len(images)
        self.log("loss", out["loss"].detach(), prog_bar=True, logger=False, batch_size=size)
        self.log_dict(logs, on_step=True, on_epoch=True, batch_size=size)
        self._collect(out["embeddings"])
        return loss

    def _check_finite(self, scalars: dict[str, Tensor]) -> None:
        values = torch.stack([v.detach().float() for v in scalars.values()])
        if bool(torch.isfinite(values).all()):
            return
        values_by_name = {k: float(v.detach()) for k, v in scalars.items()}
        bad = {k: v for k, v in values_by_name.items() if not math.isfinite(v)}
        raise NonFiniteLossError(
            f"training stopped: non-finite loss at step {self.global_step} "
            f"(epoch {self.current_epoch}): "
            + ", ".join(f"{k} = {v}" for k, v in bad.items())
            + ". Lower the learning rate (--lr) or check the data for extreme values."
        )

    @staticmethod
    def _probe_step(
        probe: nn.Linear, features: Tensor, labels: Tensor
    ) -> tuple[Tensor | None, Tensor]:
        """Cross-entropy and accuracy of the online probe on the labeled part of the batch."""
        known = labels >= 0
        if not bool(known.any()):
            return None, torch.zeros((), device=features.device)
        logits = probe(features[known].float())
        loss = F.cross_entropy(logits, labels[known])
        accuracy = (logits.argmax(1) == labels[known]).float().mean()
        return loss, accuracy

    def _collect(self, embeddings: Tensor) -> None:
        """Keeps the epoch's first :data:`COLLAPSE_SAMPLE` embeddings."""
        if sum(len(e) for e in self.epoch_embeddings) < COLLAPSE_SAMPLE:
            self.epoch_embeddings.append(embeddings.detach().float())

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.method.on_step_end(self.global_step, int(self.trainer.estimated_stepping_batches))

    def on_train_epoch_end(self) -> None:
        if len(self.unreadable) > self.reported:
            self._report_unreadable(strict=False)
        if not self.epoch_embeddings:
            return
        report = collapse_report(torch.cat(self.epoch_embeddings)[:COLLAPSE_SAMPLE])
        self.log_dict({f"collapse/{k}": v for k, v in report.as_dict().items()})
        if report.collapsed:
            warnings.warn(
                f"epoch {self.current_epoch}: the embeddings have collapsed (normalized std "
                f"{report.normalized_std:.4f}, effective rank {report.effective_rank:.2f} of "
                f"{report.dim}): the energy is flat and the features carry no information",
                CollapseWarning,
                stacklevel=2,
            )
        self.epoch_embeddings = []

    # -- optimization ------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        config = self.config
        groups = parameter_groups(self.method, config.weight_decay)
        if self.probe is not None:
            groups.append(
                {
                    "params": list(self.probe.parameters()),
                    "weight_decay": 0.0,
                    "lars_adaptation": False,
                }
            )
        optimizer = build_optimizer(config.optimizer, groups, config.lr, config.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        fraction = config.warmup_epochs / config.epochs
        self.schedule = StepSchedule(  # a TimeBudget lays it over the affordable steps
            total, min(total, int(total * fraction)), fraction if config.time_budget else None
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # -- checkpoints -------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["eblearn"] = {"version": __version__, "config": self.config.to_dict()}

    # -- the method's own hooks ----------------------------------------------------------------

    def configure_callbacks(self) -> list[L.Callback]:
        return [MethodEpochHook()]


class MethodEpochHook(L.Callback):
    """Calls ``method.on_epoch_start(epoch, total_epochs)`` as every epoch starts."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if isinstance(pl_module, PretrainModule):
            pl_module.method.on_epoch_start(trainer.current_epoch, int(trainer.max_epochs or 0))
