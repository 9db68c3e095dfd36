"""Shared pieces of the joint-embedding benchmarks.

* :func:`eblearn_method` and :func:`lightly_method` build the same method (same head sizes,
  temperature, momentum schedule, loss scale) from eblearn and from lightly's parts (lightly's
  heads, losses, ``update_momentum``, ``cosine_schedule``), both as modules with
  ``forward(views) -> {"loss": ...}``, ``on_step_end(step, total)`` and an ``encoder``.
* :class:`SmallResNet`: a 3-stage ResNet (widths 16-32-64, one basic block per stage) cheap
  enough for CPU budgets.
* :func:`train_method`: one plain training loop (SGD with momentum, warm-up + cosine) used by
  both sides, so that only the method differs.
* :func:`knn_top1`: weighted kNN (k=20, T=0.07) on frozen backbone features.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from _cifar10 import cifar10_arrays
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from eblearn.data import DatasetSplits, load_dataset
from eblearn.data.augment import AUGMENTATIONS, EvalTransform, MultiViewAugment
from eblearn.evaluate import knn_accuracy
from eblearn.methods import build_method
from eblearn.nn import Backbone
from eblearn.train.optim import LARS, parameter_groups

LIGHTLY_METHODS = ("simclr", "mocov2", "byol", "simsiam", "swav", "barlowtwins", "vicreg")
"""Methods lightly has the parts of (a loss and its heads)."""

EBLEARN_ONLY = ("mocov3", "deepclusterv2", "siamese")
"""Methods without a lightly counterpart: lightly ships no MoCo v3 query-key loss, no
DeepCluster-v2 (k-means targets) and no DrLIM pair loss."""


@dataclass(frozen=True)
class Recipe:
    """What both sides share: head sizes and the methods' hyper-parameters."""

    hidden: int = 512
    out: int = 128
    temperature_simclr: float = 0.5
    temperature_moco: float = 0.2
    queue_size: int = 4096
    momentum: float = 0.99  # MoCo v2 and BYOL: short runs need a faster target than 0.999
    prototypes: int = 100


class SmallResNet(Backbone):
    """A 3-stage ResNet for 32-px images: 3×3 stem (16), stages of one basic block each at
    widths 16, 32, 64 (strides 1, 2, 2), global average pooling: ``feature_dim = 64``."""

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        self.in_channels, self.feature_dim = in_channels, widths[-1]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        previous = widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            shortcut = None
            if stride != 1 or previous != width:
                shortcut = nn.Sequential(
                    nn.Conv2d(previous, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
                )
            layers.append(BasicBlock(previous, width, stride=stride, downsample=shortcut))
            previous = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.layers = nn.Sequential(*layers)

    def features(self, images: Tensor) -> Tensor:
        return self.layers(images)


def views_recipe(name: str, size: int, channels: int) -> MultiViewAugment:
    """The views a method trains on (SwAV: multi-crop), normalized with CIFAR's statistics."""
    preset = "multicrop" if name == "swav" else "simclr"
    mean, std = (0.4914, 0.4822, 0.4465)[:channels], (0.247, 0.243, 0.261)[:channels]
    return MultiViewAugment(AUGMENTATIONS.get(preset)(size, channels), mean, std)


def eval_transform(size: int, channels: int) -> EvalTransform:
    mean, std = (0.4914, 0.4822, 0.4465)[:channels], (0.247, 0.243, 0.261)[:channels]
    return EvalTransform(size, mean, std)


def eblearn_method(name: str, backbone: Backbone, recipe: Recipe = Recipe()) -> nn.Module:
    """eblearn's method ``name`` with the recipe's sizes and hyper-parameters."""
    h, d = recipe.hidden, recipe.out
    args: dict[str, dict[str, object]] = {
        "simclr": {"projector_dims": (h, d), "temperature": recipe.temperature_simclr},
        "mocov2": {
            "projector_dims": (h, d),
            "temperature": recipe.temperature_moco,
            "queue_size": recipe.queue_size,
            "momentum": recipe.momentum,
        },
        "mocov3": {
            "projector_dims": (h, d),
            "predictor_dims": (h, d),
            "temperature": recipe.temperature_moco,
            "momentum": recipe.momentum,
        },
        "byol": {"projector_dims": (h, d), "predictor_dims": (h, d), "momentum": recipe.momentum},
        "simsiam": {"projector_dims": (h, h, d), "predictor_hidden": h // 4},
        "swav": {"projector_dims": (h, d), "num_prototypes": recipe.prototypes},
        "deepclusterv2": {"projector_dims": (h, d), "num_prototypes": recipe.prototypes},
        "barlowtwins": {"projector_dims": (h, h, h)},
        "vicreg": {"projector_dims": (h, h, h)},
        "siamese": {"projector_dims": (h, d)},
    }
    return build_method(name, backbone, **args[name])


class _LightlyBase(nn.Module):
    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.encoder = backbone

    def on_step_end(self, step: int, total_steps: int) -> None:
        pass


class LightlySimCLR(_LightlyBase):
    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        super().__init__(backbone)
        self.head = SimCLRProjectionHead(backbone.feature_dim, recipe.hidden, recipe.out)
        self.criterion = NTXentLoss(temperature=recipe.temperature_simclr)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        z0, z1 = (self.head(self.encoder(v)) for v in views[:2])
        return {"loss": self.criterion(z0, z1)}


class LightlyMoCoV2(_LightlyBase):
    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        super().__init__(backbone)
        self.head = MoCoProjectionHead(backbone.feature_dim, recipe.hidden, recipe.out)
        self.encoder_momentum = copy.deepcopy(backbone)
        self.head_momentum = copy.deepcopy(self.head)
        deactivate_requires_grad(self.encoder_momentum)
        deactivate_requires_grad(self.head_momentum)
        self.criterion = NTXentLoss(
            temperature=recipe.temperature_moco, memory_bank_size=(recipe.queue_size, recipe.out)
        )
        self.momentum = recipe.momentum

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        query = self.head(self.encoder(views[0]))
        with torch.no_grad():
            key = self.head_momentum(self.encoder_momentum(views[1]))
        return {"loss": self.criterion(query, key)}

    def on_step_end(self, step: int, total_steps: int) -> None:
        from lightly.models.utils import update_momentum

        update_momentum(self.encoder, self.encoder_momentum, self.momentum)
        update_momentum(self.head, self.head_momentum, self.momentum)


class LightlyBYOL(_LightlyBase):
    """BYOL from lightly's parts, with the paper's loss ``Σ ||p̄ - z̄'||² = 4 + 2·Σ(-cos)``."""

    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        super().__init__(backbone)
        self.projection = BYOLProjectionHead(backbone.feature_dim, recipe.hidden, recipe.out)
        self.prediction = BYOLPredictionHead(recipe.out, recipe.hidden, recipe.out)
        self.encoder_momentum = copy.deepcopy(backbone)
        self.projection_momentum = copy.deepcopy(self.projection)
        deactivate_requires_grad(self.encoder_momentum)
        deactivate_requires_grad(self.projection_momentum)
        self.criterion = NegativeCosineSimilarity()
        self.momentum = recipe.momentum

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        p0, p1 = (self.prediction(self.projection(self.encoder(v))) for v in views[:2])
        with torch.no_grad():
            z0, z1 = (self.projection_momentum(self.encoder_momentum(v)) for v in views[:2])
        return {"loss": 4 + 2 * (self.criterion(p0, z1) + self.criterion(p1, z0))}

    def on_step_end(self, step: int, total_steps: int) -> None:
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        momentum = cosine_schedule(step, total_steps, self.momentum, 1.0)
        update_momentum(self.encoder, self.encoder_momentum, momentum)
        update_momentum(self.projection, self.projection_momentum, momentum)


class LightlySimSiam(_LightlyBase):
    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        super().__init__(backbone)
        self.projection = SimSiamProjectionHead(backbone.feature_dim, recipe.hidden, recipe.out)
        self.prediction = SimSiamPredictionHead(recipe.out, recipe.hidden // 4, recipe.out)
        self.criterion = NegativeCosineSimilarity()

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        z0, z1 = (self.projection(self.encoder(v)) for v in views[:2])
        p0, p1 = self.prediction(z0), self.prediction(z1)
        return {"loss": 0.5 * (self.criterion(p0, z1.detach()) + self.criterion(p1, z0.detach()))}


class LightlySwAV(_LightlyBase):
    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import SwaVLoss
        from lightly.models.modules import SwaVProjectionHead, SwaVPrototypes

        super().__init__(backbone)
        self.projection = SwaVProjectionHead(backbone.feature_dim, recipe.hidden, recipe.out)
        self.prototypes = SwaVPrototypes(recipe.out, recipe.prototypes)
        self.criterion = SwaVLoss()

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.prototypes.normalize()
        scores = [
            self.prototypes(F.normalize(self.projection(self.encoder(v)), dim=1)) for v in views
        ]
        return {"loss": self.criterion(scores[:2], scores[2:])}


class LightlyBarlowTwins(_LightlyBase):
    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import BarlowTwinsLoss
        from lightly.models.modules import BarlowTwinsProjectionHead

        super().__init__(backbone)
        self.head = BarlowTwinsProjectionHead(backbone.feature_dim, recipe.hidden, recipe.hidden)
        self.criterion = BarlowTwinsLoss()

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        z0, z1 = (self.head(self.encoder(v)) for v in views[:2])
        return {"loss": self.criterion(z0, z1)}


class LightlyVICReg(_LightlyBase):
    def __init__(self, backbone: Backbone, recipe: Recipe) -> None:
        from lightly.loss import VICRegLoss
        from lightly.models.modules.heads import VICRegProjectionHead

        super().__init__(backbone)
        self.head = VICRegProjectionHead(
            backbone.feature_dim, recipe.hidden, recipe.hidden, num_layers=3
        )
        self.criterion = VICRegLoss()

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        z0, z1 = (self.head(self.encoder(v)) for v in views[:2])
        return {"loss": self.criterion(z0, z1)}


LIGHTLY_BUILDERS: dict[str, Callable[[Backbone, Recipe], nn.Module]] = {
    "simclr": LightlySimCLR,
    "mocov2": LightlyMoCoV2,
    "byol": LightlyBYOL,
    "simsiam": LightlySimSiam,
    "swav": LightlySwAV,
    "barlowtwins": LightlyBarlowTwins,
    "vicreg": LightlyVICReg,
}


def lightly_method(name: str, backbone: Backbone, recipe: Recipe = Recipe()) -> nn.Module:
    """The same method assembled from lightly's parts (see :data:`LIGHTLY_METHODS`)."""
    return LIGHTLY_BUILDERS[name](backbone, recipe)


def momentum_networks(name: str) -> int:
    """How many views go through a momentum (target) backbone per step."""
    return {"mocov2": 1, "mocov3": 2, "byol": 2}.get(name, 0)


def warmup_cosine_lr(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


@dataclass
class TrainStats:
    steps: int
    images: int
    seconds: float
    final_loss: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def train_method(
    method: nn.Module,
    images: Tensor,
    augment: MultiViewAugment,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device,
    weight_decay: float = 5e-4,
    optimizer: str = "sgd",
    autocast: torch.dtype | None = None,
    channels_last: bool = False,
    time_limit: float | None = None,
) -> TrainStats:
    """Trains ``method`` on uint8 ``images`` (on ``device``) with SGD (momentum 0.9) or
    eblearn's LARS (no decay or adaptation on biases and norms), warm-up + cosine.

    The batch order and the augmentations come from ``seed`` alone, so two methods trained with
    the same seed see the same views. Stops early when ``time_limit`` seconds have passed.
    """
    method.to(device).train()
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if optimizer == "lars":
        optimizer_ = LARS(parameter_groups(method, weight_decay), lr=lr, weight_decay=weight_decay)
    else:
        parameters = [p for p in method.parameters() if p.requires_grad]
        optimizer_ = torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    steps_per_epoch = len(images) // batch_size
    total = epochs * steps_per_epoch
    warmup = max(1, total // 10)
    generator = torch.Generator(device=device).manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    uses_indices = getattr(method, "uses_indices", False)
    if hasattr(method, "prepare"):
        method.prepare(len(images))
    step, start = 0, time.perf_counter()
    for epoch in range(epochs):
        if hasattr(method, "on_epoch_start"):
            method.on_epoch_start(epoch, epochs)
        order = torch.randperm(len(images), generator=order_generator)
        for i in range(steps_per_epoch):
            for group in optimizer_.param_groups:
                group["lr"] = lr * warmup_cosine_lr(step, total, warmup)
            index = order[i * batch_size : (i + 1) * batch_size].to(images.device)
            views = augment(images[index], generator=generator)
            if channels_last:
                views = [v.contiguous(memory_format=torch.channels_last) for v in views]
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                out = method(views, indices=index) if uses_indices else method(views)
                loss = out["loss"]
            optimizer_.zero_grad(set_to_none=True)
            loss.backward()
            optimizer_.step()
            step += 1
            method.on_step_end(step, total)
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
        else:
            continue
        break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return TrainStats(step, step * batch_size, seconds, float(loss.detach()))


@torch.no_grad()
def load_cifar10(root: str | Path | None = None) -> DatasetSplits:
    """CIFAR-10 as arrays: ``root`` holding train.npz and test.npz, or the shared copy."""
    return load_dataset(f"npz:{root if root else cifar10_arrays()}")


def knn_top1(
    encoder: nn.Module,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    transform: EvalTransform,
    device: torch.device,
    batch_size: int = 1024,
    autocast: torch.dtype | None = None,
) -> float:
    """Weighted kNN top-1 (k=20, T=0.07) of the frozen encoder's features (eval mode); the
    features are computed under ``autocast`` when given, the neighbours in float32."""
    encoder.eval()
    transform = transform.to(device)

    def features(images: Tensor) -> Tensor:
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            parts = [encoder(transform(chunk.to(device))) for chunk in images.split(batch_size)]
        return torch.cat(parts).float()

    accuracy = knn_accuracy(
        features(train_images), train_labels.to(device), features(test_images),
        test_labels.to(device), k=20, temperature=0.07,
    )  # fmt: skip
    encoder.train()
    return accuracy
