"""``pretrain``: train a method on a data set, in a run folder that survives interruptions.

A run folder holds::

    config.yaml            the resolved configuration (repeat a run with --config)
    checkpoints/last.ckpt  written atomically at the end of every epoch
    log.csv                one row per logged step (loss terms, probe, collapse metrics)
    encoder.pt             the trained encoder's state dict, at the end
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from eblearn.data.augment import AUGMENTATIONS, EvalTransform, MultiViewAugment
from eblearn.data.images import DatasetSplits
from eblearn.data.registry import load_dataset
from eblearn.methods.base import METHODS, Method, build_method
from eblearn.nn.backbones import build_backbone
from eblearn.train.callbacks import AtomicCheckpointIO, EpochCheckpoint
from eblearn.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from eblearn.train.config import TrainConfig, resolve
from eblearn.train.history import RunHistory
from eblearn.train.module import PretrainModule, index_loader
from eblearn.train.seeding import seed_everything

CONFIG_FILE = "config.yaml"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
LOG_FILE = "log.csv"
ENCODER_FILE = "encoder.pt"
RUN_MARKERS = (CONFIG_FILE, "checkpoints", LOG_FILE, ENCODER_FILE)
RUN_DIR_ENV = "EBLEARN_RUN_DIR"


@dataclass
class Pretrained:
    """The outcome of :func:`pretrain`.

    Attributes:
        method: The trained method; ``method.encoder`` is the pretrained backbone.
        config: The resolved configuration.
        data: The data set it was trained on.
        run_dir: The run folder.
        eval_transform: The deterministic transform evaluation applies to images.
        is_global_zero: False on the other processes of a multi-device run.
    """

    method: Method
    config: TrainConfig
    data: DatasetSplits
    run_dir: Path
    eval_transform: EvalTransform
    is_global_zero: bool = True


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/<method>-<data>-<YYYYmmdd-HHMMSS>``."""
    data = config.data.partition(":")[0]
    return Path("runs") / f"{config.method}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` already holds (part of) a run."""
    return any((run_dir / marker).exists() for marker in RUN_MARKERS)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Checks that the folder may be used and clears it on ``overwrite``.

    Raises:
        ValueError: If it holds a run and neither ``resume`` nor ``overwrite`` is set, if both
            are set, or if ``resume`` is set and there is no checkpoint to resume from.
    """
    if resume and overwrite:
        raise ValueError("choose one of --resume (continue the run) and --overwrite (replace it)")
    if resume:
        if not (run_dir / LAST_CHECKPOINT).is_file():
            raise ValueError(
                f"nothing to resume: {str(run_dir / LAST_CHECKPOINT)!r} does not exist"
            )
        return
    if holds_run(run_dir):
        if not overwrite:
            raise ValueError(
                f"run folder {str(run_dir)!r} already holds a run; pass --resume to continue "
                "it, --overwrite to replace it, or choose another --run-dir"
            )
        for marker in RUN_MARKERS:
            target = run_dir / marker
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)


def is_launched_worker() -> bool:
    """True in the processes a DDP launcher starts for local ranks above 0."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0


def claim_run_dir(config: TrainConfig, resume: bool, overwrite: bool) -> Path:
    """The run folder, prepared by the first process only.

    With several devices, Lightning starts one more process per device, each running the same
    command again. Rank 0 prepares the folder and names it in ``$EBLEARN_RUN_DIR``, which the
    workers inherit, so they neither refuse nor wipe the folder rank 0 has just made.
    """
    if is_launched_worker():
        named = os.environ.get(RUN_DIR_ENV) or config.run_dir
        if not named:
            raise ValueError("processes launched per device need --run-dir (or $EBLEARN_RUN_DIR)")
        return Path(named)
    run_dir = Path(config.run_dir) if config.run_dir else default_run_dir(config)
    prepare_run_dir(run_dir, resume, overwrite)
    if config.devices > 1:
        os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir


def build_components(
    config: TrainConfig, data: DatasetSplits
) -> tuple[TrainConfig, Method, MultiViewAugment, EvalTransform]:
    """Resolves ``config`` against ``data`` and builds the method and the transforms."""
    config = resolve(config, data.channels, data.image_size)
    backbone = build_backbone(
        str(config.backbone), data.channels, int(config.image_size or 0), **config.backbone_args
    )
    method_args = dict(config.method_args)
    if config.devices > 1 and METHODS.get(config.method).batch_statistics:
        method_args.setdefault("gather_distributed", True)
    method = build_method(config.method, backbone, **method_args)
    views = AUGMENTATIONS.get(str(config.augmentation))(int(config.image_size or 0), data.channels)
    augment = MultiViewAugment(views, data.mean, data.std)
    return config, method, augment, EvalTransform(int(config.image_size or 0), data.mean, data.std)


def check_batch(config: TrainConfig, method: Method, n_images: int) -> None:
    """Raises ``ValueError`` when the batch size does not suit the method or the data."""
    if config.batch_size < method.min_batch_size:
        raise ValueError(
            f"batch size {config.batch_size} is too small for {config.method!r}: its loss uses "
            f"batch statistics and needs at least {method.min_batch_size} samples per batch"
        )
    if config.batch_size * config.devices > n_images:
        raise ValueError(
            f"batch size {config.batch_size} × {config.devices} device(s) exceeds the "
            f"{n_images} pretraining images; lower --batch-size"
        )


def uses_gpu(config: TrainConfig) -> bool:
    """Whether the run trains on a CUDA GPU."""
    return config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def resolve_precision(config: TrainConfig) -> str:
    """``auto`` becomes ``bf16-mixed`` on a GPU that supports it, else ``32-true``."""
    if config.precision != "auto":
        return "32-true" if config.precision == "32" else config.precision
    return "bf16-mixed" if uses_gpu(config) and torch.cuda.is_bf16_supported() else "32-true"


def read_run_config(run_dir: Path) -> TrainConfig:
    """The configuration a run folder was trained with."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} is not a run folder: it has no {CONFIG_FILE}")
    return TrainConfig.from_yaml(path)


def pretrain(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    method: Method | None = None,
    data: DatasetSplits | None = None,
    callbacks: Sequence[Callback] = (),
) -> Pretrained:
    """Pretrains a method and returns it with its run folder.

    Args:
        config: What to train. With ``resume``, the run folder's saved configuration is used
            instead (only ``run_dir`` and ``progress_bar`` are taken from ``config``).
        resume: Continue the run in ``config.run_dir`` from its last checkpoint.
        overwrite: Replace the run in ``config.run_dir``.
        method: A method object to train instead of building ``config.method``.
        data: Data to train on instead of loading ``config.data``.
        callbacks: Extra Lightning callbacks.

    Raises:
        ValueError: On bad configuration values or names, a run folder that already holds a
            run (without ``resume``/``overwrite``), or a batch size the method cannot use.
        CheckpointError: If the checkpoint to resume from is corrupted.
        NonFiniteLossError: If a loss term becomes NaN or Inf.
    """
    if resume and config.run_dir is None:
        raise ValueError("--resume needs the run folder: pass --run-dir RUN_DIR")
    run_dir = claim_run_dir(config, resume, overwrite)
    resume_epoch = None
    if resume:
        config = replace(
            read_run_config(run_dir), run_dir=str(run_dir), progress_bar=config.progress_bar
        )
        resume_epoch = int(load_checkpoint(run_dir / LAST_CHECKPOINT).get("epoch", 0)) + 1
    data = (
        data
        if data is not None
        else load_dataset(config.data, config.data_root, config.download, config.image_size)
    )
    config = replace(config, run_dir=str(run_dir))
    seed_everything(config.seed)
    config, built, augment, eval_transform = build_components(config, data)
    method = method if method is not None else built
    check_batch(config, method, len(data.pretrain_images))
    if not resume and not is_launched_worker():
        config.to_yaml(run_dir / CONFIG_FILE)

    pretrain_labels = (
        data.train.labels
        if data.unlabeled is None
        else torch.cat([data.train.labels, data.unlabeled.labels])
    )
    module = PretrainModule(
        method, augment, config, data.pretrain_images, pretrain_labels, data.num_classes
    )
    loader = index_loader(len(data.pretrain_images), config.batch_size, config.seed)
    steps_per_epoch = max(1, len(loader) // config.devices)
    trainer = L.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy="ddp" if config.devices > 1 else "auto",
        sync_batchnorm=config.devices > 1 and uses_gpu(config),  # SyncBatchNorm needs GPUs
        precision=resolve_precision(config),  # type: ignore[arg-type]
        deterministic=config.deterministic,
        logger=RunHistory(run_dir / LOG_FILE, keep_epochs_below=resume_epoch),
        callbacks=[
            EpochCheckpoint(run_dir / LAST_CHECKPOINT),
            *callbacks,
        ],
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=max(1, min(50, steps_per_epoch // 5)),
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(
        module,
        train_dataloaders=loader,
        ckpt_path=str(run_dir / LAST_CHECKPOINT) if resume else None,
        weights_only=True,
    )
    if trainer.is_global_zero:
        save_checkpoint(method.encoder.state_dict(), run_dir / ENCODER_FILE)
    return Pretrained(method, config, data, run_dir, eval_transform, trainer.is_global_zero)


def load_pretrained(run_dir: str | Path, data: DatasetSplits | None = None) -> Pretrained:
    """Rebuilds a run's method from its ``config.yaml`` and last checkpoint (``weights_only``).

    Raises:
        ValueError: If ``run_dir`` is not a run folder.
        CheckpointError: If the checkpoint is missing or corrupted.
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    data = (
        data
        if data is not None
        else load_dataset(config.data, config.data_root, config.download, config.image_size)
    )
    config, method, _, eval_transform = build_components(config, data)
    checkpoint = load_checkpoint(run_dir / LAST_CHECKPOINT)
    prefix = "method."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    try:
        method.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {str(run_dir / LAST_CHECKPOINT)!r} does not match the method built "
            f"from {str(run_dir / CONFIG_FILE)!r}: {str(error).splitlines()[0]}"
        ) from None
    return Pretrained(method, config, data, run_dir, eval_transform)
