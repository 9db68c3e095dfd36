"""Denoising autoencoder as a method: any backbone, a convolutional decoder, corrupted views."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from eblearn.latent.autoencoders import corrupt
from eblearn.latent.nets import ImageDecoder
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone


@METHODS.register("dae")
class DAE(Method):
    """Denoising autoencoder: reconstruct the clean view from a corrupted copy.

    Energy: ``E(y) = ||y - Dec(Enc(y))||²``. Inference: amortized (the encoder). Strategy:
    contrastive in the "map corrupted points back onto the data manifold" sense of LeCun's
    taxonomy: training minimizes ``||y - Dec(Enc(ỹ))||²`` for corruptions ``ỹ`` (Gaussian
    noise, or pixels zeroed), so off-manifold points are sent back to the data. The encoder is
    the backbone; the decoder maps its features through a linear layer and transposed
    convolutions to a ``decoder_size``-pixel image, resized to the view's size. One view per
    image; no batch statistics.

    [0] Vincent, Larochelle, Bengio, Manzagol, Extracting and composing robust features with
        denoising autoencoders, ICML 2008, https://doi.org/10.1145/1390156.1390294

    Args:
        backbone: The encoder.
        corruption: ``"gaussian"`` (noise of std ``noise_level``, in units of the normalized
            pixels) or ``"mask"`` (each pixel zeroed with probability ``noise_level``).
        noise_level: Strength of the corruption.
        decoder_size: Side of the decoder's output before resizing (a power of two).
        decoder_width: Channels of the decoder's first map.

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = DAE(ConvNet(1, width=4), decoder_size=16, decoder_width=16)
        >>> out = method([torch.randn(4, 1, 16, 16)])
        >>> sorted(out)
        ['embeddings', 'features', 'loss', 'reconstruction']
    """

    num_views = 1
    min_batch_size = 1
    batch_statistics = False

    def __init__(
        self,
        backbone: Backbone,
        corruption: str = "gaussian",
        noise_level: float = 0.5,
        decoder_size: int = 32,
        decoder_width: int = 64,
    ) -> None:
        super().__init__(backbone)
        corrupt(torch.zeros(1), corruption, noise_level)  # checks both, with clear errors
        self.corruption = corruption
        self.noise_level = noise_level
        self.decoder = ImageDecoder(
            backbone.feature_dim, backbone.in_channels, decoder_size, decoder_width
        )

    def embed(self, view: Tensor) -> Tensor:
        """The reconstruction ``Dec(Enc(view))``, flattened to ``(B, C·H·W)``."""
        return self.decoder(self.encoder(view), tuple(view.shape[-2:])).flatten(1)

    def embed_target(self, view: Tensor) -> Tensor:
        """The view itself, flattened: ``F(x, y) = ||y - Dec(Enc(x))||²``."""
        return view.flatten(1)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        clean = views[0]  # (B, C, H, W)
        noisy = corrupt(clean, self.corruption, self.noise_level)
        reconstruction = self.decoder(self.encoder(noisy), tuple(clean.shape[-2:]))
        loss = (reconstruction - clean).pow(2).mean()
        with torch.no_grad():
            features = self.encoder(clean)  # (B, F): the clean view, as evaluation sees it
        return {
            "loss": loss,
            "reconstruction": loss.detach(),
            "features": features,
            "embeddings": features,
        }
