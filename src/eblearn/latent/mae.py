"""Masked autoencoder on image patches: reconstruct the hidden patches from the visible ones.

Energy: ``E(y) = Σ_{i masked} ||y_i - Dec(Enc(y_visible))_i||²`` over the patches ``y_i`` of an
image (averaged per pixel). Inference: amortized; the ViT encoder sees only the visible
``(1 - r)`` fraction of the patches (``r`` the mask ratio), a light decoder fills the rest
from learned mask tokens. Strategy: contrastive in the "map off-manifold points back onto
the manifold" sense [1]: a masked image is a point off the data manifold (a corruption),
and training maps it back to the full image, as a denoising autoencoder does.

[0] He, Chen, Xie, Li, Dollár, Girshick, Masked Autoencoders Are Scalable Vision Learners,
    CVPR 2022, https://arxiv.org/abs/2111.06377
[1] Vincent et al., Extracting and composing robust features with denoising autoencoders,
    ICML 2008.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eblearn.energy.protocol import check_unconditional
from eblearn.latent.vit import (
    PatchTokenEncoder,
    VisionTransformer,
    patchify,
    sincos_position_codes,
    transformer_blocks,
)


def visible_count(n_patches: int, mask_ratio: float) -> int:
    """Patches left visible: ``int(N · (1 - r))`` as in [0].

    Raises:
        ValueError: If the ratio is outside (0, 1) or leaves no patch visible or none masked.

    Example:
        >>> visible_count(16, 0.75)
        4
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio!r}")
    keep = int(n_patches * (1 - mask_ratio))
    if keep < 1 or keep >= n_patches:
        raise ValueError(
            f"mask_ratio {mask_ratio} leaves {keep} of {n_patches} patches visible; choose a "
            "ratio that keeps at least one patch visible and masks at least one"
        )
    return keep


def random_masking(
    batch: int,
    n_patches: int,
    mask_ratio: float,
    device: torch.device | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Draws, per image, which patches stay visible.

    Returns:
        ``visible`` ``(B, n_keep)``: indices of the visible patches, and ``mask`` ``(B, N)``:
        ``True`` where a patch is hidden (exactly ``N - n_keep`` per row).

    Example:
        >>> visible, mask = random_masking(2, 16, 0.75)
        >>> visible.shape, mask.sum(1).tolist()
        (torch.Size([2, 4]), [12, 12])
    """
    keep = visible_count(n_patches, mask_ratio)
    scores = torch.rand(batch, n_patches, generator=generator, device=device)
    order = scores.argsort(1)  # a random permutation per row
    visible = order[:, :keep]
    mask = torch.ones(batch, n_patches, dtype=torch.bool, device=device)
    mask.scatter_(1, visible, False)
    return visible, mask


@dataclass
class MaskedReconstruction:
    """Output of :func:`masked_autoencode`.

    Attributes:
        loss: Mean squared error on the hidden patches (a scalar).
        prediction: Predicted patches ``(B, N, C·p·p)`` (in the normalized space when
            ``norm_pix_loss``).
        mask: ``(B, N)``, ``True`` where hidden.
        target: The patches the loss compares with.
    """

    loss: Tensor
    prediction: Tensor
    mask: Tensor
    target: Tensor


class MAEDecoder(nn.Module):
    """The MAE decoder: mask tokens placed among the encoded visible tokens, position codes,
    a few transformer blocks, and a linear map to pixels.

    Args:
        encoder_dim: Width of the encoder's tokens.
        patch_pixels: ``C·p·p``.
        dim: Decoder width (a multiple of 4 and of ``heads``).
        depth: Decoder blocks.
        heads: Attention heads.
    """

    def __init__(
        self, encoder_dim: int, patch_pixels: int, dim: int = 64, depth: int = 2, heads: int = 4
    ) -> None:
        super().__init__()
        self.dim = dim
        self.project = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.blocks = transformer_blocks(dim, depth, heads, 2.0)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, patch_pixels)
        sincos_position_codes(1, 1, dim)  # checks dim

    def forward(self, encoded: Tensor, visible: Tensor, grid: tuple[int, int]) -> Tensor:
        """Predicted patches ``(B, N, C·p·p)`` from visible tokens ``(B, n_keep, D_enc)``."""
        b = encoded.shape[0]
        n = grid[0] * grid[1]
        tokens = self.mask_token.expand(b, n, self.dim).clone()  # (B, N, d)
        projected = self.project(encoded).to(tokens.dtype)  # bf16 under autocast
        tokens.scatter_(1, visible[..., None].expand(-1, -1, self.dim), projected)
        tokens = tokens + sincos_position_codes(*grid, self.dim).to(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens))


def masked_autoencode(
    encoder: PatchTokenEncoder,
    decoder: MAEDecoder,
    images: Tensor,
    mask_ratio: float,
    norm_pix_loss: bool = False,
    generator: torch.Generator | None = None,
    targets: Tensor | None = None,
) -> MaskedReconstruction:
    """Masks ``images`` ``(B, C, H, W)`` at random, encodes the visible patches, decodes all.

    The loss is the mean squared error over the pixels of the hidden patches only; with
    ``norm_pix_loss`` each target patch is first normalized by its own mean and std [0].
    ``targets`` (default: ``images``) are the images whose patches the prediction is
    compared with (another view, for the energy between two views).
    """
    if targets is not None and targets.shape != images.shape:
        raise ValueError(
            f"targets must have the images' shape {tuple(images.shape)}, got {tuple(targets.shape)}"
        )
    p = encoder.patch_size
    grid = (images.shape[-2] // p, images.shape[-1] // p)
    tokens = encoder.tokens(images)  # (B, N, D) with position codes
    b, n, d = tokens.shape
    visible, mask = random_masking(b, n, mask_ratio, images.device, generator)
    kept = tokens.gather(1, visible[..., None].expand(-1, -1, d))  # (B, n_keep, D)
    prediction = decoder(encoder.encode(kept), visible, grid)  # (B, N, C·p·p)
    target = patchify(images if targets is None else targets, p)
    if norm_pix_loss:
        mean = target.mean(-1, keepdim=True)
        var = target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = (prediction - target).pow(2).mean(-1)  # (B, N)
    loss = (per_patch * mask).sum() / mask.sum()
    return MaskedReconstruction(loss, prediction, mask, target)


def masked_energy(
    encoder: PatchTokenEncoder,
    decoder: MAEDecoder,
    y: Tensor,
    x: Tensor | None,
    mask_ratio: float,
    norm_pix_loss: bool = False,
    seed: int = 0,
) -> Tensor:
    """``E(x, y) = 1/|M| Σ_{i ∈ M} ||y_i - Dec(Enc(x_visible))_i||² / (C·p²)`` per image.

    The mean squared error over the hidden patches ``M`` of ``y`` predicted from the visible
    patches of ``x`` (``x = y`` when ``None``). The mask is drawn from a generator seeded with
    ``seed``, so the energy is a deterministic function of ``(x, y)``.

    Returns:
        Tensor of shape ``(B,)``.
    """
    source = y if x is None else x
    generator = torch.Generator(device=source.device).manual_seed(seed)
    out = masked_autoencode(encoder, decoder, source, mask_ratio, norm_pix_loss, generator, y)
    per_patch = (out.prediction - out.target).pow(2).mean(-1)  # (B, N)
    return (per_patch * out.mask).sum(1) / out.mask.sum(1)


class MaskedAutoencoder(nn.Module):
    """A masked autoencoder: ViT encoder on visible patches, light decoder (see module doc).

    Args:
        encoder: The :class:`~eblearn.latent.vit.VisionTransformer`.
        mask_ratio: Fraction ``r`` of patches hidden (0.75 in [0]).
        decoder_dim, decoder_depth, decoder_heads: Decoder size.
        norm_pix_loss: Normalize each target patch (better features in [0]).

    Example:
        >>> vit = VisionTransformer(in_channels=1, patch_size=4, dim=32, depth=1, heads=2)
        >>> mae = MaskedAutoencoder(vit, mask_ratio=0.75, decoder_dim=16, decoder_depth=1)
        >>> out = mae(torch.randn(2, 1, 16, 16))
        >>> out.mask.sum(1).tolist()
        [12, 12]
    """

    def __init__(
        self,
        encoder: VisionTransformer,
        mask_ratio: float = 0.75,
        decoder_dim: int = 64,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_pix_loss: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio!r}")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        pixels = encoder.in_channels * encoder.patch_size**2
        self.decoder = MAEDecoder(
            encoder.feature_dim, pixels, decoder_dim, decoder_depth, decoder_heads
        )

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> MaskedReconstruction:
        """Masks, encodes and decodes ``images`` ``(B, C, H, W)``."""
        return masked_autoencode(
            self.encoder, self.decoder, images, self.mask_ratio, self.norm_pix_loss, generator
        )

    def loss(self, images: Tensor) -> Tensor:
        """The reconstruction error on the hidden patches."""
        return self(images).loss

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """The reconstruction error of the hidden patches of each image ``(B,)``, under a
        fixed mask (:func:`masked_energy`); ``x`` must be ``None``."""
        check_unconditional(self, x)
        return masked_energy(
            self.encoder, self.decoder, y, None, self.mask_ratio, self.norm_pix_loss
        )
