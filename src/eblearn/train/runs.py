"""The training engine's entry points: build a run's parts, fit them, load them back.

These functions take a resolved :class:`~eblearn.train.config.RunConfig` and file paths; they
neither choose nor lock run folders. The application layer (:mod:`eblearn.app`) validates
everything first, claims the folder, then calls :func:`fit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeAlias

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.strategies import DDPStrategy
from torch import Tensor

from eblearn.data.augment import (
    AUGMENTATIONS,
    EvalTransform,
    MultiViewAugment,
    override_views,
)
from eblearn.data.images import UNLABELED, DatasetSplits
from eblearn.data.streaming import StreamedImages
from eblearn.data.text import TextSplits, TokenViews
from eblearn.data.waveforms import SpeechSplits, waveform_views
from eblearn.methods.base import METHODS, Method, build_method
from eblearn.nn.backbones import build_backbone
from eblearn.train.budget import TimeBudget
from eblearn.train.callbacks import AtomicCheckpointIO, EpochCheckpoint, KnnMonitor
from eblearn.train.checkpoint import CheckpointError, load_checkpoint
from eblearn.train.cluster import check_nodes
from eblearn.train.compiling import compile_encoders, uncompile
from eblearn.train.config import RunConfig
from eblearn.train.errors import PeerLostError
from eblearn.train.faults import lost_peer_message
from eblearn.train.history import RunHistory
from eblearn.train.module import PretrainModule
from eblearn.train.precision import (
    choose_precision,
    inference_setting,
    training_device,
    uses_channels_last,
)
from eblearn.train.seeding import seed_everything
from eblearn.train.sharding import steps_per_epoch

TrainingData: TypeAlias = DatasetSplits | TextSplits | SpeechSplits
"""Data the engine trains on: images, token windows or waveform crops (see ``modality``)."""
ViewMaker: TypeAlias = Callable[[Tensor], Sequence[Tensor]]
"""Turns a gathered batch into the method's views (augmented images, token windows)."""


@dataclass
class Pretrained:
    """A trained (or loaded) method with what evaluating it needs.

    Attributes:
        method: The trained method; ``method.encoder`` is the pretrained backbone.
        config: The resolved configuration.
        data: The data set it was trained on.
        run_dir: The run folder.
        eval_transform: The deterministic transform evaluation applies to images (``None``
            for text).
        is_global_zero: False on the other processes of a multi-device run.
    """

    method: Method
    config: RunConfig
    data: TrainingData
    run_dir: Path
    eval_transform: EvalTransform | None
    is_global_zero: bool = True


def build_components(
    config: RunConfig, data: TrainingData
) -> tuple[Method, ViewMaker, EvalTransform | None]:
    """Builds the method and the transforms of a resolved configuration.

    Images: the backbone, the view recipe's augmentation and the evaluation transform.
    Tokens: a token backbone over the tokenizer's vocabulary, the windows as views, no
    evaluation transform. Waveforms: a waveform encoder, the speech views of the packed
    crops (:class:`~eblearn.data.waveforms.WaveformViews`), no evaluation transform.

    Raises:
        ValueError: If the backbone or the method rejects its options (naming them).
    """
    try:
        if isinstance(data, TextSplits):
            from eblearn.nn.sequence import build_token_backbone

            backbone = build_token_backbone(
                config.backbone, data.tokenizer.vocab_size, config.seq_len, **config.backbone_args
            )
        elif isinstance(data, SpeechSplits):
            from eblearn.nn.audio import build_audio_backbone

            backbone = build_audio_backbone(config.backbone, **config.backbone_args)
        else:
            backbone = build_backbone(
                config.backbone, data.channels, config.image_size, **config.backbone_args
            )
    except (TypeError, RuntimeError) as error:
        raise ValueError(
            f"backbone {config.backbone!r} cannot be built with options "
            f"{config.backbone_args}: {error}"
        ) from None
    method_args = dict(config.method_args)
    if config.world_size > 1 and METHODS.get(config.method).batch_statistics:
        method_args.setdefault("gather_distributed", True)
    try:
        method = build_method(config.method, backbone, **method_args)
    except (TypeError, RuntimeError) as error:
        raise ValueError(
            f"method {config.method!r} cannot be built with hyper-parameters "
            f"{config.method_args}: {error}"
        ) from None
    if isinstance(data, TextSplits):
        return method, TokenViews(method.num_views), None
    if isinstance(data, SpeechSplits):
        return method, waveform_views(config.augmentation, config.seq_len), None
    check_view_size(backbone, data.channels, config)
    views = override_views(
        AUGMENTATIONS.get(config.augmentation)(config.view_size, data.channels),
        config.augmentation_args,
    )
    augment = MultiViewAugment(views, data.mean, data.std)
    return method, augment, EvalTransform(config.image_size, data.mean, data.std)


def check_view_size(backbone: torch.nn.Module, channels: int, config: RunConfig) -> None:
    """Raises ``ValueError`` unless ``backbone``, built for ``config.image_size`` px images,
    also takes the ``config.view_size`` px views it trains on.

    Checked by one forward pass of a blank view in evaluation mode (no statistics updated,
    nothing random drawn), and only when the two sides differ: a ViT's patch embedding takes
    one side only, a deep ConvNet needs a side of at least 2^(stages - 1).
    """
    if config.view_size == config.image_size:
        return
    training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            backbone(torch.zeros(1, channels, config.view_size, config.view_size))
    except (RuntimeError, AssertionError, ValueError) as error:
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"backbone {config.backbone!r}, built for {config.image_size} px images, cannot "
            f"train on {config.view_size} px views ({problem}); choose a --view-size it takes "
            "(a ViT takes its image size only; a convnet of S stages needs 2^(S-1) px or more) "
            "or leave --view-size out"
        ) from None
    finally:
        backbone.train(training)


def check_batch(config: RunConfig, method: Method, n_images: int) -> None:
    """Raises ``ValueError`` when the batch size does not suit the method or the data."""
    if config.batch_size < method.min_batch_size:
        raise ValueError(
            f"batch size {config.batch_size} is too small for {config.method!r}: its loss uses "
            f"batch statistics and needs at least {method.min_batch_size} samples per batch"
        )
    if config.batch_size * config.world_size > n_images:
        raise ValueError(
            f"batch size {config.batch_size} × {config.world_size} process(es) exceeds the "
            f"{n_images} pretraining images; lower --batch-size"
        )


def check_accelerator(config: RunConfig) -> None:
    """Raises ``ValueError`` if the requested accelerator or device count is not available,
    or if a run on several machines was not started by ``torchrun`` or SLURM
    (:func:`~eblearn.train.cluster.check_nodes`)."""
    check_nodes(config.num_nodes, config.devices)
    if config.accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"--accelerator {config.accelerator} asks for a CUDA GPU, but none is available "
                "here; use --accelerator cpu or auto"
            )
        if config.devices > torch.cuda.device_count():
            raise ValueError(
                f"--devices {config.devices} asks for more GPUs than the "
                f"{torch.cuda.device_count()} available"
            )
    if config.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--accelerator mps asks for Apple's MPS, which is not available here")


def uses_gpu(config: RunConfig) -> bool:
    """Whether the run trains on a CUDA GPU."""
    return config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def resolve_precision(config: RunConfig) -> str:
    """Lightning's name of ``config.precision`` (``32`` is ``32-true``).

    :func:`fit` has already replaced ``auto`` by a measured choice
    (:func:`~eblearn.train.precision.choose_precision`); called directly with ``auto``, this
    keeps the old rule: ``bf16-mixed`` on a GPU that supports it, else ``32-true``.
    """
    if config.precision != "auto":
        return "32-true" if config.precision == "32" else config.precision
    return "bf16-mixed" if uses_gpu(config) and torch.cuda.is_bf16_supported() else "32-true"


def fit(
    config: RunConfig,
    method: Method,
    augment: ViewMaker,
    data: TrainingData,
    *,
    checkpoint_path: Path,
    log_path: Path,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    started_at: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    register_file: Callable[[Path], object] | None = None,
) -> bool:
    """Pretrains ``method`` on ``data``; returns whether this process is the global rank 0.

    With ``config.time_budget``, a :class:`~eblearn.train.budget.TimeBudget` lays the schedule
    over the measured step time and stops training when the budget, counted from
    ``started_at`` (the job's start on ``clock``; default now), is spent.

    The full training state is written atomically to ``checkpoint_path`` at the end of every
    epoch; with ``resume`` training continues from it, replaying the interrupted epoch
    exactly. ``log_path`` receives one CSV row per logged step; with ``config.logger``
    ``tensorboard`` the same scalars also go to TensorBoard event files in the
    ``tensorboard`` folder beside it, each handed to ``register_file`` as soon as it exists
    (:class:`~eblearn.train.tensorboard_log.RunTensorBoard`). A ``config.precision`` of
    ``auto`` is first resolved by :func:`~eblearn.train.precision.choose_precision` (the
    application layer resolves it earlier, to record it in ``config.yaml``), with an ``auto``
    ``config.memory_format``; a convolutional method trained in ``channels_last`` layout is
    returned in the default layout. With ``config.compile`` the encoders train compiled and
    are returned plain (:mod:`~eblearn.train.compiling`).

    With more than one process, the collectives wait ``config.dist_timeout`` seconds at most
    for the others: a process that died or hangs stops the survivors with a
    :class:`~eblearn.train.errors.PeerLostError` that names it (:mod:`eblearn.train.faults`).
    ``config.sync_batchnorm`` normalizes with the global batch's statistics: Lightning's
    ``sync_batchnorm`` (torch's ``SyncBatchNorm``, GPUs only) on a GPU, eblearn's
    :class:`~eblearn.nn.sync_batchnorm.SyncBatchNorm` elsewhere.

    Raises:
        NonFiniteLossError: If a loss term becomes NaN or Inf.
        CheckpointError: If the checkpoint to resume from cannot be loaded.
        PeerLostError: If another process died or did not answer within the timeout.
    """
    resume_epoch = None
    if resume:
        resume_epoch = int(load_checkpoint(checkpoint_path).get("epoch", 0)) + 1
    if config.precision == "auto":
        config, _ = choose_precision(config, method, augment, data.pretrain_inputs)
    channels_last = uses_channels_last(config.precision, method, config.memory_format)
    if channels_last:
        method.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
    torch_sync_batchnorm = config.sync_batchnorm and uses_gpu(config)
    if config.sync_batchnorm and not torch_sync_batchnorm:
        from eblearn.nn.sync_batchnorm import convert_sync_batchnorm

        convert_sync_batchnorm(method)
    compiled = compile_encoders(method) if config.compile else []
    seed_everything(config.seed)
    stream = data.stream if isinstance(data, DatasetSplits) else None
    if stream is not None:  # decoded from disk during training, all unlabeled
        source: Tensor | StreamedImages = stream
        pretrain_labels = torch.full((len(stream),), UNLABELED, dtype=torch.int64)
    else:
        source, pretrain_labels = data.pretrain_inputs, data.pretrain_labels
    module = PretrainModule(
        method,
        augment,
        config,
        source,
        pretrain_labels,
        data.num_classes,
        start_epoch=resume_epoch or 0,
    )
    steps = max(1, steps_per_epoch(len(source), config.batch_size, config.world_size))
    start = started_at if started_at is not None else clock()
    monitor: KnnMonitor | None = None
    if config.eval_every and isinstance(data, DatasetSplits):  # text has no labels to probe
        monitor = KnnMonitor(
            config.eval_every,
            data,
            EvalTransform(config.image_size, data.mean, data.std),
            config.knn_k,
            config.knn_temperature,
            started_at=start,
            clock=clock,
            inference=inference_setting(
                config.precision, config.memory_format, method.encoder, training_device(config)
            ),
        )
    budget: list[Callback] = []
    if config.time_budget:  # it costs the epoch ends with a kNN point apart
        eval_every = monitor.every if monitor is not None else None
        estimate = monitor.estimate_seconds if monitor is not None else None
        budget.append(
            TimeBudget(
                config.time_budget, start, clock, steps * config.epochs, eval_every, estimate
            )
        )
    if monitor is not None:
        budget.append(monitor)
    trainer = L.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,  # the ranks come from torchrun's or SLURM's environment
        strategy=strategy(config),
        sync_batchnorm=torch_sync_batchnorm,
        precision=resolve_precision(config),  # type: ignore[arg-type]
        deterministic=config.deterministic,
        logger=run_loggers(config, log_path, resume_epoch, register_file),
        callbacks=[*budget, EpochCheckpoint(checkpoint_path), *callbacks],  # monitors first
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=max(1, min(50, steps // 5)),
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,  # the module shards the data itself (train.sharding)
    )
    try:
        trainer.fit(
            module,
            ckpt_path=str(checkpoint_path) if resume else None,
            weights_only=True,
        )
    except Exception as error:
        message = lost_peer_message(
            error, trainer.global_rank, trainer.world_size, config.dist_timeout
        )
        if message is None:
            raise
        raise PeerLostError(message) from error
    finally:
        uncompile(compiled)
    if channels_last:
        method.to(memory_format=torch.contiguous_format)  # type: ignore[call-arg]
    return bool(trainer.is_global_zero)


def strategy(config: RunConfig) -> str | DDPStrategy:
    """Lightning's ``auto`` on one process, else DDP whose collectives time out after
    ``config.dist_timeout`` seconds."""
    if config.world_size == 1:
        return "auto"
    return DDPStrategy(timeout=timedelta(seconds=config.dist_timeout))


def run_loggers(
    config: RunConfig,
    log_path: Path,
    resume_epoch: int | None,
    register_file: Callable[[Path], object] | None = None,
) -> list[Logger]:
    """The run's ``log.csv`` (always), then TensorBoard's event files for ``tensorboard``."""
    loggers: list[Logger] = [RunHistory(log_path, keep_epochs_below=resume_epoch)]
    if config.logger == "tensorboard":
        from eblearn.train.tensorboard_log import TENSORBOARD_DIR, RunTensorBoard

        loggers.append(RunTensorBoard(log_path.parent / TENSORBOARD_DIR, register_file))
    return loggers


def load_method_state(method: Method, checkpoint_path: Path) -> None:
    """Loads the method's weights from a training checkpoint (``weights_only``).

    Raises:
        CheckpointError: If the checkpoint is missing, corrupted or does not fit the method.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    prefix = "method."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    try:
        method.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {str(checkpoint_path)!r} does not match the method its run folder's "
            f"configuration builds: {str(error).splitlines()[0]}"
        ) from None
