"""Self-supervised speech models on raw waveforms: wav2vec 2.0 and CPC, at small scale.

Both take a batch of waveforms ``(B, T)`` with the real samples of each row, ``lengths``
``(B,)``, and return a dict with ``"loss"``, the logged terms and ``"features"`` (detached
pooled features ``(B, feature_dim)``). Their ``encoder`` (an
:class:`~eblearn.nn.audio.AudioEncoder`) maps waveforms to pooled features for probes and
export. They are not in the ``METHODS`` registry yet (that registry's views are images).

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0: A Framework for Self-Supervised Learning of
    Speech Representations, NeurIPS 2020, https://arxiv.org/abs/2006.11477
[1] van den Oord, Li, Vinyals, Representation Learning with Contrastive Predictive Coding,
    2018, https://arxiv.org/abs/1807.03748
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.data.time_masks import span_mask
from eblearn.losses.cpc import CPCLoss
from eblearn.losses.wav2vec import Wav2Vec2Loss
from eblearn.nn.audio import AudioEncoder, masked_mean, padding_mask
from eblearn.nn.quantizer import GumbelProductQuantizer, codebook_perplexity


def _frame_lengths(encoder: AudioEncoder, waveforms: Tensor, lengths: Tensor | None) -> Tensor:
    frame_lengths = encoder.frame_lengths(lengths, waveforms)
    if bool((frame_lengths < 2).any()):
        raise ValueError(
            f"every recording needs at least 2 frames ({encoder.features.receptive_field} "
            f"samples plus one hop), got frame lengths {frame_lengths.tolist()}"
        )
    return frame_lengths


class Wav2Vec2(nn.Module):
    """wav2vec 2.0: masked contrastive prediction of quantized latent speech.

    Energy: ``F(c_t, q) = -cos(W c_t, q) / κ`` between the context at a masked step and a
    quantized latent. Inference: none (the quantizer picks ``q_t``; the context is computed).
    Strategy: contrastive, the energy of the true ``q_t`` pushed down against ``K`` distractors
    from other masked steps of the same utterance, plus a diversity penalty that keeps the
    codebooks in use (:mod:`eblearn.losses.wav2vec`).

    One step: latent frames ``z = f(x)`` (conv encoder); ``q = Quantize(z)``; spans of the
    projected frames replaced by a learned mask vector; context ``c = g(masked)``; loss on the
    masked steps.

    Args:
        encoder: Feature encoder, projection and Transformer context.
        groups, entries, code_dim: The quantizer's ``G``, ``V`` and code size.
        mask_prob, mask_span: Span masking's ``p`` and ``M`` (0.065 and 10 in the paper).
        temperature, num_distractors, diversity_weight: ``κ``, ``K``, ``α``
            (0.1, 100, 0.1 in the paper).
        quantizer_temperature: ``(start, end, decay)`` of the Gumbel temperature (the
            paper's 2 → 0.5 by 0.999995 per update spans 280k updates; a short run wants a
            faster decay).

    Example:
        >>> from eblearn.nn.audio import small_audio_encoder
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <...>
        >>> model = Wav2Vec2(small_audio_encoder(16, 1, 2, 8), entries=8, code_dim=16)
        >>> out = model(torch.randn(2, 2000))
        >>> sorted(out)
        ['contrastive', 'diversity', 'features', 'loss', 'perplexity', 'temperature']
    """

    def __init__(
        self,
        encoder: AudioEncoder,
        groups: int = 2,
        entries: int = 64,
        code_dim: int = 64,
        mask_prob: float = 0.065,
        mask_span: int = 10,
        temperature: float = 0.1,
        num_distractors: int = 100,
        diversity_weight: float = 0.1,
        quantizer_temperature: tuple[float, float, float] = (2.0, 0.5, 0.999995),
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.quantizer = GumbelProductQuantizer(
            encoder.features.out_channels, groups, entries, code_dim, quantizer_temperature
        )
        self.project_context = nn.Linear(encoder.feature_dim, code_dim)
        self.mask_embedding = nn.Parameter(torch.rand(encoder.feature_dim))
        self.mask_prob, self.mask_span = mask_prob, mask_span
        self.loss = Wav2Vec2Loss(temperature, num_distractors, diversity_weight)

    @property
    def feature_dim(self) -> int:
        """Size of the encoder's pooled features."""
        return self.encoder.feature_dim

    def pair_energy(self, context: Tensor, quantized: Tensor) -> Tensor:
        """``-cos(W c, q) / κ`` for ``(..., D)`` contexts and ``(..., code_dim)`` codes."""
        projected = self.project_context(context)
        return -F.cosine_similarity(projected, quantized, dim=-1) / self.loss.temperature

    def forward(
        self,
        waveforms: Tensor,
        lengths: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """The loss and its terms on waveforms ``(B, T)``."""
        z = self.encoder.frames(waveforms)  # (B, T', C)
        frame_lengths = _frame_lengths(self.encoder, waveforms, lengths)
        steps = z.shape[1]
        mask = span_mask(
            frame_lengths.cpu(), steps, self.mask_prob, self.mask_span, 2, generator
        ).to(z.device)  # (B, T'), >= 2 masked steps per utterance
        padding = padding_mask(frame_lengths, steps)
        h = self.encoder.project_frames(z)  # (B, T', D)
        h = torch.where(mask[:, :, None], self.mask_embedding.to(h), h)
        c = self.encoder.run_context(h, padding)  # (B, T', D)
        quantized = self.quantizer(z, generator)
        perplexity = codebook_perplexity(quantized.logits[~padding])
        contrastive, diversity = self.loss.terms(
            self.project_context(c),
            quantized.codes,
            mask,
            perplexity,
            self.quantizer.num_codes,
            generator,
        )
        return {
            "loss": contrastive + self.loss.diversity_weight * diversity,
            "contrastive": contrastive.detach(),
            "diversity": diversity.detach(),
            "perplexity": perplexity.detach(),
            "temperature": torch.tensor(self.quantizer.temperature),
            "features": masked_mean(c, frame_lengths).detach(),
        }

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Anneals the quantizer's temperature to its value after ``step + 1`` updates."""
        self.quantizer.set_step(step + 1)


class CPC(nn.Module):
    """Contrastive predictive coding on raw waveforms.

    Energy: ``F(c_t, z) = -zᵀ W_k c_t``, a bilinear score of a future latent frame given the
    context. Inference: none. Strategy: contrastive, InfoNCE of ``z_{t+k}`` against the other
    candidate frames of the batch or utterance, ``k = 1..steps`` (:mod:`eblearn.losses.cpc`).

    Args:
        encoder: Feature encoder and a causal (GRU) context network.
        steps: Prediction horizon ``K_pred``.
        negatives: ``"batch"`` or ``"utterance"``.

    Example:
        >>> from eblearn.nn.audio import gru_audio_encoder
        >>> model = CPC(gru_audio_encoder(dim=8, channels=8), steps=3)
        >>> model(torch.randn(2, 1000))["loss"].item() > 0
        True
    """

    def __init__(self, encoder: AudioEncoder, steps: int = 12, negatives: str = "batch") -> None:
        super().__init__()
        self.encoder = encoder
        self.loss = CPCLoss(encoder.feature_dim, encoder.feature_dim, steps, negatives)

    @property
    def feature_dim(self) -> int:
        """Size of the encoder's pooled features."""
        return self.encoder.feature_dim

    def forward(
        self, waveforms: Tensor, lengths: Tensor | None = None, generator: object = None
    ) -> dict[str, Tensor]:
        """The InfoNCE loss on waveforms ``(B, T)`` (``generator`` unused: no randomness)."""
        frame_lengths = _frame_lengths(self.encoder, waveforms, lengths)
        latents = self.encoder.project_frames(self.encoder.frames(waveforms))  # (B, T', D)
        context = self.encoder.run_context(latents)  # (B, T', D), causal
        loss = self.loss(context, latents, frame_lengths)
        return {
            "loss": loss,
            "info_nce": loss.detach(),
            "features": masked_mean(context, frame_lengths).detach(),
        }

    def on_step_end(self, step: int, total_steps: int) -> None:
        """CPC keeps no state between steps."""
