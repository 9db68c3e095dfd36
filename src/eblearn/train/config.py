"""The training configuration: a request (``TrainConfig``) and its resolved form (``RunConfig``).

A :class:`TrainConfig` is what a user asks for, from YAML, the command line or Python: any
field may be left at ``None`` ("choose for me"). :func:`resolve` fills every such field from
the data set's and the optimizer's defaults, checks every value, and returns a
:class:`RunConfig`, which has no optional field: it is what a run folder's ``config.yaml``
holds and what the engine consumes, so a run can be repeated exactly.

Values are type-checked where they enter (``epochs: "two"``, ``epochs: 1.5``,
``batch_size: [64]``, ``online_probe: "no"`` are refused with the key and the value), and
numbers are range-checked by :func:`resolve` (zero is never taken to mean "the default").
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eblearn._io import write_yaml
from eblearn._validate import check_choice
from eblearn.data.text import BPE_VOCAB_SIZE, TOKENIZER_KINDS

OPTIMIZERS = ("adamw", "sgd", "lars")
PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
"""Memory layouts of a convolutional encoder's weights and views (others stay contiguous)."""
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
LOGGERS = ("csv", "tensorboard")
"""Where the training curves go: ``csv`` writes only the run's ``log.csv``; ``tensorboard``
writes TensorBoard event files in the run's ``tensorboard/`` folder as well."""

# Base learning rates for a batch of 256 (scaled linearly with the batch size) and weight decay.
OPTIMIZER_DEFAULTS: dict[str, tuple[float, float]] = {
    "adamw": (2e-3, 1e-4),
    "sgd": (0.05, 5e-4),
    "lars": (0.3, 1e-4),
}

MIN_IMAGE_SIZE = 16
"""Smallest view side: the default is the data's side, raised to this (digits are 8 px)."""
SMALLEST_IMAGE_SIZE = 8
"""Smallest side a user may ask for: below it the augmentations' crops and the backbones'
strides leave no pixels."""
BUDGET_EPOCH_CAP = 1_000_000
"""``epochs`` of a run with a time budget and no ``epochs``: the budget alone ends it."""
WARMUP_FRACTION = 0.1
"""Default warm-up: this fraction of the run (6 of digits' 60 epochs, 10 of 100), so a short
run is never all warm-up."""

# What suits each data set when a field is left empty: measured recipes, see BENCHMARKS.md.
SMALL_HEADS: dict[str, dict[str, Any]] = {
    "vicreg": {"projector_dims": [512, 512, 512]},
    "siamese": {"projector_dims": [512, 128]},
    "simclr": {"projector_dims": [512, 128]},
    "mocov2": {"projector_dims": [512, 128], "queue_size": 1024},
    "mocov3": {"projector_dims": [512, 128], "predictor_dims": [512, 128]},
    "byol": {"projector_dims": [512, 128], "predictor_dims": [512, 128]},
    "simsiam": {"projector_dims": [512, 512, 512], "predictor_hidden": 128},
    "deepclusterv2": {"projector_dims": [512, 128], "num_prototypes": 100},
    "swav": {"projector_dims": [512, 128], "num_prototypes": 100},
    "barlowtwins": {"projector_dims": [512, 512, 512]},
}
"""Heads 512 wide (fewer prototypes, a shorter queue) for small images and CPUs; the papers'
sizes (2048 to 8192 wide) are the methods' own defaults."""

DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 60, "optimizer": "adamw", "method_args": SMALL_HEADS},
}
GENERIC_DEFAULTS: dict[str, Any] = {"epochs": 100, "optimizer": "lars", "method_args": {}}

BATCH_SIZE = 256
"""Default images per step and device."""
SEQ_LEN = 64
"""Default tokens per window of a text run."""
TOKEN_AUGMENTATION = "tokens"
"""The ``augmentation`` of a token run: the windows themselves (the method corrupts them)."""
TOKEN_BACKBONE = "transformer"
TOKEN_BACKBONES_BY_METHOD = {"collobert-weston": "window"}
"""Text methods whose default backbone is not :data:`TOKEN_BACKBONE`."""
TOKEN_DEFAULTS: dict[str, Any] = {
    "epochs": 4,
    "batch_size": 64,
    "optimizer": "adamw",
    "base_lr": 1.2e-2,
    "method_args": {},
    "backbone_args": {"dim": 64, "depth": 2, "heads": 4},
}
"""Text runs: a small Transformer (64 wide, 2 blocks), batches of 64 windows, AdamW at
3e-3 (1.2e-2 × 64/256; 1e-2 learned more slowly in a 500-step held-out check), four passes:
the out-of-the-box ``eblearn train --data shakespeare --method mlm`` is 980 steps of about
0.1 s on a quiet CPU core."""

WAVEFORM_BACKBONES_BY_METHOD = {"wav2vec2": "conv-transformer", "cpc": "conv-gru"}
"""The default waveform encoder of each speech method."""
WAVEFORM_DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "batch_size": 32,
    "optimizer": "adamw",
    "base_lr": 4e-3,
    "method_args": {
        "wav2vec2": {
            "entries": 32,
            "code_dim": 64,
            "mask_span": 5,
            "num_distractors": 20,
            "quantizer_temperature": [2.0, 0.5, 0.995],
        },
        "cpc": {"steps": 6},
    },
    "backbone_args": {
        "conv-transformer": {"dim": 64, "depth": 2, "heads": 4, "channels": 64},
        "conv-gru": {"dim": 64, "channels": 64},
    },
}
"""Speech runs: a small encoder (64 channels, 64 wide, 2 Transformer blocks or a GRU) on
crops of 0.5 s, batches of 32, AdamW at 5e-4 (4e-3 × 32/256), one pass over the 2,700
training takes of FSDD (85 steps), and a quantizer whose temperature falls from 2 by ×0.995
per step. One pass: three would take about 13 minutes on two shared CPU cores (one pass
measured 379 s, 194 s of it training), and wav2vec 2.0's loss was still at chance after 272
steps in benchmarks/bench_fsdd_probe.py's validation run, where CPC learned within minutes."""

ADDED_KEYS: dict[str, Any] = {
    "time_budget": 0.0,
    "eval_every": 0,
    "eval_data": "",
    "num_nodes": 1,
    "logger": "csv",
    "strict": False,
    "dist_timeout": 1800.0,
    "sync_batchnorm": False,
    "stream": False,
    "seq_len": 0,
    "tokenizer": "",
    "vocab_size": 0,
    "compile": False,
    "augmentation_args": {},
    "memory_format": "auto",
}
"""Keys added to ``config.yaml`` since 0.1, with the value that reproduces older runs."""

RESUMABLE_OPTIONS = (
    "run_dir",
    "progress_bar",
    "data_root",
    "download",
    "accelerator",
    "strict",
    "dist_timeout",
    "devices",
    "num_nodes",
    "compile",
)
"""What ``--resume`` may change; every other option is the saved run's, and giving a
different value is refused (it would silently not apply, or break the resumed schedule).
``strict`` only decides whether unreadable image files are skipped or refused when the data
is read again, so a resume may ask for it (or not). ``devices`` and ``num_nodes`` may change
(a run resumed on fewer or more processes after a lost machine): the global batch is kept,
see :func:`keep_global_batch`. ``compile`` changes how a step is computed, not what
(the compiled encoders keep their parameter names: :mod:`eblearn.train.compiling`)."""


@dataclass
class TrainConfig:
    """What a user asks for; ``None`` fields are chosen by :func:`resolve`.

    Attributes:
        method: Registered method name (``eblearn methods`` lists them).
        data: Dataset spec: ``digits``, ``cifar10``, ..., ``npz:PATH``, ``imagefolder:PATH``.
        data_root: Folder of downloadable data sets (default ``$EBLEARN_DATA`` or ``./data``).
        download: Allow downloading a missing data set.
        backbone: Registered backbone name; default ``convnet`` up to 32 px, else ``resnet18``.
        backbone_args: Extra keyword arguments of the backbone builder (e.g. ``width``).
        method_args: Hyper-parameters of the method (e.g. ``projector_dims``).
        augmentation: Registered view recipe; default ``digits`` for 1 channel, else ``simclr``.
        augmentation_args: Fields of the recipe's views set on every view, e.g. the color
            jitter's ``brightness`` or the crops' ``crop_scale``
            (:func:`eblearn.data.augment.override_views`); image runs only.
        image_size: Side of the images the encoder is trained on and evaluated at (the data
            is decoded at this side); default the data's, at least 16 px.
        view_size: Side of the training views; default ``image_size``. Smaller views make
            each step cheaper (a convolution's cost goes with the pixels), and the encoder is
            still evaluated, embedded and exported at ``image_size``. Random-resized crops
            enlarge objects, so testing at a higher resolution than training matches the
            apparent object sizes of the two (Touvron et al., "Fixing the train-test
            resolution discrepancy", NeurIPS 2019). Image runs only; fully convolutional
            backbones only (a ViT's input side is fixed).
        epochs: Passes over the pretraining images.
        batch_size: Images (or text windows) per step and device; default 256 for images,
            64 for text.
        optimizer: ``adamw``, ``sgd`` or ``lars``.
        lr: Peak learning rate; default the optimizer's base rate × batch_size / 256.
        weight_decay: Weight decay (not applied to biases and normalization parameters).
        warmup_epochs: Linear warm-up before the cosine decay, in epochs (may be fractional);
            default 10% of the run.
        seed: Seed of everything random; each step reseeds from (seed, step, rank).
        deterministic: Ask PyTorch for deterministic algorithms.
        precision: ``auto``, ``32``, ``bf16-mixed`` or ``16-mixed``. ``auto`` is resolved
            when the run starts (:func:`eblearn.train.precision.choose_precision`): bf16 with
            ``channels_last`` where bf16 is native and a short probe measures it at least
            1.15× faster for this backbone and batch, else ``32``.
        memory_format: ``auto``, ``channels_last`` or ``contiguous``: the layout of a
            convolutional encoder's weights and views. ``auto`` with ``precision`` ``auto``
            is measured with it (float32 in ``channels_last`` was 1.25–1.5× faster than
            contiguous on a CPU without bf16, BENCHMARKS.md 2026-12-07); with a given
            precision it is ``channels_last`` under bf16 and ``contiguous`` otherwise.
        accelerator: ``auto``, ``cpu``, ``gpu`` (``cuda``) or ``mps``.
        devices: Number of devices per machine; more than one process in all trains with DDP.
        num_nodes: Number of machines; more than one needs a launcher that starts the
            processes on every machine (``torchrun`` or SLURM's ``srun``, see
            :mod:`eblearn.train.cluster`).
        online_probe: Train a linear probe on detached features during pretraining.
        knn_k, knn_temperature: The kNN evaluation's neighbours and vote temperature.
        run_dir: Run folder; default ``runs/<method>-<data>-<time>``.
        progress_bar: Show a progress bar.
        time_budget: Wall time for data preparation and training, in seconds or as ``30m``,
            ``1h30m``: the schedule is laid over the measured step time so that the run ends on
            time with a finished schedule (``epochs`` then only caps it).
        eval_every: Measure the kNN test accuracy every this many epochs during training
            (``eval/knn`` in log.csv and loss_curve.png); ``None``: only at the end.
        eval_data: A labeled data set spec to probe the encoder on after pretraining,
            instead of ``data`` (which may then have no labels); ``None``: probe ``data``.
        logger: ``csv`` (``log.csv`` only) or ``tensorboard`` (``log.csv`` and TensorBoard
            event files in the run's ``tensorboard/`` folder; needs ``pip install
            tensorboard``).
        strict: Refuse image files of ``data`` and ``eval_data`` (``imagefolder:`` and
            ``filelist:``) that cannot be decoded, instead of skipping them with a warning.
        dist_timeout: How long a process waits in a collective for the others, in seconds or
            as ``60s``, ``30m`` (default 30 minutes, torch's): a peer that died or hangs
            stops the run with an error naming it instead of a silent wait
            (:mod:`eblearn.train.faults`).
        sync_batchnorm: Batch-norm layers normalize with the statistics of the global batch
            (all processes) instead of each process's share; needs more than one process.
        stream: Keep the images of ``data`` (``imagefolder:``, ``filelist:``, ``tar:``) on disk and
            decode each batch in DataLoader workers during training, for data larger than
            memory (:mod:`eblearn.data.streaming`); default: decode them all into memory.
        seq_len: Tokens per window of a text run (default 64); image runs leave it out.
        tokenizer: How a text run cuts its corpus: ``char``, ``word`` or ``bpe`` (default:
            the method's, characters for a masked language model, words for
            Collobert–Weston).
        vocab_size: The BPE tokenizer's vocabulary, special tokens included (default 512);
            only with ``tokenizer="bpe"``.
        compile: Train with the encoder (and its momentum copies) compiled by
            ``torch.compile``; the compilation's time is part of the run's time and of its
            ``time_budget`` (:mod:`eblearn.train.compiling`).
    """

    method: str = "vicreg"
    data: str = "digits"
    data_root: str | None = None
    download: bool = False
    backbone: str | None = None
    backbone_args: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, Any] = field(default_factory=dict)
    augmentation: str | None = None
    augmentation_args: dict[str, Any] = field(default_factory=dict)
    image_size: int | None = None
    view_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_epochs: float | None = None
    seed: int = 0
    deterministic: bool = False
    precision: str = "auto"
    memory_format: str = "auto"
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    online_probe: bool = True
    knn_k: int = 20
    knn_temperature: float = 0.07
    run_dir: str | None = None
    progress_bar: bool = True
    time_budget: float | str | None = None
    eval_every: int | None = None
    eval_data: str | None = None
    logger: str = "csv"
    strict: bool = False
    dist_timeout: float | str | None = None
    sync_batchnorm: bool = False
    stream: bool = False
    seq_len: int | None = None
    tokenizer: str | None = None
    vocab_size: int | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("run_dir", "data_root"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                setattr(self, name, os.fspath(value))
        check_types(self, "TrainConfig")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Builds a config from a mapping.

        Raises:
            ValueError: On unknown keys (listing the valid ones) or values of the wrong type
                (naming ``source``, the key and the value).
        """
        check_keys(cls, values, source)
        check_types(values, source, cls)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Reads a YAML file of config keys (the long options, with ``_``)."""
        return cls.from_dict(read_yaml_mapping(path), f"config file {str(Path(path))!r}")

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        write_yaml(self.to_dict(), path)


@dataclass(frozen=True)
class RunConfig:
    """A resolved :class:`TrainConfig`: every field chosen and checked (see its attributes).

    ``warmup_epochs`` is a float (a fraction of an epoch is allowed); ``run_dir`` and
    ``data_root`` are the folders actually used; ``time_budget`` is in seconds, 0 for none;
    ``eval_every`` is 0 when the kNN is measured only at the end; ``eval_data`` is ``""``
    when the probes run on ``data``; ``strict``, ``stream`` and ``sync_batchnorm`` are
    ``False`` in run folders older than them; ``dist_timeout`` is in seconds (30 minutes in
    older run folders). A text run has ``image_size`` 0 and ``augmentation`` ``"tokens"``;
    an image run has ``seq_len`` 0. ``tokenizer`` is ``""`` and ``vocab_size`` 0 outside text
    runs (and in text runs older than them, which used their method's tokenizer);
    ``vocab_size`` is 0 unless the tokenizer is ``bpe``. ``compile`` is ``False`` in run
    folders older than it. ``view_size`` is the training views' side, ``image_size`` unless
    asked otherwise (read as ``image_size`` from run folders older than it), 0 outside image
    runs. ``memory_format`` is what ``auto`` chose once the run started, and ``auto`` in run
    folders older than it (``channels_last`` under bf16, as they trained).
    """

    method: str
    data: str
    data_root: str
    download: bool
    backbone: str
    backbone_args: dict[str, Any]
    method_args: dict[str, Any]
    augmentation: str
    augmentation_args: dict[str, Any]
    image_size: int
    view_size: int
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    warmup_epochs: float
    seed: int
    deterministic: bool
    precision: str
    memory_format: str
    accelerator: str
    devices: int
    num_nodes: int
    online_probe: bool
    knn_k: int
    knn_temperature: float
    run_dir: str
    progress_bar: bool
    time_budget: float
    eval_every: int
    eval_data: str
    logger: str
    strict: bool
    dist_timeout: float
    sync_batchnorm: bool
    stream: bool
    seq_len: int = 0
    tokenizer: str = ""
    vocab_size: int = 0
    compile: bool = False

    @property
    def world_size(self) -> int:
        """Training processes in all: ``devices × num_nodes`` (the global batch is this many
        times ``batch_size``)."""
        return self.devices * self.num_nodes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def as_request(self) -> TrainConfig:
        """The same values as a :class:`TrainConfig` (to resolve again, e.g. on resume)."""
        values = self.to_dict()
        values["time_budget"] = values["time_budget"] or None  # 0: no budget
        values["eval_every"] = values["eval_every"] or None  # 0: at the end only
        values["eval_data"] = values["eval_data"] or None  # "": probe the training data
        values["seq_len"] = values["seq_len"] or None  # 0: an image run
        values["tokenizer"] = values["tokenizer"] or None  # "": not text, or the method's
        values["vocab_size"] = values["vocab_size"] or None  # 0: not BPE
        values["image_size"] = values["image_size"] or None  # 0: a text run
        values["view_size"] = values["view_size"] or None  # 0: not an image run
        return TrainConfig(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> RunConfig:
        """Reads a run folder's ``config.yaml``.

        Raises:
            ValueError: If the file is missing, not YAML, lacks keys or has wrong types.
        """
        source = f"run configuration {str(Path(path))!r}"
        values = {**copy.deepcopy(ADDED_KEYS), **read_yaml_mapping(path)}
        if "view_size" not in values:  # older than view_size: views at the image side
            values["view_size"] = values.get("image_size", 0)
        check_keys(cls, values, source)
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values]
        if missing:
            raise ValueError(
                f"{source} lacks {', '.join(missing)}; it was not written by this version of "
                "eblearn"
            )
        check_types(values, source, cls)
        return cls(**values)

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        write_yaml(self.to_dict(), path)


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML file's top-level mapping.

    Raises:
        ValueError: If the file is missing, is not valid YAML (with the line) or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"config file {str(path)!r} is not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {str(path)!r} is not a text file") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return values


def check_keys(cls: type, values: dict[str, Any], source: str) -> None:
    """Raises ``ValueError`` on keys that are not fields of ``cls``, listing the valid ones."""
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(str(k) for k in set(values) - set(valid))
    if unknown:
        raise ValueError(
            f"{source}: unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}"
        )


_TYPE_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a mapping of names to values",
}


def check_types(values: Any, source: str, cls: type | None = None) -> None:
    """Raises ``ValueError`` unless every value has its field's declared type.

    ``values`` is a mapping (checked against ``cls``'s fields) or a dataclass instance.
    Booleans are not integers here, integers are numbers, and ``None`` is allowed only for
    optional fields.
    """
    if cls is None:
        cls = type(values)
        values = {f.name: getattr(values, f.name) for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name not in hints:
            continue
        allowed = _allowed_types(hints[name])
        if value is None and type(None) in allowed:
            continue
        if not any(_is_instance(value, kind) for kind in allowed if kind is not type(None)):
            words = " or ".join(_TYPE_WORDS[k] for k in allowed if k in _TYPE_WORDS)
            raise ValueError(
                f"{source}: {name} must be {words}, got {value!r} ({type(value).__name__})"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{source}: {name} must be a finite number, got {value!r}")


def _allowed_types(hint: Any) -> tuple[type, ...]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(hint) for t in _allowed_types(a))
    if origin is not None:
        return (origin,)
    return (hint,)


def _is_instance(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return isinstance(value, kind)


def resolve(
    config: TrainConfig,
    channels: int,
    native_size: int,
    run_dir: str = "",
    modality: str = "images",
) -> RunConfig:
    """Fills every ``None`` field from the data set's and the optimizer's defaults, and checks.

    Args:
        config: The request.
        channels: The data's channels (ignored for tokens).
        native_size: The data's image side (ignored for tokens).
        run_dir: The run folder chosen for the run (default ``config.run_dir`` or ``""``).
        modality: The data's: ``"images"``, ``"tokens"`` (a text run: a token backbone,
            ``seq_len`` instead of ``image_size``, no view recipe) or ``"waveforms"`` (a
            speech run: a waveform encoder, ``seq_len`` samples per crop, the ``speech`` or
            ``none`` view recipe).

    Raises:
        ValueError: On unknown names (method, backbone, augmentation, optimizer, precision,
            accelerator, logger), wrong types, values out of range (zero is never "the
            default"), the ``tensorboard`` logger without the ``tensorboard`` package, a
            ``dist_timeout`` that is not a positive duration, or ``sync_batchnorm`` with a
            single process.
    """
    from eblearn.data.augment import AUGMENTATIONS, default_augmentation, override_views
    from eblearn.data.registry import default_data_root
    from eblearn.methods.base import METHODS
    from eblearn.nn.backbones import check_backbone_name

    check_types(config, "config")
    method = METHODS.get(config.method)
    name = config.data.partition(":")[0]
    tokens = modality == "tokens"
    waveforms = modality == "waveforms"
    view_size = 0
    defaults = (
        TOKEN_DEFAULTS
        if tokens
        else WAVEFORM_DEFAULTS
        if waveforms
        else DATASET_DEFAULTS.get(name, GENERIC_DEFAULTS)
    )
    for key in (
        "seq_len",
        "vocab_size",
        "image_size",
        "view_size",
        "epochs",
        "batch_size",
        "devices",
        "num_nodes",
        "knn_k",
        "eval_every",
    ):
        value = getattr(config, key)
        if value is not None and value < 1:
            raise ValueError(f"{key} must be >= 1, got {value!r}")
    for key in ("image_size", "view_size"):
        value = getattr(config, key)
        if value is not None and value < SMALLEST_IMAGE_SIZE:
            raise ValueError(f"{key} must be >= {SMALLEST_IMAGE_SIZE} pixels, got {value}")
    if config.view_size is not None and (tokens or waveforms):
        raise ValueError(
            f"view_size sets the side of an image run's views, and {config.data!r} is "
            f"{'text' if tokens else 'speech'}; leave out --view-size"
        )
    if config.memory_format == "channels_last" and (tokens or waveforms):
        raise ValueError(
            f"memory_format channels_last lays out the 4-D image batches of a convolutional "
            f"encoder, and {config.data!r} is {'text' if tokens else 'speech'}; leave out "
            "--memory-format (auto or contiguous)"
        )
    for key in ("lr", "knn_temperature"):
        value = getattr(config, key)
        if value is not None and not value > 0:
            raise ValueError(f"{key} must be > 0, got {value!r}")
    for key in ("weight_decay", "warmup_epochs"):
        value = getattr(config, key)
        if value is not None and value < 0:
            raise ValueError(f"{key} must be >= 0, got {value!r}")
    backbone_args = dict(config.backbone_args)
    tokenizer, vocab_size = _resolve_tokenizer(config, method, tokens)
    if tokens:
        image_size, seq_len = 0, config.seq_len or default_seq_len(method)
        backbone, augmentation = _resolve_tokens(config)
        if backbone == TOKEN_BACKBONE:  # the small defaults are the transformer's
            backbone_args = {**defaults["backbone_args"], **backbone_args}
    elif waveforms:
        from eblearn.data.waveforms import CROP_SAMPLES

        image_size, seq_len = 0, config.seq_len or CROP_SAMPLES
        backbone, augmentation = _resolve_waveforms(config)
        backbone_args = {**defaults["backbone_args"].get(backbone, {}), **backbone_args}
    else:
        if config.seq_len is not None:
            raise ValueError(
                f"seq_len applies to text data, and {config.data!r} holds images; leave out "
                "--seq-len (use --image-size for the side of the views)"
            )
        seq_len = 0
        image_size = config.image_size or max(MIN_IMAGE_SIZE, native_size)
        view_size = config.view_size or image_size
        backbone = config.backbone or ("convnet" if image_size <= 32 else "resnet18")
        check_backbone_name(backbone)
        augmentation = (
            config.augmentation
            or method.preferred_augmentation(channels)
            or default_augmentation(channels)
        )
        override_views(
            AUGMENTATIONS.get(augmentation)(view_size, channels), config.augmentation_args
        )
    if config.augmentation_args and (tokens or waveforms):
        raise ValueError(
            f"augmentation_args set the views of an image run, and {config.data!r} is "
            f"{'text' if tokens else 'speech'}; leave out --augmentation-arg"
        )
    optimizer = config.optimizer or defaults["optimizer"]
    check_choice(optimizer, OPTIMIZERS, "optimizer")
    check_choice(config.precision, PRECISIONS, "precision")
    check_choice(config.memory_format, MEMORY_FORMATS, "memory_format")
    check_choice(config.accelerator, ACCELERATORS, "accelerator")
    check_logger(config.logger)
    batch_size = config.batch_size or defaults.get("batch_size", BATCH_SIZE)
    base_lr, base_wd = OPTIMIZER_DEFAULTS[optimizer]
    base_lr = defaults.get("base_lr", base_lr) if optimizer == defaults["optimizer"] else base_lr
    method_args = dict(defaults["method_args"].get(config.method, {}))
    method_args.update(config.method_args)
    time_budget = 0.0
    if config.time_budget is not None:
        from eblearn.train.budget import parse_duration

        time_budget = parse_duration(config.time_budget)
        if config.warmup_epochs is not None and config.epochs is None:
            raise ValueError(
                "with --time-budget the number of epochs is not known in advance, so the "
                "warm-up is 10% of the run; give --epochs too to set --warmup-epochs"
            )
    dist_timeout = check_dist_timeout(config.dist_timeout)
    world_size = (config.devices or 1) * (config.num_nodes or 1)
    if config.sync_batchnorm and world_size == 1:
        raise ValueError(
            "--sync-batchnorm shares batch-norm statistics between processes, and this run "
            "has one (--devices 1, --num-nodes 1): leave it out, or train with more than one "
            "process (e.g. --devices 2)"
        )
    epochs = (
        config.epochs
        if config.epochs is not None
        else BUDGET_EPOCH_CAP
        if time_budget
        else defaults["epochs"]
    )
    return RunConfig(
        method=config.method,
        data=config.data,
        data_root=config.data_root or str(default_data_root()),
        download=config.download,
        backbone=backbone,
        backbone_args=backbone_args,
        method_args=method_args,
        augmentation=augmentation,
        augmentation_args=dict(config.augmentation_args),
        image_size=image_size,
        view_size=view_size,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=config.lr if config.lr is not None else base_lr * batch_size / 256,
        weight_decay=config.weight_decay if config.weight_decay is not None else base_wd,
        warmup_epochs=(
            float(config.warmup_epochs)
            if config.warmup_epochs is not None
            else round(WARMUP_FRACTION * epochs, 3)
        ),
        seed=config.seed,
        deterministic=config.deterministic,
        precision=config.precision,
        memory_format=config.memory_format,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        online_probe=config.online_probe,
        knn_k=config.knn_k,
        knn_temperature=config.knn_temperature,
        run_dir=run_dir or config.run_dir or "",
        progress_bar=config.progress_bar,
        time_budget=time_budget,
        eval_every=config.eval_every or 0,
        eval_data=config.eval_data or "",
        logger=config.logger,
        strict=config.strict,
        dist_timeout=dist_timeout,
        sync_batchnorm=config.sync_batchnorm,
        stream=config.stream,
        seq_len=seq_len,
        tokenizer=tokenizer,
        vocab_size=vocab_size,
        compile=config.compile,
    )


DEFAULT_DIST_TIMEOUT = ADDED_KEYS["dist_timeout"]
"""Seconds a collective waits for the other processes by default: torch's 30 minutes."""


def check_dist_timeout(value: float | str | None) -> float:
    """Seconds of ``--dist-timeout`` (``None``: :data:`DEFAULT_DIST_TIMEOUT`).

    Raises:
        ValueError: If ``value`` is not a positive duration (``90``, ``"90s"``, ``"30m"``).

    Example:
        >>> check_dist_timeout("2m"), check_dist_timeout(None)
        (120.0, 1800.0)
    """
    if value is None:
        return float(DEFAULT_DIST_TIMEOUT)
    from eblearn.train.budget import parse_duration

    try:
        return parse_duration(value)
    except ValueError as error:
        raise ValueError(f"dist_timeout: {error}") from None


def keep_global_batch(saved: RunConfig, devices: int, num_nodes: int) -> dict[str, Any]:
    """The per-process batch (and sync-batchnorm setting) that resume a run on
    ``devices × num_nodes`` processes with the saved run's global batch.

    A run resumed on another number of processes keeps its global batch
    ``batch_size × world_size``, so the steps per epoch, the learning-rate schedule, the
    optimizer's state and the learning rate itself stay valid: the per-process batch becomes
    ``global / (devices × num_nodes)``. On one process, batch norm sees the whole global
    batch, which is what ``sync_batchnorm`` computed, so it is turned off.

    Returns:
        The fields to replace in the resumed request (empty if the world size is unchanged).

    Raises:
        ValueError: If the global batch is not divisible by the new number of processes.

    Example:
        >>> from dataclasses import replace
        >>> saved = resolve(TrainConfig(devices=2, batch_size=8), 1, 8)
        >>> keep_global_batch(saved, 1, 1)
        {'devices': 1, 'num_nodes': 1, 'batch_size': 16, 'sync_batchnorm': False}
    """
    world_size = devices * num_nodes
    if world_size == saved.world_size:
        return {}
    global_batch = saved.batch_size * saved.world_size
    if global_batch % world_size:
        raise ValueError(
            f"--resume on {devices} device(s) × {num_nodes} node(s) = {world_size} processes "
            f"cannot keep the run's global batch of {global_batch} images "
            f"({saved.batch_size} on each of {saved.world_size} processes): choose a number of "
            f"processes that divides {global_batch}"
        )
    return {
        "devices": devices,
        "num_nodes": num_nodes,
        "batch_size": global_batch // world_size,
        "sync_batchnorm": saved.sync_batchnorm and world_size > 1,
    }


def default_seq_len(method: type) -> int:
    """A text method's window when none is asked for: its own (Collobert–Weston: 5 words),
    else :data:`SEQ_LEN`."""
    return int(getattr(method, "default_seq_len", SEQ_LEN))


def tokenizer_kind(method: type, asked: str | None = None) -> str:
    """The tokenizer of a text run: the one asked for, else the method's (``char`` unless the
    method names another, as Collobert–Weston names ``word``)."""
    return asked or str(getattr(method, "tokenizer_kind", "char"))


def _resolve_tokenizer(config: TrainConfig, method: type, tokens: bool) -> tuple[str, int]:
    """The tokenizer kind and BPE vocabulary of a run (``("", 0)`` outside text).

    Raises:
        ValueError: If a tokenizer option is given for data that is not text, the kind is
            unknown (naming the valid ones), or ``vocab_size`` is given without ``bpe``.
    """
    if not tokens:
        given = [k for k in ("tokenizer", "vocab_size") if getattr(config, k) is not None]
        if given:
            raise ValueError(
                f"{' and '.join(given)} apply to text data, and {config.data!r} is not text; "
                f"leave out {' and '.join('--' + k.replace('_', '-') for k in given)}"
            )
        return "", 0
    kind = tokenizer_kind(method, config.tokenizer)
    check_choice(kind, TOKENIZER_KINDS, "tokenizer")
    if kind != "bpe":
        if config.vocab_size is not None:
            raise ValueError(
                f"vocab_size sets the vocabulary of a BPE tokenizer, and this run's tokenizer is "
                f"{kind!r}; leave out --vocab-size or use --tokenizer bpe"
            )
        return kind, 0
    return kind, config.vocab_size or BPE_VOCAB_SIZE


def _resolve_tokens(config: TrainConfig) -> tuple[str, str]:
    """The backbone and augmentation of a text run, checked.

    Raises:
        ValueError: If an image option is given, or the backbone is not a token backbone.
    """
    from eblearn.nn.sequence import TOKEN_BACKBONES

    if config.image_size is not None:
        raise ValueError(
            f"image_size applies to images, and {config.data!r} is text; leave out "
            "--image-size (use --seq-len for the tokens per window)"
        )
    if config.augmentation not in (None, TOKEN_AUGMENTATION):
        raise ValueError(
            f"augmentation {config.augmentation!r} is a view recipe for images, and "
            f"{config.data!r} is text; leave out --augmentation (the method corrupts the "
            "windows itself)"
        )
    backbone = config.backbone or TOKEN_BACKBONES_BY_METHOD.get(config.method, TOKEN_BACKBONE)
    if backbone not in TOKEN_BACKBONES:
        raise ValueError(
            f"backbone {backbone!r} does not read tokens; valid backbones for text: "
            f"{', '.join(TOKEN_BACKBONES.names())}"
        )
    return backbone, TOKEN_AUGMENTATION


def _resolve_waveforms(config: TrainConfig) -> tuple[str, str]:
    """The backbone and view recipe of a speech run, checked.

    Raises:
        ValueError: If an image option is given, or the backbone or the recipe is not one
            for waveforms.
    """
    from eblearn.data.waveforms import WAVEFORM_AUGMENTATIONS
    from eblearn.nn.audio import AUDIO_BACKBONES

    if config.image_size is not None:
        raise ValueError(
            f"image_size applies to images, and {config.data!r} holds waveforms; leave out "
            "--image-size (use --seq-len for the samples per crop)"
        )
    augmentation = config.augmentation or WAVEFORM_AUGMENTATIONS[0]
    if augmentation not in WAVEFORM_AUGMENTATIONS:
        raise ValueError(
            f"augmentation {augmentation!r} is not a view recipe for waveforms; valid: "
            f"{', '.join(WAVEFORM_AUGMENTATIONS)}"
        )
    backbone = config.backbone or WAVEFORM_BACKBONES_BY_METHOD.get(
        config.method, AUDIO_BACKBONES.names()[0]
    )
    if backbone not in AUDIO_BACKBONES:
        raise ValueError(
            f"backbone {backbone!r} does not read waveforms; valid backbones for speech: "
            f"{', '.join(AUDIO_BACKBONES.names())}"
        )
    return backbone, augmentation


def check_logger(name: str) -> None:
    """Raises ``ValueError`` on an unknown logger, or ``tensorboard`` when it is not installed.

    Example:
        >>> check_logger("csv")
    """
    check_choice(name, LOGGERS, "logger")
    if name == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "--logger tensorboard needs the tensorboard package, which is not installed: "
            "pip install tensorboard (or pip install 'eblearn[tensorboard]'), or use "
            "--logger csv"
        )


def warmup_warning(config: RunConfig) -> str | None:
    """A sentence if the warm-up covers the whole run (the peak rate is never reached)."""
    if config.warmup_epochs >= config.epochs:
        return (
            f"the warm-up ({config.warmup_epochs:g} epochs) covers the whole run "
            f"({config.epochs} epochs): the learning rate never reaches its peak {config.lr:g}; "
            "lower --warmup-epochs or leave it out (default: 10% of the run)"
        )
    return None


def resume_conflicts(saved: RunConfig, given: dict[str, Any]) -> list[str]:
    """The options in ``given`` that a resume cannot change and that differ from ``saved``."""
    conflicts = []
    for key, value in given.items():
        if key in RESUMABLE_OPTIONS or value is None:
            continue
        old = getattr(saved, key)
        if key in ("precision", "memory_format") and value == "auto":
            continue  # the saved value is what auto chose for this run
        if key == "method_args":
            changed = any(old.get(k) != v for k, v in value.items())
        else:
            changed = old != value
        if changed:
            conflicts.append(f"{key} (saved {old!r}, given {value!r})")
    return conflicts
