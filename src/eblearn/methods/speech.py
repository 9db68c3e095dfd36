"""Self-supervised speech models on raw waveforms: wav2vec 2.0 and CPC, at small scale.

Both are registered methods of the ``waveforms`` modality. They take the views
``[waveforms (B, T), lengths (B,)]`` (what :class:`~eblearn.data.waveforms.WaveformViews`
makes of a gathered batch; a bare ``(B, T)`` tensor, or a separate ``lengths``, also works),
and return a dict with ``"loss"``, the logged terms, ``"features"`` and ``"embeddings"``
(both the detached pooled context ``(B, feature_dim)``). Their ``encoder`` (an
:class:`~eblearn.nn.audio.AudioEncoder`) maps waveforms to pooled features for probes and
export.

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0: A Framework for Self-Supervised Learning of
    Speech Representations, NeurIPS 2020, https://arxiv.org/abs/2006.11477
[1] van den Oord, Li, Vinyals, Representation Learning with Contrastive Predictive Coding,
    2018, https://arxiv.org/abs/1807.03748
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.data.time_masks import span_mask
from eblearn.losses.cpc import CPCLoss
from eblearn.losses.wav2vec import Wav2Vec2Loss
from eblearn.methods.base import METHODS, Method
from eblearn.nn.audio import AudioEncoder, masked_mean, padding_mask
from eblearn.nn.backbones import Backbone
from eblearn.nn.quantizer import GumbelProductQuantizer, QuantizerOutput, codebook_perplexity

Views = Tensor | Sequence[Tensor]
"""``[waveforms (B, T), lengths (B,)]``, ``[waveforms]``, or the waveforms alone."""


def _audio_encoder(backbone: Backbone, method: str, valid: str) -> AudioEncoder:
    if not isinstance(backbone, AudioEncoder):
        raise ValueError(
            f"{method} needs a waveform encoder (backbone {valid}), got {type(backbone).__name__}"
        )
    return backbone


def _unpack(views: Views, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """The waveforms ``(B, T)`` and lengths ``(B,)`` (or ``None``) of ``views``."""
    if isinstance(views, Tensor):
        waveforms = views
    else:
        if not 1 <= len(views) <= 2:
            raise ValueError(
                f"speech views are [waveforms (B, T), lengths (B,)], got {len(views)} tensors"
            )
        waveforms = views[0]
        if len(views) == 2:
            lengths = views[1]
    if waveforms.ndim != 2:
        raise ValueError(f"waveforms must have shape (B, T), got {tuple(waveforms.shape)}")
    return waveforms, lengths


def _frame_lengths(encoder: AudioEncoder, waveforms: Tensor, lengths: Tensor | None) -> Tensor:
    frame_lengths = encoder.frame_lengths(lengths, waveforms)
    if bool((frame_lengths < 2).any()):
        raise ValueError(
            f"every recording needs at least 2 frames ({encoder.feature_encoder.receptive_field} "
            f"samples plus one hop), got frame lengths {frame_lengths.tolist()}"
        )
    return frame_lengths


@METHODS.register("wav2vec2")
class Wav2Vec2(Method):
    """wav2vec 2.0: masked contrastive prediction of quantized latent speech.

    Energy: ``F(c_t, q) = -cos(W c_t, q) / κ`` between the context at a masked step and a
    quantized latent. Inference: none (the quantizer picks ``q_t``; the context is computed).
    Strategy: contrastive, the energy of the true ``q_t`` pushed down against ``K`` distractors
    from other masked steps of the same utterance, plus a diversity penalty that keeps the
    codebooks in use (:mod:`eblearn.losses.wav2vec`).

    One step: latent frames ``z = f(x)`` (conv encoder); ``q = Quantize(z)``; spans of the
    projected frames replaced by a learned mask vector; context ``c = g(masked)``; loss on the
    masked steps.

    [0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0: A Framework for Self-Supervised Learning
        of Speech Representations, NeurIPS 2020, https://arxiv.org/abs/2006.11477

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
        ['contrastive', 'diversity', 'embeddings', 'features', 'loss', 'perplexity', 'temperature']
    """

    modality = "waveforms"
    num_views = 1
    min_batch_size = 1
    batch_statistics = False
    updates: Tensor

    def __init__(
        self,
        backbone: Backbone,
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
        encoder = _audio_encoder(backbone, "wav2vec2", "conv-transformer")
        super().__init__(encoder)
        self.encoder: AudioEncoder = encoder
        self.quantizer = GumbelProductQuantizer(
            encoder.feature_encoder.out_channels, groups, entries, code_dim, quantizer_temperature
        )
        self.project_context = nn.Linear(encoder.feature_dim, code_dim)
        self.mask_embedding = nn.Parameter(torch.rand(encoder.feature_dim))
        self.mask_prob, self.mask_span = mask_prob, mask_span
        self.loss = Wav2Vec2Loss(temperature, num_distractors, diversity_weight)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        """Optimizer updates so far: the quantizer's temperature follows it, and a checkpoint
        keeps it, so a resumed run anneals on from where it stopped."""

    def pair_energy(self, context: Tensor, quantized: Tensor) -> Tensor:
        """``-cos(W c, q) / κ`` for ``(..., D)`` contexts and ``(..., code_dim)`` codes."""
        projected = self.project_context(context)
        return -F.cosine_similarity(projected, quantized, dim=-1) / self.loss.temperature

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """Per utterance, the mean over its masked steps of ``F(c_t, q_t)``, the contrastive
        energy of the true quantized target against the context, shape ``(B,)``.

        The mask is drawn from a generator seeded with 0, so the energy of a waveform is a
        fixed function of it (in eval mode the quantizer picks its codes by argmax).

        Args:
            y: Waveforms ``(B, T)`` (all samples real).
            x: Unused: the context is computed from ``y`` itself, masked.
        """
        context, quantized, mask, _, _ = self._encode(y, None, torch.Generator().manual_seed(0))
        pair = self.pair_energy(context, quantized.codes)  # (B, T')
        return (pair * mask).sum(1) / mask.sum(1).clamp_min(1)

    def _encode(
        self, waveforms: Tensor, lengths: Tensor | None, generator: torch.Generator | None
    ) -> tuple[Tensor, QuantizerOutput, Tensor, Tensor, Tensor]:
        """Context ``(B, T', D)``, quantized targets, mask and padding ``(B, T')``, and the
        frame lengths ``(B,)``."""
        self.quantizer.set_step(int(self.updates))
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
        return c, self.quantizer(z, generator), mask, padding, frame_lengths

    def forward(
        self,
        views: Views,
        lengths: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """The loss and its terms on views ``[waveforms (B, T), lengths (B,)]``."""
        waveforms, lengths = _unpack(views, lengths)
        c, quantized, mask, padding, frame_lengths = self._encode(waveforms, lengths, generator)
        perplexity = codebook_perplexity(quantized.logits[~padding])
        contrastive, diversity = self.loss.terms(
            self.project_context(c),
            quantized.codes,
            mask,
            perplexity,
            self.quantizer.num_codes,
            generator,
        )
        features = masked_mean(c, frame_lengths).detach()
        return {
            "loss": contrastive + self.loss.diversity_weight * diversity,
            "contrastive": contrastive.detach(),
            "diversity": diversity.detach(),
            "perplexity": perplexity.detach(),
            "temperature": torch.tensor(self.quantizer.temperature),
            "features": features,
            "embeddings": features,
        }

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Anneals the quantizer's temperature to its value after ``step + 1`` updates."""
        self.updates.fill_(step + 1)
        self.quantizer.set_step(step + 1)


@METHODS.register("cpc")
class CPC(Method):
    """Contrastive predictive coding on raw waveforms.

    Energy: ``F(c_t, z) = -zᵀ W_k c_t``, a bilinear score of a future latent frame given the
    context. Inference: none. Strategy: contrastive, InfoNCE of ``z_{t+k}`` against the other
    candidate frames of the batch or utterance, ``k = 1..steps`` (:mod:`eblearn.losses.cpc`).

    [1] van den Oord, Li, Vinyals, Representation Learning with Contrastive Predictive Coding,
        2018, https://arxiv.org/abs/1807.03748

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

    modality = "waveforms"
    num_views = 1
    min_batch_size = 1
    batch_statistics = False

    def __init__(self, backbone: Backbone, steps: int = 12, negatives: str = "batch") -> None:
        encoder = _audio_encoder(backbone, "cpc", "conv-gru")
        super().__init__(encoder)
        self.encoder: AudioEncoder = encoder
        self.loss = CPCLoss(encoder.feature_dim, encoder.feature_dim, steps, negatives)

    def _encode(self, waveforms: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Causal context and latents ``(B, T', D)``, frame lengths ``(B,)``."""
        frame_lengths = _frame_lengths(self.encoder, waveforms, lengths)
        latents = self.encoder.project_frames(self.encoder.frames(waveforms))  # (B, T', D)
        return self.encoder.run_context(latents), latents, frame_lengths

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """Per utterance, the mean over steps ``t`` and horizons ``k`` of
        ``F(c_t, z_{t+k}) = -z_{t+k}ᵀ W_k c_t``, the energy of the true future frames, ``(B,)``.

        Args:
            y: Waveforms ``(B, T)`` (all samples real).
            x: Unused: the context is computed from ``y`` itself.
        """
        context, latents, frame_lengths = self._encode(y, None)
        steps = context.shape[1]
        total = context.new_zeros(len(y))
        count = context.new_zeros(len(y))
        for k, predictor in enumerate(self.loss.predictors, start=1):
            if k >= steps:
                break
            scores = (predictor(context[:, :-k]) * latents[:, k:]).sum(-1)  # (B, T' - k)
            valid = torch.arange(steps - k, device=y.device)[None, :] + k < frame_lengths[:, None]
            total = total - (scores * valid).sum(1)
            count = count + valid.sum(1)
        return total / count.clamp_min(1)

    def forward(
        self, views: Views, lengths: Tensor | None = None, generator: object = None
    ) -> dict[str, Tensor]:
        """The InfoNCE loss on views ``[waveforms (B, T), lengths (B,)]`` (``generator``
        unused: no randomness)."""
        waveforms, lengths = _unpack(views, lengths)
        context, latents, frame_lengths = self._encode(waveforms, lengths)
        loss = self.loss(context, latents, frame_lengths)
        features = masked_mean(context, frame_lengths).detach()
        return {
            "loss": loss,
            "info_nce": loss.detach(),
            "features": features,
            "embeddings": features,
        }

    def on_step_end(self, step: int, total_steps: int) -> None:
        """CPC keeps no state between steps."""
