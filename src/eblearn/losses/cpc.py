"""Contrastive predictive coding: InfoNCE on ``k``-step-ahead predictions of latent frames.

Energy: ``F(c_t, z) = -zᵀ W_k c_t``, a bilinear score between the context at ``t`` and a
latent frame. Inference: none. Strategy: contrastive: for every ``t`` and ``k = 1..K_pred``
the true future frame ``z_{t+k}`` is scored against negatives, the other candidate frames of
the batch (``"batch"``) or of the same utterance (``"utterance"``)::

    L_k = -E_t log exp(z_{t+k}ᵀ W_k c_t) / Σ_{z_j ∈ candidates} exp(z_jᵀ W_k c_t)

and ``L = mean_k L_k``. The candidates for offset ``k`` are the frames ``z_{b, s}``,
``s >= k``, that are some valid ``(b, s - k)``'s positive.

[0] van den Oord, Li, Vinyals, Representation Learning with Contrastive Predictive Coding,
    2018, https://arxiv.org/abs/1807.03748 (section 2)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice, check_ndim, check_same_shape
from eblearn.losses._float32 import float32_loss

NEGATIVES = ("batch", "utterance")


@float32_loss
def info_nce_predictions(
    predictions: Tensor, targets: Tensor, valid: Tensor, negatives: str = "batch"
) -> Tensor:
    """InfoNCE where ``predictions[b, t]`` must pick out ``targets[b, t]``.

    Args:
        predictions: ``(B, T, D)``, e.g. ``W_k c_t``.
        targets: ``(B, T, D)``, e.g. ``z_{t+k}`` aligned with the predictions.
        valid: ``(B, T)`` bool, the pairs scored (the others are neither scored nor
            candidates).
        negatives: ``"batch"``: every valid target of the batch is a candidate;
            ``"utterance"``: only those of the same utterance.

    Returns:
        The mean cross-entropy over valid pairs (a scalar).
    """
    check_same_shape(predictions, targets, "predictions", "targets")
    check_choice(negatives, NEGATIVES, "negatives")
    b_index, t_index = torch.nonzero(valid, as_tuple=True)  # (M,)
    if len(b_index) == 0:
        raise ValueError("valid selects no pair: sequences too short for the prediction steps")
    p, z = predictions[b_index, t_index], targets[b_index, t_index]  # (M, D)
    logits = p @ z.T  # (M, M): row i scores every candidate target j
    if negatives == "utterance":
        logits = logits.masked_fill(b_index[:, None] != b_index[None, :], float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(p), device=p.device))


class CPCLoss(nn.Module):
    """``L = mean_k L_k`` over ``k = 1..steps`` with one linear predictor ``W_k`` each.

    The predictors are this module's parameters (they belong to the loss's energy).

    Args:
        context_dim: Size of ``c_t``.
        latent_dim: Size of ``z_t``.
        steps: Prediction horizon ``K_pred`` (12 in the paper, at 100 Hz).
        negatives: ``"batch"`` or ``"utterance"`` (see :func:`info_nce_predictions`).

    Example:
        >>> loss = CPCLoss(context_dim=4, latent_dim=3, steps=2)
        >>> loss(torch.randn(2, 5, 4), torch.randn(2, 5, 3)).shape
        torch.Size([])
    """

    def __init__(
        self, context_dim: int, latent_dim: int, steps: int = 12, negatives: str = "batch"
    ) -> None:
        super().__init__()
        check_choice(negatives, NEGATIVES, "negatives")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.negatives = negatives
        self.predictors = nn.ModuleList(
            nn.Linear(context_dim, latent_dim, bias=False) for _ in range(steps)
        )

    def forward(self, context: Tensor, latents: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``context`` ``(B, T, C)``, ``latents`` ``(B, T, D)``, ``lengths`` ``(B,)`` real steps."""
        check_ndim(context, 3, "context", "(B, T, C)")
        check_ndim(latents, 3, "latents", "(B, T, D)")
        steps = context.shape[1]
        if lengths is None:
            lengths = torch.full((len(context),), steps, device=context.device)
        losses = []
        for k, predictor in enumerate(self.predictors, start=1):
            if k >= steps:
                break
            # pair (b, t) predicts z_{b, t+k}; valid when t + k < lengths[b]
            valid = torch.arange(steps - k, device=context.device)[None, :] + k < lengths[:, None]
            if not bool(valid.any()):
                break
            losses.append(
                info_nce_predictions(
                    predictor(context[:, : steps - k]), latents[:, k:], valid, self.negatives
                )
            )
        if not losses:
            raise ValueError(f"sequences of {steps} steps are too short to predict 1 step ahead")
        return torch.stack(losses).mean()
