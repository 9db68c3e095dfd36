"""A small Vision Transformer backbone, image-size agnostic, for masked autoencoding.

Images are cut into ``p × p`` patches, each linearly embedded, plus a fixed 2-D sine-cosine
position code (as MAE uses), so the same weights take any image whose sides are multiples of
``p``. Features are the mean of the encoded tokens after a final LayerNorm.

[0] Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at
    Scale, ICLR 2021, https://arxiv.org/abs/2010.11929
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from eblearn.nn.backbones import BACKBONES, Backbone


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """``(B, C, H, W)`` images to ``(B, N, C·p·p)`` patches, row-major over the patch grid.

    Raises:
        ValueError: If ``H`` or ``W`` is not a multiple of ``patch_size``.

    Example:
        >>> patchify(torch.arange(16.0).view(1, 1, 4, 4), 2)[0, 1]
        tensor([2., 3., 6., 7.])
    """
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"image sides ({h}, {w}) must be multiples of the patch size {patch_size}; "
            "resize the images or change patch_size"
        )
    grid_h, grid_w = h // patch_size, w // patch_size
    patches = images.reshape(b, c, grid_h, patch_size, grid_w, patch_size)
    patches = patches.permute(0, 2, 4, 1, 3, 5)  # (B, gh, gw, C, p, p)
    return patches.reshape(b, grid_h * grid_w, c * patch_size * patch_size)


def unpatchify(patches: Tensor, patch_size: int, channels: int, height: int, width: int) -> Tensor:
    """Inverse of :func:`patchify`: ``(B, N, C·p·p)`` to ``(B, C, H, W)``."""
    b = patches.shape[0]
    grid_h, grid_w = height // patch_size, width // patch_size
    images = patches.reshape(b, grid_h, grid_w, channels, patch_size, patch_size)
    images = images.permute(0, 3, 1, 4, 2, 5)  # (B, C, gh, p, gw, p)
    return images.reshape(b, channels, height, width)


def sincos_position_codes(grid_h: int, grid_w: int, dim: int) -> Tensor:
    """Fixed 2-D sine-cosine position codes ``(gh·gw, dim)``: half the channels encode the
    row, half the column, each with ``sin`` and ``cos`` at ``dim/4`` frequencies.

    Raises:
        ValueError: If ``dim`` is not a multiple of 4.
    """
    if dim % 4:
        raise ValueError(f"the token dimension must be a multiple of 4, got {dim}")
    quarter = dim // 4
    frequencies = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    rows, cols = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float32),
        torch.arange(grid_w, dtype=torch.float32),
        indexing="ij",
    )
    angles_r = rows.flatten()[:, None] * frequencies  # (N, dim/4)
    angles_c = cols.flatten()[:, None] * frequencies
    return torch.cat([angles_r.sin(), angles_r.cos(), angles_c.sin(), angles_c.cos()], 1)


def transformer_blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    """``depth`` pre-norm transformer blocks (attention + GELU MLP) of width ``dim``."""
    if dim % heads:
        raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
    return nn.ModuleList(
        nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=int(dim * mlp_ratio),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        for _ in range(depth)
    )


class PatchTokenEncoder(Protocol):
    """A transformer seen as patch tokens, which a masked autoencoder can drop.

    :class:`VisionTransformer` is one; :class:`~eblearn.latent.timm_vit.TimmViTTokens`
    makes one of a timm ViT.
    """

    @property
    def in_channels(self) -> int: ...

    @property
    def patch_size(self) -> int: ...

    @property
    def feature_dim(self) -> int: ...

    def tokens(self, images: Tensor) -> Tensor:
        """Patch tokens with their positions, ``(B, N, D)``."""
        ...

    def encode(self, tokens: Tensor) -> Tensor:
        """The encoded tokens ``(B, N', D)`` of any subset ``(B, N', D)`` of them."""
        ...


class VisionTransformer(Backbone):
    """A small ViT: patch embedding, fixed 2-D position codes, pre-norm blocks, mean pooling.

    Args:
        in_channels: Image channels.
        patch_size: Side ``p`` of the square patches.
        dim: Token width (``feature_dim``), a multiple of 4 and of ``heads``.
        depth: Transformer blocks.
        heads: Attention heads.
        mlp_ratio: Hidden width of the blocks' MLPs, relative to ``dim``.

    Example:
        >>> vit = VisionTransformer(in_channels=1, patch_size=4, dim=32, depth=1, heads=2)
        >>> vit(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 32])
    """

    def __init__(
        self,
        in_channels: int = 3,
        patch_size: int = 4,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if patch_size < 1 or depth < 1 or heads < 1:
            raise ValueError(
                f"patch_size, depth and heads must be >= 1, got {patch_size}, {depth}, {heads}"
            )
        self.in_channels = in_channels
        self.feature_dim = dim
        self.patch_size = patch_size
        self.embed = nn.Linear(in_channels * patch_size * patch_size, dim)
        self.blocks = transformer_blocks(dim, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        sincos_position_codes(1, 1, dim)  # checks dim

    def tokens(self, images: Tensor) -> Tensor:
        """Embedded patches plus position codes, ``(B, N, dim)``."""
        patches = patchify(images, self.patch_size)  # (B, N, C·p·p)
        grid_h = images.shape[-2] // self.patch_size
        grid_w = images.shape[-1] // self.patch_size
        codes = sincos_position_codes(grid_h, grid_w, self.feature_dim).to(patches)
        return self.embed(patches) + codes

    def encode(self, tokens: Tensor) -> Tensor:
        """Runs the blocks and the final norm on tokens ``(B, N', dim)``."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def features(self, images: Tensor) -> Tensor:
        return self.encode(self.tokens(images)).mean(1)


@BACKBONES.register("vit")
def vit(
    in_channels: int = 3, image_size: int = 32, patch_size: int | None = None, dim: int = 128
) -> Backbone:
    """Small ViT (128-d features, 4 blocks); 4-px patches up to 32 px, else side/8."""
    if patch_size is None:
        patch_size = 4 if image_size <= 32 else max(4, image_size // 8)
        while image_size % patch_size:
            patch_size -= 1
    return VisionTransformer(in_channels, patch_size=patch_size, dim=dim)
