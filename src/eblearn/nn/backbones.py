"""Backbones: the encoders whose features evaluation and export use.

A backbone maps images ``(B, C, H, W)`` to features ``(B, feature_dim)`` and declares
``in_channels`` and ``feature_dim``. Names are registered in :data:`BACKBONES`; besides them,
``timm:NAME`` builds any model of the optional package timm
(:mod:`eblearn.nn.timm_backbones`). :func:`check_backbone_name` validates both kinds of name,
:func:`build_backbone` builds them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from eblearn.registry import Registry


class Backbone(nn.Module):
    """Base class: checks the input, then calls :meth:`features`.

    Attributes:
        in_channels: Number of image channels C the backbone takes.
        feature_dim: Size of the feature vector it returns.
    """

    in_channels: int
    feature_dim: int

    def forward(self, images: Tensor) -> Tensor:
        """Maps images ``(B, in_channels, H, W)`` to features ``(B, feature_dim)``."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} takes images of shape (B, {self.in_channels}, H, W), "
                f"got {tuple(images.shape)}; build the backbone with "
                f"in_channels={images.shape[1] if images.ndim == 4 else '?'}"
            )
        return self.features(images)

    def features(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def standalone(self) -> nn.Module:
        """The plain torch module that computes :meth:`features`, without the input check.

        Export writes this module (its state dict, a trace of it, its ONNX graph), so that
        the file loads without eblearn: a ResNet's is torchvision's model with ``fc`` set to
        ``nn.Identity()``, a ConvNet's an ``nn.Sequential``. Subclasses whose features come
        from one inner module return it; the default is the backbone itself.
        """
        return self


def _check_channels(in_channels: int) -> None:
    if in_channels not in (1, 3):
        raise ValueError(
            f"backbones take 1-channel (gray) or 3-channel (RGB) images, got in_channels="
            f"{in_channels}; convert the data set to 1 or 3 channels"
        )


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvNet(Backbone):
    """A small VGG-style ConvNet for small images (digits, MNIST, CIFAR).

    ``stages`` stages of 3×3 conv-BN-ReLU layers; stage ``s`` (from 0) has width ``w·2^s``
    and two layers, the last stage one, with a 2×2 max-pool between stages; then global
    average pooling, so ``feature_dim = w·2^(stages-1)``. The default three stages are the
    five layers ``w, w, 2w, 2w, 4w`` (Simonyan & Zisserman 2015, scaled down). A fourth
    stage works at a quarter of the third's resolution, so it doubles the features for a
    small share of the compute (at 32 px: 8×8 → 4×4).

    Args:
        in_channels: Image channels, 1 or 3.
        width: Base width ``w``.
        stages: Number of stages, at least 1; images need a side of at least
            ``2^(stages-1)`` px.

    Example:
        >>> import torch
        >>> ConvNet(in_channels=1, width=8)(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 32])
        >>> ConvNet(in_channels=1, width=8, stages=4)(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 64])
    """

    def __init__(self, in_channels: int = 3, width: int = 32, stages: int = 3) -> None:
        super().__init__()
        _check_channels(in_channels)
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        self.in_channels = in_channels
        self.feature_dim = width * 2 ** (stages - 1)
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in range(stages):
            stage_width = width * 2**stage
            last = stage == stages - 1
            for _ in range(1 if last else 2):
                layers.append(_conv_bn_relu(channels, stage_width))
                channels = stage_width
            if not last:
                layers.append(nn.MaxPool2d(2))  # halves the side: (B, w·2^s, H/2^(s+1), ...)
        self.layers = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def features(self, images: Tensor) -> Tensor:
        return self.layers(images)

    def standalone(self) -> nn.Module:
        return self.layers


SMALL_STEM_MAX_PX = 64
"""Images of at most this side get the small-image stem by default (ResNets, RegNets)."""


def _small_stem(image_size: int, cifar_stem: bool | None) -> bool:
    """``cifar_stem`` if given, else whether ``image_size <= SMALL_STEM_MAX_PX``."""
    return image_size <= SMALL_STEM_MAX_PX if cifar_stem is None else cifar_stem


class ResNet(Backbone):
    """torchvision's ResNet without its classifier, optionally with a CIFAR stem.

    The CIFAR stem (He et al. 2016, section 4.2; used by SimCLR on CIFAR) replaces the 7×7
    stride-2 convolution and the max-pool by one 3×3 stride-1 convolution, so 32-px images
    keep their resolution through the first stage.

    Args:
        depth: 18 or 50.
        in_channels: Image channels, 1 or 3.
        cifar_stem: Use the small-image stem.
    """

    def __init__(self, depth: int = 18, in_channels: int = 3, cifar_stem: bool = False) -> None:
        super().__init__()
        from torchvision.models import resnet18, resnet50

        _check_channels(in_channels)
        builders = {18: resnet18, 50: resnet50}
        if depth not in builders:
            raise ValueError(f"ResNet depth must be one of {sorted(builders)}, got {depth}")
        net = builders[depth](weights=None)
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.in_channels = in_channels
        self.depth = depth
        self.cifar_stem = cifar_stem

    def features(self, images: Tensor) -> Tensor:
        return self.net(images)

    def standalone(self) -> nn.Module:
        return self.net


REGNETS: dict[str, int] = {
    "regnet_x_400mf": 400,
    "regnet_y_400mf": 440,
    "regnet_y_800mf": 784,
    "regnet_y_1_6gf": 888,
}
"""The torchvision RegNets eblearn registers, with their feature sizes (``fc.in_features``)."""


class RegNet(Backbone):
    """torchvision's RegNet (X or Y) without its classifier, optionally with a small-image stem.

    A RegNet [0] is a stem (3×3 stride-2 convolution, 32 channels), four stages of residual
    bottleneck blocks whose widths and depths follow a quantized linear rule (Y adds
    squeeze-and-excitation), then global average pooling: ``features = pool(trunk(stem(x)))``.
    Its total stride is 32, so a 32-px image would reach the last stage at 1×1. The
    small-image stem, like ResNet's CIFAR stem, gives the stem convolution stride 1 (total
    stride 16: 2×2 at 32 px); the weights keep their shapes.

    [0] Radosavovic et al., Designing Network Design Spaces, CVPR 2020,
        https://arxiv.org/abs/2003.13678

    Args:
        arch: A torchvision RegNet name, one of :data:`REGNETS`.
        in_channels: Image channels, 1 or 3.
        cifar_stem: Use the stride-1 small-image stem.

    Example:
        >>> import torch
        >>> RegNet("regnet_y_400mf", in_channels=1, cifar_stem=True)(
        ...     torch.zeros(2, 1, 16, 16)
        ... ).shape
        torch.Size([2, 440])
    """

    def __init__(
        self, arch: str = "regnet_y_400mf", in_channels: int = 3, cifar_stem: bool = False
    ) -> None:
        super().__init__()
        from torchvision import models

        _check_channels(in_channels)
        if arch not in REGNETS:
            raise ValueError(f"RegNet arch must be one of {', '.join(REGNETS)}, got {arch!r}")
        net = getattr(models, arch)(weights=None)
        stem_width = net.stem[0].out_channels
        if cifar_stem or in_channels != 3:
            stride = 1 if cifar_stem else 2
            net.stem[0] = nn.Conv2d(
                in_channels, stem_width, 3, stride=stride, padding=1, bias=False
            )
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.in_channels = in_channels
        self.arch = arch
        self.stem_width = stem_width
        self.cifar_stem = cifar_stem

    def features(self, images: Tensor) -> Tensor:
        return self.net(images)

    def standalone(self) -> nn.Module:
        return self.net


BackboneBuilder = Callable[..., Backbone]

BACKBONES: Registry[BackboneBuilder] = Registry("backbone")
"""Backbone builders by name, each called as ``builder(in_channels=..., image_size=...)``."""


@BACKBONES.register("convnet")
def convnet(
    in_channels: int = 3, image_size: int = 32, width: int = 32, stages: int = 3
) -> Backbone:
    """Small VGG-style ConvNet (3 stages: 5 layers, 128-d features) for images up to 32 px."""
    if stages >= 1 and image_size < 2 ** (stages - 1):
        raise ValueError(
            f"a convnet of {stages} stages pools the image {stages - 1} times and needs a "
            f"side of at least {2 ** (stages - 1)} px, got {image_size} px; use "
            f"stages <= {max(1, image_size.bit_length())}"
        )
    return ConvNet(in_channels=in_channels, width=width, stages=stages)


@BACKBONES.register("resnet18")
def resnet18(
    in_channels: int = 3, image_size: int = 224, cifar_stem: bool | None = None
) -> Backbone:
    """ResNet-18 (512-d features); CIFAR stem for images of 64 px or less."""
    return ResNet(18, in_channels=in_channels, cifar_stem=_small_stem(image_size, cifar_stem))


@BACKBONES.register("resnet50")
def resnet50(
    in_channels: int = 3, image_size: int = 224, cifar_stem: bool | None = None
) -> Backbone:
    """ResNet-50 (2048-d features); CIFAR stem for images of 64 px or less."""
    return ResNet(50, in_channels=in_channels, cifar_stem=_small_stem(image_size, cifar_stem))


def _regnet_builder(arch: str) -> BackboneBuilder:
    """The registry entry of one torchvision RegNet (the same options as the ResNets')."""

    def build(
        in_channels: int = 3, image_size: int = 224, cifar_stem: bool | None = None
    ) -> Backbone:
        return RegNet(arch, in_channels=in_channels, cifar_stem=_small_stem(image_size, cifar_stem))

    _, family, *size = arch.split("_")  # regnet_y_1_6gf -> y, [1, 6gf]
    label = f"RegNet{family.upper()}-{'.'.join(size).upper()}"
    build.__name__ = build.__qualname__ = arch
    build.__doc__ = (
        f"torchvision {label} ({REGNETS[arch]}-d features); stride-1 stem for images of "
        f"{SMALL_STEM_MAX_PX} px or less."
    )
    return build


for _arch in REGNETS:
    BACKBONES.register(_arch, _regnet_builder(_arch))


def check_backbone_name(name: str) -> None:
    """Raises unless ``name`` is a registered backbone or ``timm:NAME`` of a timm model.

    Reads nothing and builds nothing (``timm:`` names import timm to look the name up).

    Raises:
        ValueError: On an unknown name (listing the registered ones, or timm's closest).
        ImportError: On a ``timm:`` name when timm is not installed (``pip install timm``).
    """
    from eblearn.nn import timm_backbones

    if name.startswith(timm_backbones.TIMM_PREFIX):
        timm_backbones.check_timm_name(name[len(timm_backbones.TIMM_PREFIX) :])
        return
    if name in BACKBONES:
        return
    hint = timm_backbones.prefix_hint(name)
    raise ValueError(
        f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES.names())}, or "
        f"{timm_backbones.TIMM_PREFIX}NAME for a timm model{hint}"
    )


def build_backbone(name: str, in_channels: int, image_size: int, **kwargs: object) -> Backbone:
    """Builds a backbone for images of ``in_channels`` channels and side ``image_size``.

    ``name`` is a registered name or ``timm:NAME``; ``kwargs`` are the registered builder's
    options, or for timm extra keyword arguments of ``timm.create_model`` (``img_size=32``).

    Raises:
        ValueError: On an unknown name or option (listing the valid ones) or a channel count
            it cannot take.
        ImportError: On a ``timm:`` name when timm is not installed.
    """
    import inspect

    check_backbone_name(name)
    from eblearn.nn import timm_backbones

    if name.startswith(timm_backbones.TIMM_PREFIX):
        model = name[len(timm_backbones.TIMM_PREFIX) :]
        return timm_backbones.TimmBackbone(model, in_channels, image_size, **kwargs)
    builder = BACKBONES.get(name)
    accepted = [
        p for p in inspect.signature(builder).parameters if p not in ("in_channels", "image_size")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"backbone {name!r} has no option(s) {', '.join(unknown)}; "
            f"valid: {', '.join(accepted) or 'none'}"
        )
    return builder(in_channels=in_channels, image_size=image_size, **kwargs)
