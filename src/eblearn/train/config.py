"""The training configuration: one dataclass, readable from YAML and the command line.

Fields left at ``None`` are filled by :func:`resolve` from the data set (image size, backbone,
augmentation) and the optimizer (learning rate, weight decay); the resolved configuration is
what a run folder's ``config.yaml`` holds, so a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eblearn._validate import check_choice

OPTIMIZERS = ("adamw", "sgd", "lars")
PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")

# Base learning rates for a batch of 256 (scaled linearly with the batch size) and weight decay.
OPTIMIZER_DEFAULTS: dict[str, tuple[float, float]] = {
    "adamw": (2e-3, 1e-4),
    "sgd": (0.05, 5e-4),
    "lars": (0.3, 1e-4),
}

# What suits each data set when a field is left empty: measured recipes, see BENCHMARKS.md.
MIN_IMAGE_SIZE = 16
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
    "digits": {
        "epochs": 60,
        "optimizer": "adamw",
        "warmup_epochs": 6,
        "method_args": SMALL_HEADS,
    },
}
GENERIC_DEFAULTS: dict[str, Any] = {
    "epochs": 100,
    "optimizer": "lars",
    "warmup_epochs": 10,
    "method_args": {},
}


@dataclass
class TrainConfig:
    """Everything a training run depends on.

    Attributes:
        method: Registered method name (``eblearn methods`` lists them).
        data: Dataset spec: ``digits``, ``cifar10``, ..., ``npz:PATH``, ``imagefolder:PATH``.
        data_root: Folder of downloadable data sets (default ``$EBLEARN_DATA`` or ``./data``).
        download: Allow downloading a missing data set.
        backbone: Registered backbone name; default ``convnet`` up to 32 px, else ``resnet18``.
        backbone_args: Extra keyword arguments of the backbone builder (e.g. ``width``).
        method_args: Hyper-parameters of the method (e.g. ``projector_dims``).
        augmentation: Registered view recipe; default ``digits`` for 1 channel, else ``simclr``.
        image_size: Side of the views; default the data's, at least 16 px.
        epochs: Passes over the pretraining images.
        batch_size: Images per step (per device).
        optimizer: ``adamw``, ``sgd`` or ``lars``.
        lr: Peak learning rate; default the optimizer's base rate × batch_size / 256.
        weight_decay: Weight decay (not applied to biases and normalization parameters).
        warmup_epochs: Linear warm-up before the cosine decay.
        seed: Seed of everything random; each step reseeds from (seed, step, rank).
        deterministic: Ask PyTorch for deterministic algorithms.
        precision: ``auto`` (bf16-mixed on GPUs that support it, else 32), ``32``,
            ``bf16-mixed`` or ``16-mixed``.
        accelerator: Lightning accelerator (``auto``, ``cpu``, ``gpu``, ``mps``).
        devices: Number of devices; more than one trains with DDP.
        online_probe: Train a linear probe on detached features during pretraining.
        knn_k, knn_temperature: The kNN evaluation's neighbours and vote temperature.
        run_dir: Run folder; default ``runs/<method>-<data>-<time>``.
        progress_bar: Show a progress bar.
    """

    method: str = "vicreg"
    data: str = "digits"
    data_root: str | None = None
    download: bool = False
    backbone: str | None = None
    backbone_args: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, Any] = field(default_factory=dict)
    augmentation: str | None = None
    image_size: int | None = None
    epochs: int | None = None
    batch_size: int = 256
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    seed: int = 0
    deterministic: bool = False
    precision: str = "auto"
    accelerator: str = "auto"
    devices: int = 1
    online_probe: bool = True
    knn_k: int = 20
    knn_temperature: float = 0.07
    run_dir: str | None = None
    progress_bar: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Builds a config from a mapping; unknown keys raise ``ValueError`` listing valid ones."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}"
            )
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Reads a YAML file of config keys."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"config file {str(path)!r} must hold a mapping of keys to values")
        return cls.from_dict(values)

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def resolve(config: TrainConfig, channels: int, native_size: int) -> TrainConfig:
    """Fills every ``None`` field from the data set's and the optimizer's defaults.

    Raises:
        ValueError: On unknown names (method, backbone, augmentation, optimizer, precision)
            or non-positive sizes.
    """
    from eblearn.data.augment import AUGMENTATIONS, default_augmentation
    from eblearn.methods.base import METHODS
    from eblearn.nn.backbones import BACKBONES

    method = METHODS.get(config.method)
    name = config.data.partition(":")[0]
    defaults = DATASET_DEFAULTS.get(name, GENERIC_DEFAULTS)
    image_size = config.image_size or max(MIN_IMAGE_SIZE, native_size)
    backbone = config.backbone or ("convnet" if image_size <= 32 else "resnet18")
    BACKBONES.get(backbone)
    augmentation = (
        config.augmentation
        or method.preferred_augmentation(channels)
        or default_augmentation(channels)
    )
    AUGMENTATIONS.get(augmentation)
    optimizer = config.optimizer or defaults["optimizer"]
    check_choice(optimizer, OPTIMIZERS, "optimizer")
    check_choice(config.precision, PRECISIONS, "precision")
    base_lr, base_wd = OPTIMIZER_DEFAULTS[optimizer]
    method_args = dict(defaults["method_args"].get(config.method, {}))
    method_args.update(config.method_args)
    resolved = dataclasses.replace(
        config,
        backbone=backbone,
        augmentation=augmentation,
        image_size=image_size,
        epochs=config.epochs if config.epochs is not None else defaults["epochs"],
        optimizer=optimizer,
        lr=config.lr if config.lr is not None else base_lr * config.batch_size / 256,
        weight_decay=config.weight_decay if config.weight_decay is not None else base_wd,
        warmup_epochs=(
            config.warmup_epochs if config.warmup_epochs is not None else defaults["warmup_epochs"]
        ),
        method_args=method_args,
    )
    for key in ("epochs", "batch_size", "image_size", "devices", "knn_k"):
        value = getattr(resolved, key)
        if value is None or value < 1:
            raise ValueError(f"{key} must be >= 1, got {value!r}")
    if resolved.warmup_epochs is None or resolved.warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {resolved.warmup_epochs!r}")
    if resolved.lr is None or resolved.lr <= 0:
        raise ValueError(f"lr must be > 0, got {resolved.lr!r}")
    return resolved
