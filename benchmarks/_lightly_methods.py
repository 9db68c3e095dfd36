"""Each joint-embedding method assembled from lightly's parts, as lightly's own example for it
(``examples/pytorch/<method>.py``) assembles it, on any backbone.

One skeleton, :class:`LightlyMethod`: a backbone, the example's heads, its multi-view
transform, its optimizer, and one training loss per batch of views. A subclass per method
fills in only what its example does differently. Where an example has no setting for this
benchmark, the class's ``choices`` say what was chosen and why; :func:`describe` prints them
with the table.

Shared by every method, because the benchmark asks for it (not lightly's choice):

* the heads' input is the recipe backbone's feature size (the examples' ResNet-18 gives 512;
  the hidden and output sizes are the examples');
* the batch is the eblearn recipe's (256; SwAV's example uses 128);
* the examples' momentum schedule (BYOL, MoCo: ``cosine_schedule(epoch, 10, 0.996, 1)``, set
  at each epoch of a 10-epoch run) is laid over the wall budget instead of 10 epochs, since a
  budgeted run does not know its epochs: ``cosine_schedule(round(1000 * t / budget), 1000,
  0.996, 1)``, set at every step.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

LIGHTLY_SGD_LR = 0.06
"""``torch.optim.SGD(model.parameters(), lr=0.06)`` at a constant rate: every example but
SwAV's (``Adam(lr=0.001)``)."""
SCHEDULE_STEPS = 1000
"""Resolution of the momentum schedule laid over the budget (lightly's ``cosine_schedule``
takes whole steps)."""


class LightlyMethod(nn.Module):
    """A backbone and one method's heads, loss, transform and optimizer from lightly.

    Args:
        backbone: Module mapping images ``(B, C, H, W)`` to features ``(B, F)``, with a
            ``feature_dim`` attribute (``F``).
    """

    name: ClassVar[str]
    """eblearn's registry name of the method."""
    example: ClassVar[str]
    """What lightly's example uses (heads, loss, transform, optimizer)."""
    choices: ClassVar[str] = ""
    """What this benchmark chose where the example has nothing for it, and why."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = int(backbone.feature_dim)

    def features(self, images: Tensor) -> Tensor:
        """The backbone's features, flattened as the examples do. Shape ``(B, F)``."""
        return self.backbone(images).flatten(start_dim=1)

    def transform(self, size: int) -> Any:
        """lightly's multi-view transform for ``size``-pixel images (PIL in, list of views out)."""
        raise NotImplementedError

    def optimizer(self) -> torch.optim.Optimizer:
        """The example's optimizer over the model's parameters."""
        return torch.optim.SGD(self.parameters(), lr=LIGHTLY_SGD_LR)

    def before_step(self, progress: float) -> None:
        """What the example does before each step's forward pass; ``progress`` is the fraction
        of the budget used so far."""

    def training_loss(self, views: list[Tensor]) -> Tensor:
        """The example's loss on one batch of views (each ``(B, C, H, W)``)."""
        raise NotImplementedError


def _byol_views(size: int) -> Any:
    """BYOL's asymmetric views, blur off at 32 px: the BYOL and Barlow Twins examples'."""
    from lightly.transforms.byol_transform import (
        BYOLTransform,
        BYOLView1Transform,
        BYOLView2Transform,
    )

    return BYOLTransform(
        view_1_transform=BYOLView1Transform(input_size=size, gaussian_blur=0.0),
        view_2_transform=BYOLView2Transform(input_size=size, gaussian_blur=0.0),
    )


class SymmetricMethod(LightlyMethod):
    """VICReg, SimCLR and Barlow Twins as their examples write them: both views through the
    same backbone and projection head, the loss on the two projections.

    Args:
        backbone: The backbone.
        projection_head: The example's projection head.
        criterion: The example's loss on ``(z0, z1)``.
    """

    def __init__(self, backbone: nn.Module, projection_head: nn.Module, criterion: nn.Module):
        super().__init__(backbone)
        self.projection_head = projection_head
        self.criterion = criterion

    def training_loss(self, views: list[Tensor]) -> Tensor:
        z0, z1 = (self.projection_head(self.features(v)) for v in views)
        return self.criterion(z0, z1)


class LightlyVICReg(SymmetricMethod):
    name = "vicreg"
    example = (
        "BarlowTwinsProjectionHead(F, 2048, 2048), VICRegLoss(), VICRegTransform(input_size=32), "
        "SGD lr 0.06 constant"
    )
    choices = (
        "lightly's newer VICReg example uses VICRegProjectionHead(F, 2048, 2048, num_layers=2); "
        "kept the three-layer head of the first VICReg comparison so that its figures stand"
    )

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import VICRegLoss
        from lightly.models.modules import BarlowTwinsProjectionHead

        feature_dim = int(backbone.feature_dim)
        super().__init__(backbone, BarlowTwinsProjectionHead(feature_dim, 2048, 2048), VICRegLoss())

    def transform(self, size: int) -> Any:
        from lightly.transforms.vicreg_transform import VICRegTransform

        return VICRegTransform(input_size=size)


class LightlySimCLR(SymmetricMethod):
    name = "simclr"
    example = (
        "SimCLRProjectionHead(F, 512, 128), NTXentLoss() (temperature 0.5), "
        "SimCLRTransform(input_size=32, gaussian_blur=0.0), SGD lr 0.06 constant"
    )

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        feature_dim = int(backbone.feature_dim)
        super().__init__(backbone, SimCLRProjectionHead(feature_dim, 512, 128), NTXentLoss())

    def transform(self, size: int) -> Any:
        from lightly.transforms.simclr_transform import SimCLRTransform

        return SimCLRTransform(input_size=size, gaussian_blur=0.0)


class LightlyBarlowTwins(SymmetricMethod):
    name = "barlowtwins"
    example = (
        "BarlowTwinsProjectionHead(F, 2048, 2048), BarlowTwinsLoss() (lambda 5e-3), "
        "BYOLTransform (views 1 and 2 at 32 px, gaussian_blur=0.0), SGD lr 0.06 constant"
    )

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import BarlowTwinsLoss
        from lightly.models.modules import BarlowTwinsProjectionHead

        feature_dim = int(backbone.feature_dim)
        super().__init__(
            backbone, BarlowTwinsProjectionHead(feature_dim, 2048, 2048), BarlowTwinsLoss()
        )

    def transform(self, size: int) -> Any:
        return _byol_views(size)


class MomentumMethod(LightlyMethod):
    """BYOL and MoCo: a momentum copy of the backbone and projection head (no gradient),
    moved toward the online ones before each step with lightly's ``update_momentum`` at
    ``m = cosine_schedule(progress, 0.996 → 1)``.

    Args:
        backbone: The online backbone.
        projection_head: The online projection head.
    """

    choices = (
        "the example's momentum schedule (cosine 0.996 → 1 over its 10 epochs, set per epoch) "
        "is laid over the wall budget and set per step, since a budgeted run has no epoch count"
    )

    def __init__(self, backbone: nn.Module, projection_head: nn.Module) -> None:
        from lightly.models.utils import deactivate_requires_grad

        super().__init__(backbone)
        self.projection_head = projection_head
        self.backbone_momentum = copy.deepcopy(backbone)
        self.projection_head_momentum = copy.deepcopy(projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)

    def before_step(self, progress: float) -> None:
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        step = round(SCHEDULE_STEPS * min(max(progress, 0.0), 1.0))
        momentum = cosine_schedule(step, SCHEDULE_STEPS, 0.996, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m=momentum)
        update_momentum(self.projection_head, self.projection_head_momentum, m=momentum)

    @torch.no_grad()
    def momentum_embed(self, images: Tensor) -> Tensor:
        """The momentum branch's projection (no gradient). Shape ``(B, D)``."""
        features = self.backbone_momentum(images).flatten(start_dim=1)
        return self.projection_head_momentum(features).detach()


class LightlyBYOL(MomentumMethod):
    name = "byol"
    example = (
        "BYOLProjectionHead(F, 1024, 256), BYOLPredictionHead(256, 1024, 256), momentum copies "
        "of backbone and projection head, NegativeCosineSimilarity() symmetrized, BYOLTransform "
        "(32 px, gaussian_blur=0.0), SGD lr 0.06 constant"
    )

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead

        super().__init__(backbone, BYOLProjectionHead(int(backbone.feature_dim), 1024, 256))
        self.prediction_head = BYOLPredictionHead(256, 1024, 256)
        self.criterion = NegativeCosineSimilarity()

    def transform(self, size: int) -> Any:
        return _byol_views(size)

    def training_loss(self, views: list[Tensor]) -> Tensor:
        x0, x1 = views
        p0 = self.prediction_head(self.projection_head(self.features(x0)))
        p1 = self.prediction_head(self.projection_head(self.features(x1)))
        z0, z1 = self.momentum_embed(x0), self.momentum_embed(x1)
        return 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))


class LightlyMoCoV2(MomentumMethod):
    name = "mocov2"
    example = (
        "MoCoProjectionHead(F, 512, 128), momentum copies of backbone and projection head, "
        "NTXentLoss(memory_bank_size=(4096, 128)) (temperature 0.5), "
        "MoCoV2Transform(input_size=32), SGD lr 0.06 constant; loss on (query view 0, key view 1)"
    )

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead

        super().__init__(backbone, MoCoProjectionHead(int(backbone.feature_dim), 512, 128))
        self.criterion = NTXentLoss(memory_bank_size=(4096, 128))

    def transform(self, size: int) -> Any:
        from lightly.transforms.moco_transform import MoCoV2Transform

        return MoCoV2Transform(input_size=size)

    def training_loss(self, views: list[Tensor]) -> Tensor:
        x_query, x_key = views
        query = self.projection_head(self.features(x_query))
        return self.criterion(query, self.momentum_embed(x_key))


class LightlySwAV(LightlyMethod):
    name = "swav"
    example = (
        "SwaVProjectionHead(F, 512, 128), L2-normalized, SwaVPrototypes(128, n_prototypes=512) "
        "normalized before each step, SwaVLoss() on the high- and low-resolution crops, "
        "Adam lr 0.001 constant"
    )
    choices = (
        "transform from lightly's own CIFAR-10 benchmark (docs/.../cifar10_benchmark.py), "
        "SwaVTransform(crop_sizes=[32], crop_counts=[2], crop_min_scales=[0.14], cj_strength=0.5, "
        "gaussian_blur=0; crop_max_scales=[1.0] added, which lightly 1.6 requires): the "
        "example's default SwaVTransform() cuts 224 px and 96 px crops, "
        "upsampling a 32 px image 49-fold; batch 256 as the recipe (the example uses 128)"
    )

    def __init__(self, backbone: nn.Module) -> None:
        from lightly.loss import SwaVLoss
        from lightly.models.modules import SwaVProjectionHead, SwaVPrototypes

        super().__init__(backbone)
        self.projection_head = SwaVProjectionHead(self.feature_dim, 512, 128)
        self.prototypes = SwaVPrototypes(128, n_prototypes=512)
        self.criterion = SwaVLoss()

    def transform(self, size: int) -> Any:
        from lightly.transforms.swav_transform import SwaVTransform

        return SwaVTransform(
            crop_sizes=(size,),  # type: ignore[arg-type]  # lightly's CIFAR-10 benchmark
            crop_counts=(2,),  # type: ignore[arg-type]
            crop_min_scales=(0.14,),  # type: ignore[arg-type]
            crop_max_scales=(1.0,),  # type: ignore[arg-type]  # lightly 1.6 needs one per size
            cj_strength=0.5,
            gaussian_blur=0.0,
        )

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=0.001)

    def before_step(self, progress: float) -> None:
        self.prototypes.normalize()

    def training_loss(self, views: list[Tensor]) -> Tensor:
        scores = [
            self.prototypes(nn.functional.normalize(self.projection_head(self.features(v)), dim=1))
            for v in views
        ]
        return self.criterion(scores[:2], scores[2:])


LIGHTLY_METHODS: dict[str, type[LightlyMethod]] = {
    cls.name: cls
    for cls in (
        LightlyVICReg,
        LightlySimCLR,
        LightlyBYOL,
        LightlyBarlowTwins,
        LightlySwAV,
        LightlyMoCoV2,
    )
}
"""The lightly side of each benchmarked method, by eblearn's registry name."""


def describe(name: str) -> str:
    """One sentence for the benchmark's printout: the example's parts and this script's
    choices where the example had none."""
    cls = LIGHTLY_METHODS[name]
    text = f"lightly's {name} example: {cls.example}"
    return text + (f"; chosen here: {cls.choices}" if cls.choices else "")
