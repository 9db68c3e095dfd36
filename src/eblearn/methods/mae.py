"""MAE as a method: a ViT encoder pretrained by reconstructing masked patches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from eblearn._validate import check_same_shape
from eblearn.latent.mae import MAEDecoder, masked_autoencode, masked_energy
from eblearn.latent.vit import PatchTokenEncoder, VisionTransformer
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.timm_backbones import TimmBackbone


@METHODS.register("mae")
class MAE(Method):
    """Masked autoencoder: reconstruct hidden image patches from the visible ones.

    Energy: ``E(y) = Σ_{i hidden} ||y_i - Dec(Enc(y_visible))_i||²``, the reconstruction error
    of the hidden patches. Inference: amortized (the encoder). Strategy: contrastive in the
    "map corrupted points back onto the data manifold" sense: a masked image lies off the
    manifold and training maps it back (LeCun's taxonomy puts denoising and masked
    autoencoders there). One view per image; no batch statistics.

    Masking drops tokens, which needs a transformer: if ``backbone`` is a
    :class:`~eblearn.latent.vit.VisionTransformer` or a timm ViT
    (``--backbone timm:vit_tiny_patch16_224``, through
    :class:`~eblearn.latent.timm_vit.TimmViTTokens`) it is the encoder, trained in place; a
    timm model that is not a ViT is refused; any other backbone (the ConvNet, ResNets) only
    gives its ``in_channels`` and is replaced by a ViT of ``patch_size``, ``dim``, ``depth``
    and ``heads`` (pass ``--backbone vit`` to choose the ViT's size through the backbone).
    ``patch_size``, ``dim``, ``depth`` and ``heads`` are ignored when the backbone is a ViT.

    [0] He et al., Masked Autoencoders Are Scalable Vision Learners, CVPR 2022,
        https://arxiv.org/abs/2111.06377

    Args:
        backbone: A ViT, or any backbone whose channel count the ViT takes.
        mask_ratio: Fraction of the patches hidden (paper: 0.75).
        patch_size, dim, depth, heads: The ViT built when ``backbone`` is not one.
        decoder_dim, decoder_depth, decoder_heads: The decoder (paper: 512, 8, 16 for
            ImageNet; small here).
        norm_pix_loss: Normalize each target patch by its mean and std (paper: True for
            its best features; False reconstructs the pixels themselves).

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = MAE(ConvNet(1, width=4), dim=32, depth=1, heads=2, decoder_dim=16,
        ...              decoder_depth=1)
        >>> out = method([torch.randn(4, 1, 16, 16)])
        >>> sorted(out), out["features"].shape
        (['embeddings', 'features', 'loss', 'reconstruction'], torch.Size([4, 32]))
    """

    num_views = 1
    min_batch_size = 1
    batch_statistics = False

    def __init__(
        self,
        backbone: Backbone,
        mask_ratio: float = 0.75,
        patch_size: int = 4,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        decoder_dim: int = 64,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_pix_loss: bool = False,
    ) -> None:
        timm_tokens = None
        if isinstance(backbone, TimmBackbone):
            from eblearn.latent.timm_vit import TimmViTTokens

            timm_tokens = TimmViTTokens(backbone)  # refuses a timm model that is not a ViT
        elif not isinstance(backbone, VisionTransformer):
            backbone = VisionTransformer(backbone.in_channels, patch_size, dim, depth, heads)
        super().__init__(backbone)
        self._timm_tokens = timm_tokens  # a view of the encoder, not a module: no weights
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio!r}")
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        tokens = self.tokens
        pixels = tokens.in_channels * tokens.patch_size**2
        self.decoder = MAEDecoder(
            tokens.feature_dim, pixels, decoder_dim, decoder_depth, decoder_heads
        )

    @property
    def tokens(self) -> PatchTokenEncoder:
        """The encoder as patch tokens: the ViT itself, or the adapter of a timm ViT."""
        if self._timm_tokens is not None:
            return self._timm_tokens
        return cast(VisionTransformer, self.encoder)  # a ViT, made sure of in __init__

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """The error on the hidden patches of ``y`` predicted from the visible ones of ``x``.

        :func:`~eblearn.latent.mae.masked_energy` under a fixed mask, shape ``(B,)``; ``x``
        defaults to ``y``.
        """
        if x is not None:
            check_same_shape(x, y, "x", "y")
        return masked_energy(self.tokens, self.decoder, y, x, self.mask_ratio, self.norm_pix_loss)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        images = views[0]  # (B, C, H, W)
        out = masked_autoencode(
            self.tokens, self.decoder, images, self.mask_ratio, self.norm_pix_loss
        )
        with torch.no_grad():
            features = self.encoder(images)  # (B, D): all patches, as evaluation sees them
        return {
            "loss": out.loss,
            "reconstruction": out.loss.detach(),
            "features": features,
            "embeddings": features,
        }
