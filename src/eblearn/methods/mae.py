"""MAE as a method: a ViT encoder pretrained by reconstructing masked patches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from eblearn._validate import check_same_shape
from eblearn.latent.mae import MAEDecoder, masked_autoencode, masked_energy
from eblearn.latent.vit import VisionTransformer
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone


@METHODS.register("mae")
class MAE(Method):
    """Masked autoencoder: reconstruct hidden image patches from the visible ones.

    Energy: ``E(y) = Σ_{i hidden} ||y_i - Dec(Enc(y_visible))_i||²``, the reconstruction error
    of the hidden patches. Inference: amortized (the encoder). Strategy: contrastive in the
    "map corrupted points back onto the data manifold" sense: a masked image lies off the
    manifold and training maps it back (LeCun's taxonomy puts denoising and masked
    autoencoders there). One view per image; no batch statistics.

    Masking drops tokens, which needs a transformer: if ``backbone`` is a
    :class:`~eblearn.latent.vit.VisionTransformer` it is the encoder; any other backbone only
    gives its ``in_channels`` and is replaced by a ViT of ``patch_size``, ``dim``, ``depth``
    and ``heads`` (pass ``--backbone vit`` to choose the ViT's size through the backbone).

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
        if not isinstance(backbone, VisionTransformer):
            backbone = VisionTransformer(backbone.in_channels, patch_size, dim, depth, heads)
        super().__init__(backbone)
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio!r}")
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        pixels = backbone.in_channels * backbone.patch_size**2
        self.decoder = MAEDecoder(
            backbone.feature_dim, pixels, decoder_dim, decoder_depth, decoder_heads
        )

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """The error on the hidden patches of ``y`` predicted from the visible ones of ``x``.

        :func:`~eblearn.latent.mae.masked_energy` under a fixed mask, shape ``(B,)``; ``x``
        defaults to ``y``.
        """
        if x is not None:
            check_same_shape(x, y, "x", "y")
        encoder = cast(VisionTransformer, self.encoder)
        return masked_energy(encoder, self.decoder, y, x, self.mask_ratio, self.norm_pix_loss)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        images = views[0]  # (B, C, H, W)
        encoder = cast(VisionTransformer, self.encoder)  # a ViT, made sure of in __init__
        out = masked_autoencode(encoder, self.decoder, images, self.mask_ratio, self.norm_pix_loss)
        with torch.no_grad():
            features = encoder(images)  # (B, D): all patches, as evaluation sees them
        return {
            "loss": out.loss,
            "reconstruction": out.loss.detach(),
            "features": features,
            "embeddings": features,
        }
