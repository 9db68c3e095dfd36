"""wav2vec 2.0's loss: contrastive identification of the quantized latent at masked steps,
plus a codebook diversity penalty.

Energy: ``F(c_t, q) = -cos(c_t, q) / κ`` between the context at a masked step and a
quantized latent ``q``. Inference: none (the true latent ``q_t`` is given). Strategy:
contrastive: for each masked step ``t`` the energy of ``q_t`` is pushed down and that of ``K``
distractors, quantized latents of other masked steps of the same utterance, pushed up::

    L_m = -log exp(-F(c_t, q_t)) / Σ_{q̃ ∈ {q_t} ∪ Q_t} exp(-F(c_t, q̃))

averaged over the masked steps, and ``L = L_m + α L_d`` with the diversity penalty
``L_d = (G·V - P) / (G·V)`` on the codebook perplexity ``P``. A distractor whose quantized
vector happens to equal the positive's (the same entry in every group) is kept, as the paper
states the loss; it caps how low ``L_m`` can go on that step.

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0: A Framework for Self-Supervised Learning of
    Speech Representations, NeurIPS 2020, https://arxiv.org/abs/2006.11477 (section 3.2)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_ndim, check_positive, check_same_shape
from eblearn.losses._float32 import float32_loss


def sample_distractors(
    mask: Tensor, num_distractors: int, generator: torch.Generator | None = None
) -> Tensor:
    """For every masked step, ``K`` time indices of OTHER masked steps of the same utterance.

    Drawn uniformly with replacement among the ``n_b - 1`` other masked steps of utterance
    ``b`` (a draw ``r`` in ``[0, n_b - 2]`` maps to the ``r``-th other step, skipping the
    positive itself), so a distractor is never the positive step and never from another
    utterance.

    Args:
        mask: ``(B, T)`` bool, the masked steps; each utterance needs 0 or >= 2 of them.
        num_distractors: ``K``.

    Returns:
        ``(B, T, K)`` long time indices; rows of unmasked steps hold ``-1``.

    Raises:
        ValueError: If an utterance has exactly one masked step (no distractor exists).

    Example:
        >>> mask = torch.tensor([[True, False, True, True]])
        >>> d = sample_distractors(mask, 5, torch.Generator().manual_seed(0))
        >>> bool((d[0, 0] != 0).all()), d[0, 1].tolist()
        (True, [-1, -1, -1, -1, -1])
    """
    check_ndim(mask, 2, "mask", "(B, T)")
    if num_distractors < 1:
        raise ValueError(f"num_distractors must be >= 1, got {num_distractors}")
    out = torch.full((*mask.shape, num_distractors), -1, dtype=torch.long)
    for b, row in enumerate(mask.cpu()):
        steps = torch.nonzero(row).flatten()  # (n,)
        n = len(steps)
        if n == 0:
            continue
        if n == 1:
            raise ValueError(
                f"utterance {b} has a single masked step: distractors come from other masked "
                "steps of the same utterance, so mask at least 2 (raise p or the span)"
            )
        draws = torch.randint(n - 1, (n, num_distractors), generator=generator)
        draws = draws + (draws >= torch.arange(n)[:, None]).long()  # skip the positive
        out[b, steps] = steps[draws]
    return out.to(mask.device)


@float32_loss
def masked_contrastive_loss(
    context: Tensor, quantized: Tensor, mask: Tensor, distractors: Tensor, temperature: float
) -> Tensor:
    """``L_m``: cross-entropy identifying ``q_t`` among itself and its distractors.

    Args:
        context: ``(B, T, D)`` context vectors (projected to the code size).
        quantized: ``(B, T, D)`` quantized latents.
        mask: ``(B, T)`` bool, the steps scored.
        distractors: ``(B, T, K)`` time indices from :func:`sample_distractors`.
        temperature: ``κ``.

    Returns:
        The mean over masked steps (a scalar).
    """
    check_same_shape(context, quantized, "context", "quantized")
    b_index, t_index = torch.nonzero(mask, as_tuple=True)  # (M,), (M,)
    if len(b_index) == 0:
        raise ValueError("mask selects no step: nothing to predict")
    c = context[b_index, t_index]  # (M, D)
    positive = quantized[b_index, t_index]  # (M, D)
    negatives = quantized[b_index[:, None], distractors[b_index, t_index]]  # (M, K, D)
    candidates = torch.cat([positive[:, None], negatives], dim=1)  # (M, 1 + K, D)
    logits = F.cosine_similarity(c[:, None], candidates, dim=-1) / temperature  # (M, 1 + K)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=c.device))


def diversity_penalty(perplexity: Tensor, num_codes: int) -> Tensor:
    """``L_d = (G·V - P) / (G·V)``: 0 when every entry is used equally, near 1 when one is."""
    return (num_codes - perplexity) / num_codes


class Wav2Vec2Loss(nn.Module):
    """``L = L_m + α L_d`` (module docstring).

    Args:
        temperature: ``κ`` (0.1 in the paper).
        num_distractors: ``K`` (100 in the paper).
        diversity_weight: ``α`` (0.1 in the paper).

    Example:
        >>> loss = Wav2Vec2Loss(num_distractors=3)
        >>> c, q = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
        >>> mask = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0]]).bool()
        >>> loss(c, q, mask, torch.tensor(3.0), 8).shape
        torch.Size([])
    """

    def __init__(
        self, temperature: float = 0.1, num_distractors: int = 100, diversity_weight: float = 0.1
    ) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.num_distractors = num_distractors
        self.diversity_weight = diversity_weight

    def terms(
        self,
        context: Tensor,
        quantized: Tensor,
        mask: Tensor,
        perplexity: Tensor,
        num_codes: int,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(L_m, L_d)``."""
        distractors = sample_distractors(mask, self.num_distractors, generator)
        contrastive = masked_contrastive_loss(
            context, quantized, mask, distractors, self.temperature
        )
        return contrastive, diversity_penalty(perplexity, num_codes)

    def forward(
        self,
        context: Tensor,
        quantized: Tensor,
        mask: Tensor,
        perplexity: Tensor,
        num_codes: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        contrastive, diversity = self.terms(
            context, quantized, mask, perplexity, num_codes, generator
        )
        return contrastive + self.diversity_weight * diversity
