"""A timm Vision Transformer seen as patch tokens, so that MAE can drop the masked ones.

MAE encodes only the visible patches [0]: it needs a ViT's two halves apart, the patch tokens
with their positions (``tokens``) and the transformer over any subset of them (``encode``).
timm's ``VisionTransformer.forward_features`` runs both at once, so this adapter splits it
along timm's own steps: ``patch_embed``, position embedding, prefix tokens (class and
register tokens), ``norm_pre``, ``blocks``, ``norm``. On all patches, in order,
``encode(tokens(x))`` equals ``forward_features(x)`` without the prefix tokens (tested).

Position embeddings follow timm's two conventions: with ``no_embed_class`` the patches alone
have positions and prefix tokens have none; otherwise ``pos_embed`` holds the prefix tokens'
positions first. The adapter holds the backbone without owning it: the weights stay in the
:class:`~eblearn.nn.timm_backbones.TimmBackbone`, which is what evaluation and export use.

[0] He et al., Masked Autoencoders Are Scalable Vision Learners, CVPR 2022,
    https://arxiv.org/abs/2111.06377
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eblearn.nn.timm_backbones import TIMM_PREFIX, TimmBackbone


class TimmViTTokens:
    """The patch-token interface (``tokens``, ``encode``) of a timm ViT backbone.

    Args:
        backbone: A :class:`~eblearn.nn.timm_backbones.TimmBackbone` holding a timm
            ``VisionTransformer`` with square patches and a fixed image size.

    Raises:
        ValueError: If the model is not a timm vision transformer, or its patches or
            position embedding do not fit masking (non-square patches, dynamic image size).
    """

    def __init__(self, backbone: TimmBackbone) -> None:
        from timm.models.vision_transformer import VisionTransformer

        net = backbone.net
        name = f"{TIMM_PREFIX}{backbone.model}"
        if not isinstance(net, VisionTransformer):
            raise ValueError(
                f"{name} is not a vision transformer: MAE hides patches by dropping their "
                "tokens, which needs one; choose a timm ViT (timm:vit_tiny_patch16_224, "
                "timm:deit_tiny_patch16_224, ...) or --backbone vit"
            )
        side_h, side_w = net.patch_embed.patch_size
        if side_h != side_w:
            raise ValueError(f"{name} has {side_h}×{side_w} patches; MAE needs square ones")
        if getattr(net, "dynamic_img_size", False):
            raise ValueError(
                f"{name} is built with dynamic_img_size; build it for the run's image size"
            )
        self.backbone = backbone
        self.patch_size = int(side_h)

    @property
    def _net(self) -> Any:
        """The timm ``VisionTransformer`` (typed loosely: timm's attributes are dynamic)."""
        return self.backbone.net

    @property
    def in_channels(self) -> int:
        return self.backbone.in_channels

    @property
    def feature_dim(self) -> int:
        return int(self._net.embed_dim)

    def tokens(self, images: Tensor) -> Tensor:
        """Embedded patches plus their position embedding, ``(B, N, D)``."""
        net = self._net
        patches = net.patch_embed(images)  # (B, N, D)
        if net.pos_embed is None:
            return patches
        skip = 0 if net.no_embed_class else net.num_prefix_tokens
        return patches + net.pos_embed[:, skip:]

    def encode(self, tokens: Tensor) -> Tensor:
        """The transformer over patch tokens ``(B, N', D)``: the prefix tokens are prepended
        (with their positions), and dropped again from the output, ``(B, N', D)``."""
        net = self._net
        batch = tokens.shape[0]
        prefix = [
            token.expand(batch, -1, -1)
            for token in (net.cls_token, net.reg_token)
            if token is not None
        ]
        if prefix:
            leading = torch.cat(prefix, 1)  # (B, n_prefix, D)
            if net.pos_embed is not None and not net.no_embed_class:
                leading = leading + net.pos_embed[:, : net.num_prefix_tokens]
            tokens = torch.cat([leading.to(tokens.dtype), tokens], 1)
        x = net.norm_pre(net.pos_drop(tokens))
        x = net.norm(net.blocks(x))
        return x[:, net.num_prefix_tokens :]
