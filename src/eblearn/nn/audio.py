"""Raw-waveform encoders: a strided 1-D convolutional feature encoder and a Transformer
context network with a convolutional relative position embedding (wav2vec 2.0's layout).

The feature encoder maps ``(B, T)`` samples to ``(B, T', C)`` latent frames, each block a
strided convolution, a normalization and a GELU; its output length follows the convolution
arithmetic ``T_out = floor((T_in - kernel) / stride) + 1`` block by block. The context network
adds ``GELU(conv(x))`` (a grouped convolution over time: relative positions) to its input,
normalizes it and runs Transformer blocks with a padding mask.

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0: A Framework for Self-Supervised Learning of
    Speech Representations, NeurIPS 2020, https://arxiv.org/abs/2006.11477 (section 2,
    appendix B)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim
from eblearn.nn.backbones import Backbone
from eblearn.registry import Registry

NORMS = ("group", "layer")


class _ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of ``(B, C, T)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ConvFeatureEncoder(nn.Module):
    """Strided 1-D convolutions on the raw waveform: ``(B, T)`` samples to ``(B, T', C)``.

    Args:
        channels: Output channels of each block.
        kernels: Kernel size of each block.
        strides: Stride of each block (the total downsampling is their product).
        norm: ``"group"``: a GroupNorm with one group per channel after the first block only
            (normalizes each channel over time; wav2vec 2.0 BASE); ``"layer"``: a LayerNorm
            over channels after every block (wav2vec 2.0 LARGE). GroupNorm's statistics run
            over time, so they include any zero padding of a batch; LayerNorm's are per
            frame, so a recording's features do not depend on the padding after it.

    Example:
        >>> encoder = ConvFeatureEncoder((8, 8), (10, 3), (5, 2))
        >>> encoder(torch.randn(2, 400)).shape, encoder.output_lengths(torch.tensor([400]))
        (torch.Size([2, 39, 8]), tensor([39]))
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 64, 64, 64, 64),
        kernels: Sequence[int] = (10, 3, 3, 3, 2),
        strides: Sequence[int] = (5, 2, 2, 2, 2),
        norm: str = "group",
    ) -> None:
        super().__init__()
        if not len(channels) == len(kernels) == len(strides) or not channels:
            raise ValueError(
                "channels, kernels and strides must be non-empty and of equal length, got "
                f"{len(channels)}, {len(kernels)} and {len(strides)}"
            )
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; valid choices: {', '.join(NORMS)}")
        self.kernels, self.strides = tuple(kernels), tuple(strides)
        blocks: list[nn.Module] = []
        in_channels = 1
        for i, (c, k, s) in enumerate(zip(channels, kernels, strides, strict=True)):
            layers: list[nn.Module] = [nn.Conv1d(in_channels, c, k, s, bias=False)]
            if norm == "layer":
                layers.append(_ChannelLayerNorm(c))
            elif i == 0:
                layers.append(nn.GroupNorm(c, c))
            layers.append(nn.GELU())
            blocks.append(nn.Sequential(*layers))
            in_channels = c
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = in_channels

    @property
    def receptive_field(self) -> int:
        """Samples seen by one output frame."""
        field, jump = 1, 1
        for k, s in zip(self.kernels, self.strides, strict=True):
            field += (k - 1) * jump
            jump *= s
        return field

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Frames computed from ``lengths`` real samples (0 where too short)."""
        out = lengths.long()
        for k, s in zip(self.kernels, self.strides, strict=True):
            out = torch.div(out - k, s, rounding_mode="floor") + 1
        return out.clamp_min(0)

    def forward(self, waveforms: Tensor) -> Tensor:
        """``(B, T)`` samples to ``(B, T', C)`` frames."""
        check_ndim(waveforms, 2, "waveforms", "(B, T)")
        if waveforms.shape[1] < self.receptive_field:
            raise ValueError(
                f"waveforms need at least {self.receptive_field} samples (the encoder's "
                f"receptive field), got {waveforms.shape[1]}"
            )
        return self.blocks(waveforms[:, None, :]).transpose(1, 2)  # (B, T', C)


class ConvPositionEmbedding(nn.Module):
    """``x + GELU(conv(x))``: a grouped convolution over time as relative positions.

    Args:
        dim: Channels D of ``(B, T, D)``.
        kernel: Odd kernel size (the paper's 128 at 50 frames/s; about 1/4 s here).
        groups: Convolution groups (divides ``dim``).
    """

    def __init__(self, dim: int, kernel: int = 15, groups: int = 4) -> None:
        super().__init__()
        if kernel % 2 == 0 or dim % groups:
            raise ValueError(
                f"kernel must be odd and groups must divide dim, got kernel={kernel}, "
                f"groups={groups}, dim={dim}"
            )
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        self.activation = nn.GELU()

    def forward(self, x: Tensor, padding: Tensor | None = None) -> Tensor:
        """``x`` ``(B, T, D)``; ``padding`` ``(B, T)`` True on padded steps (zeroed first)."""
        if padding is not None:
            x = x.masked_fill(padding[:, :, None], 0.0)
        return x + self.activation(self.conv(x.transpose(1, 2))).transpose(1, 2)


class ContextTransformer(nn.Module):
    """Transformer blocks over frames ``(B, T, D)`` with a convolutional position embedding.

    Args:
        dim: Model width D.
        depth: Number of Transformer blocks.
        heads: Attention heads (divides ``dim``).
        mlp_ratio: Feed-forward width as a multiple of ``dim``.
        dropout: Dropout inside the blocks.
        position_kernel, position_groups: See :class:`ConvPositionEmbedding`.
    """

    def __init__(
        self,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
        position_kernel: int = 15,
        position_groups: int = 4,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads must divide dim, got dim={dim}, heads={heads}")
        self.positions = ConvPositionEmbedding(dim, position_kernel, position_groups)
        self.norm = nn.LayerNorm(dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, mlp_ratio * dim, dropout, activation="gelu", batch_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)

    def forward(self, x: Tensor, padding: Tensor | None = None) -> Tensor:
        """``x`` ``(B, T, D)`` to context ``(B, T, D)``; ``padding`` ``(B, T)`` True where padded
        (those keys are ignored by attention)."""
        check_ndim(x, 3, "frames", "(B, T, D)")
        x = self.norm(self.positions(x, padding))
        return self.blocks(x, src_key_padding_mask=padding)

    def block_outputs(self, x: Tensor, padding: Tensor | None = None) -> list[Tensor]:
        """The output ``(B, T, D)`` of every Transformer block in order (the last one is
        :meth:`forward`'s result): the layers a probe can read."""
        check_ndim(x, 3, "frames", "(B, T, D)")
        x = self.norm(self.positions(x, padding))
        outputs = []
        for block in self.blocks.layers:
            x = block(x, src_key_padding_mask=padding)
            outputs.append(x)
        return outputs


def masked_mean(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Mean of ``(B, T, D)`` over each row's first ``lengths[b]`` steps, ``(B, D)``."""
    if lengths is None:
        return x.mean(1)
    valid = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x)
    return (x * valid[:, :, None]).sum(1) / valid.sum(1, keepdim=True).clamp_min(1.0)


class AudioEncoder(Backbone):
    """Waveform to context frames and pooled features: feature encoder, projection, context.

    ``frames(x)`` gives the latent frames ``z`` (``(B, T', C)``, the quantizer's input),
    ``context(z, ...)`` the contextualized frames ``c`` (``(B, T', D)``); ``forward(x, lengths)``
    pools ``c`` over the real frames into ``(B, feature_dim)``, what probes and export use.

    Args:
        features: The convolutional feature encoder (kept as ``feature_encoder``).
        context: A context network over ``(B, T', dim)``, or ``None`` for a GRU
            (causal; CPC's autoregressive model).
        dim: Width D of the context.
        dropout: Dropout on the projected frames.

    Example:
        >>> encoder = small_audio_encoder(dim=16, depth=1, heads=2, channels=8)
        >>> encoder(torch.randn(2, 800)).shape
        torch.Size([2, 16])
    """

    in_channels = 1
    modality = "waveforms"

    def __init__(
        self, features: ConvFeatureEncoder, context: nn.Module, dim: int, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.feature_encoder = features
        self.frame_norm = nn.LayerNorm(features.out_channels)
        self.project = nn.Linear(features.out_channels, dim)
        self.dropout = nn.Dropout(dropout)
        self.context_network = context
        self.feature_dim = dim

    def frames(self, waveforms: Tensor) -> Tensor:
        """Normalized latent frames ``z`` ``(B, T', C)``."""
        return self.frame_norm(self.feature_encoder(waveforms))

    def context(self, z: Tensor, padding: Tensor | None = None) -> Tensor:
        """Context ``c`` ``(B, T', D)`` from frames ``z`` ``(B, T', C)``: the context network on
        :meth:`project_frames` (split in two so that a method can mask the projected frames)."""
        return self.run_context(self.project_frames(z), padding)

    def project_frames(self, z: Tensor) -> Tensor:
        """``dropout(W z)`` ``(B, T', D)``: the context network's input."""
        return self.dropout(self.project(z))

    def run_context(self, h: Tensor, padding: Tensor | None = None) -> Tensor:
        """The context network on projected frames ``(B, T', D)``."""
        if isinstance(self.context_network, nn.GRU):
            return self.context_network(h)[0]
        return self.context_network(h, padding)

    def frame_lengths(self, lengths: Tensor | None, waveforms: Tensor) -> Tensor:
        """Real frames of each row ``(B,)`` (all when ``lengths`` is ``None``)."""
        if lengths is None:
            lengths = torch.full((len(waveforms),), waveforms.shape[1], dtype=torch.long)
        return self.feature_encoder.output_lengths(lengths.to(waveforms.device)).clamp_min(1)

    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Pooled features ``(B, D)``: the mean of the context over each row's real frames
        (over all frames when ``lengths`` is ``None``: no mask, so it traces for export)."""
        z = self.frames(waveforms)
        if lengths is None:
            return self.context(z).mean(1)  # (B, D)
        frame_lengths = self.frame_lengths(lengths, waveforms)
        padding = padding_mask(frame_lengths, z.shape[1])
        return masked_mean(self.context(z, padding), frame_lengths)

    def layers(self, waveforms: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """Every representation a probe can read, unpooled, with the real frame lengths.

        Returns:
            ``"frames"``: the normalized latent frames ``z`` ``(B, T', C)``; ``"block1"`` ..
            ``"blockN"``: each Transformer block's output ``(B, T', D)`` (the last one is the
            context; a GRU context gives ``"context"`` alone); ``"lengths"``: real frames
            ``(B,)``.
        """
        z = self.frames(waveforms)
        frame_lengths = self.frame_lengths(lengths, waveforms)
        padding = padding_mask(frame_lengths, z.shape[1])
        out = {"frames": z}
        h = self.project_frames(z)
        if isinstance(self.context_network, ContextTransformer):
            for i, block in enumerate(self.context_network.block_outputs(h, padding), start=1):
                out[f"block{i}"] = block
        else:
            out["context"] = self.run_context(h, padding)
        return {**out, "lengths": frame_lengths}

    def features(self, waveforms: Tensor) -> Tensor:
        """Pooled features of full-length waveforms ``(B, T)`` (:meth:`forward` without
        lengths)."""
        return self.forward(waveforms)


def padding_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(B, steps)`` bool, True on padded steps (``t >= lengths[b]``)."""
    return torch.arange(steps, device=lengths.device)[None, :] >= lengths[:, None]


def small_audio_encoder(
    dim: int = 128,
    depth: int = 4,
    heads: int = 4,
    channels: int = 64,
    dropout: float = 0.1,
    strides: Sequence[int] = (5, 2, 2, 2, 2),
    kernels: Sequence[int] = (10, 3, 3, 3, 2),
    norm: str = "layer",
) -> AudioEncoder:
    """wav2vec 2.0 at small scale: 80× downsampling (10 ms frames at 8 kHz), ``channels``
    per block, a ``depth``-block Transformer of width ``dim``, LayerNorm in every block
    (padding-independent, see :class:`ConvFeatureEncoder`)."""
    features = ConvFeatureEncoder([channels] * len(strides), kernels, strides, norm)
    context = ContextTransformer(dim, depth, heads, dropout=dropout)
    return AudioEncoder(features, context, dim, dropout)


def gru_audio_encoder(
    dim: int = 128,
    channels: int = 64,
    strides: Sequence[int] = (5, 2, 2, 2, 2),
    kernels: Sequence[int] = (10, 3, 3, 3, 2),
) -> AudioEncoder:
    """CPC's layout at small scale: the same feature encoder, a one-layer GRU as the causal
    context network ``c_t = GRU(z_≤t)``."""
    features = ConvFeatureEncoder([channels] * len(strides), kernels, strides, "layer")
    return AudioEncoder(features, nn.GRU(dim, dim, batch_first=True), dim, dropout=0.0)


AUDIO_BACKBONES: Registry[Callable[..., AudioEncoder]] = Registry("audio backbone")
"""Waveform encoders by name, for the ``waveforms`` modality of ``eblearn train``."""
AUDIO_BACKBONES.register("conv-transformer", small_audio_encoder)
AUDIO_BACKBONES.register("conv-gru", gru_audio_encoder)


def build_audio_backbone(name: str, **kwargs: object) -> AudioEncoder:
    """Builds the waveform encoder registered as ``name`` with keyword options ``kwargs``.

    Example:
        >>> build_audio_backbone("conv-gru", dim=8, channels=8).feature_dim
        8

    Raises:
        ValueError: On an unknown name (listing the valid ones).
    """
    return AUDIO_BACKBONES.get(name)(**kwargs)
