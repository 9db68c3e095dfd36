"""The Lightning module that pretrains a :class:`~eblearn.methods.Method`.

Data sit on the training device as ``uint8`` images; a step receives a batch of indices,
gathers the images, augments them on the device (:class:`~eblearn.data.MultiViewAugment`;
in float32 under any precision, then in ``channels_last`` layout where the run uses it),
calls the method, checks that every loss term is finite, trains the online linear probe on
the detached features, and collects embeddings for the per-epoch collapse metrics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from eblearn import __version__
from eblearn.evaluate.collapse import CollapseWarning, collapse_report
from eblearn.methods.base import Method
from eblearn.train.budget import StepSchedule
from eblearn.train.config import RunConfig
from eblearn.train.errors import NonFiniteLossError
from eblearn.train.optim import build_optimizer, parameter_groups
from eblearn.train.precision import to_channels_last, uses_channels_last
from eblearn.train.seeding import derived_seed, seed_everything

COLLAPSE_SAMPLE = 4096
"""Embeddings kept per epoch for the collapse metrics."""


class IndexDataset(Dataset[int]):
    """The integers ``0 .. n-1``: batches of indices into images held on the device."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index


class EpochShuffle(Sampler[int]):
    """A permutation of ``range(n)`` drawn from ``(seed, epoch)``: the same after a resume."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):  # type: ignore[no-untyped-def]
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


def index_loader(n: int, batch_size: int, seed: int) -> DataLoader:
    """Batches of shuffled indices, dropping the last incomplete batch."""
    return DataLoader(
        IndexDataset(n), batch_size=batch_size, sampler=EpochShuffle(n, seed), drop_last=True
    )


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
            windows ``(N, T)``; kept out of checkpoints.
        labels: ``(N,)`` labels for the online probe, -1 where unknown.
        num_classes: Classes of the online probe (0 for none).
    """

    def __init__(
        self,
        method: Method,
        augment: Callable[[Tensor], Sequence[Tensor]],
        config: RunConfig,
        images: Tensor,
        labels: Tensor,
        num_classes: int,
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
        self.epoch_embeddings: list[Tensor] = []
        self.channels_last = uses_channels_last(config.precision, method)

    # -- data on the device ------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        self.method.prepare(len(self.images))  # before a checkpoint is restored into it

    def on_fit_start(self) -> None:
        self.images = self.images.to(self.device)
        self.labels = self.labels.to(self.device)

    def on_train_epoch_start(self) -> None:
        self.epoch_embeddings = []

    def on_train_batch_start(self, batch: Tensor, batch_idx: int) -> None:
        # Every step's randomness (augmentations, dropout) is a function of (seed, step, rank)
        # alone, whatever else drew numbers before: a resumed run replays exactly.
        seed_everything(derived_seed(self.config.seed, self.global_step, self.global_rank))

    # -- the step ----------------------------------------------------------------------------

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        images = self.images[batch]  # (B, C, H, W) uint8, or (B, T) int64 windows
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
        self.log("loss", out["loss"].detach(), prog_bar=True, logger=False)
        self.log_dict(logs, on_step=True, on_epoch=True)
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
