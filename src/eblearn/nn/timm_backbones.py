"""``timm:NAME`` backbones: any model of the optional package timm, by name.

``timm.create_model(NAME, pretrained=False, num_classes=0, in_chans=C, **options)`` is timm's
model without its classifier: it returns pooled features ``(B, D)``, ``D`` the model's
``head_hidden_size`` (``num_features`` for most models; larger for models whose pooled
features pass through a hidden head layer, such as MobileNetV3). Nothing is downloaded.

Models whose patch embedding takes one input size only (ViTs, DeiT, ...) are built for the
run's image size (``img_size=S``) unless ``img_size`` is among the options, so
``--backbone timm:vit_tiny_patch16_224`` trains at 32 px as well as at 224 px.

timm is imported only when a ``timm:`` name is used: ``pip install timm`` (or
``pip install 'eblearn[timm]'``).
"""

from __future__ import annotations

import difflib
from types import ModuleType
from typing import Any

from torch import Tensor, nn

from eblearn.nn.backbones import Backbone

TIMM_PREFIX = "timm:"
"""Backbone names that start with this are timm model names."""

RESERVED_OPTIONS = ("pretrained", "num_classes", "in_chans")
"""``timm.create_model`` arguments eblearn sets itself (weights, no classifier, channels)."""


def require_timm() -> ModuleType:
    """The ``timm`` module.

    Raises:
        ImportError: If timm is not installed, saying how to install it.
    """
    try:
        import timm
    except ImportError:
        raise ImportError(
            f"--backbone {TIMM_PREFIX}NAME needs the optional package timm, which is not "
            "installed: pip install timm (or pip install 'eblearn[timm]')"
        ) from None
    return timm


def check_timm_name(model: str) -> None:
    """Raises unless ``model`` names a timm architecture (optionally with a ``.tag``).

    Raises:
        ImportError: If timm is not installed.
        ValueError: If timm has no such model; the message lists the closest names.
    """
    timm = require_timm()
    if not model:
        raise ValueError(f"{TIMM_PREFIX}NAME needs a timm model name, e.g. {TIMM_PREFIX}resnet18")
    if timm.is_model(model):
        return
    close = difflib.get_close_matches(model, timm.list_models(), n=5, cutoff=0.6)
    suggestion = f"; closest: {', '.join(close)}" if close else ""
    raise ValueError(
        f"timm has no model {model!r} (timm {timm.__version__}){suggestion}; "
        "timm.list_models('*PATTERN*') lists them"
    )


def prefix_hint(name: str) -> str:
    """``"; did you mean timm:NAME?"`` if timm is installed and knows ``name``, else ``""``."""
    try:
        import timm
    except ImportError:
        return ""
    return f"; did you mean {TIMM_PREFIX}{name}?" if timm.is_model(name) else ""


def fixed_input_size(net: nn.Module) -> tuple[int, int] | None:
    """The only input size ``(H, W)`` the model takes, if its patch embedding enforces one."""
    embed = getattr(net, "patch_embed", None)
    size = getattr(embed, "img_size", None)
    if size is None or not getattr(embed, "strict_img_size", False):
        return None
    return int(size[0]), int(size[1])


class TimmBackbone(Backbone):
    """A timm model without its classifier: images ``(B, C, H, W)`` to pooled features.

    ``features = timm.create_model(model, pretrained=False, num_classes=0, **options)(x)``:
    timm's own forward, pooling included (average pooling for CNNs, the class token or mean
    token for ViTs, as the model defines). Its state dict loads with ``strict=True`` into
    ``timm.create_model(model, num_classes=0, **options)`` (see :attr:`options`).

    Args:
        model: A timm model name (``resnet18``, ``vit_tiny_patch16_224``, ...).
        in_channels: Image channels (timm's ``in_chans``).
        image_size: Side of the images; sets ``img_size`` of fixed-size models (ViTs).
        **options: Other keyword arguments of ``timm.create_model`` (``drop_path_rate=0.1``,
            ``img_size=32``); not ``pretrained``, ``num_classes`` or ``in_chans``.

    Raises:
        ImportError: If timm is not installed.
        ValueError: If timm has no such model, an option is reserved, or timm refuses the
            options.

    Example (timm is in the ``test`` extra, so CI runs it):
        >>> net = TimmBackbone("vit_tiny_patch16_224", in_channels=1, image_size=32)
        >>> net.options, net.feature_dim
        ({'in_chans': 1, 'img_size': 32}, 192)
    """

    def __init__(
        self, model: str, in_channels: int = 3, image_size: int | None = None, **options: Any
    ) -> None:
        super().__init__()
        require_timm()
        check_timm_name(model)
        reserved = sorted(set(options) & set(RESERVED_OPTIONS))
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} cannot be a timm backbone option: eblearn builds "
                f"{TIMM_PREFIX}{model} untrained, without classifier, for the data's channels"
            )
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.options: dict[str, Any] = {}
        """Keyword arguments of ``timm.create_model`` besides ``num_classes=0`` (recipes)."""
        if in_channels != 3:
            self.options["in_chans"] = in_channels
        self.options.update(options)
        net = self._create(model, image_size)
        fixed = fixed_input_size(net)
        wanted = None if image_size is None else (image_size, image_size)
        if (
            fixed is not None
            and wanted is not None
            and fixed != wanted
            and "img_size" not in options
        ):
            self.options["img_size"] = image_size  # rebuilt for the run's image size
            net = self._create(model, image_size)
        self.net = net
        self.model = model
        self.in_channels = in_channels
        size: Any = getattr(net, "head_hidden_size", None) or net.num_features
        self.feature_dim = int(size)

    def _create(self, model: str, image_size: int | None) -> nn.Module:
        import timm

        try:
            net: nn.Module = timm.create_model(
                model, pretrained=False, num_classes=0, **self.options
            )
        except (TypeError, ValueError, AssertionError, RuntimeError) as error:
            raise ValueError(
                f"timm cannot build {model!r} with options {self.options} "
                f"for {image_size} px images: {error}"
            ) from None
        return net

    def features(self, images: Tensor) -> Tensor:
        return self.net(images)

    def standalone(self) -> nn.Module:
        return self.net
