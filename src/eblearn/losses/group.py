"""Group losses: push down a group of data energies, push up a group of contrastive energies.

``L = H(F(x_1, y_1) .. F(x_p⁺, y_p⁺), F(x_1, ȳ_1) .. F(x_p⁻, ȳ_p⁻), M)`` with ``H`` increasing
in the data energies and decreasing in the contrastive ones; the margin matrix ``M`` is
implicit and infinite for the three losses here (their gradients never vanish).

* :class:`InfoNCELoss`: ``L = F(x, y⁺) + log Σ_{y ∈ {y⁺, ȳ}} exp(-F(x, y))``, the NLL/MMI loss
  of the table at β = 1/τ, scaled by β (written over energies; SimCLR's NT-Xent is the
  special case of cosine energies between two views);
* :class:`NCALoss`: several positives per sample (same class): the soft minimum of the
  positives' energies against the soft minimum of all;
* :class:`NCELoss`: logistic regression of data against noise with a known density.

[0] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice, check_finite, check_ndim, check_positive
from eblearn.losses.contrastive import (
    CONTRASTIVE_LOSSES,
    REDUCTIONS,
    ContrastiveLoss,
    check_energies,
    nll_loss,
    reduce,
    require_negatives,
)


def info_nce_loss(
    positive: Tensor, negative: Tensor, temperature: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """``L = F⁺/τ + log Σ_{y ∈ {y⁺, ȳ_1..N}} exp(-F(x, y)/τ)``; see :class:`InfoNCELoss`."""
    check_positive(temperature, "temperature")
    return nll_loss(positive, negative, beta=1.0 / temperature, reduction=reduction) / temperature


@CONTRASTIVE_LOSSES.register("infonce")
class InfoNCELoss(ContrastiveLoss):
    """InfoNCE over energies: ``L = F(x, y⁺)/τ + log Σ_y exp(-F(x, y)/τ)``. Margin ∞.

    The sum runs over the group ``{y⁺} ∪ {ȳ_1..N}``; ``-L`` is the log-probability of the
    positive in a softmax over the group, i.e. a cross-entropy whose logits are ``-F/τ``.
    With ``F = -cos(z, z⁺)`` between embeddings this is the contrastive loss of CPC, MoCo and
    SimCLR. The margin is implicit and infinite: every negative is pushed up in proportion
    to its softmax weight, forever.

    [1] van den Oord, Li, Vinyals, Representation Learning with Contrastive Predictive
        Coding, 2018, https://arxiv.org/abs/1807.03748

    Args:
        temperature: ``τ > 0`` (default 1; energies are often cosine distances with
            ``τ = 0.1``).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> loss = InfoNCELoss()
        >>> loss(torch.tensor([0.0]), torch.tensor([[0.0, 0.0, 0.0]]))  # log 4
        tensor(1.3863)
    """

    formula = "F(x,y⁺)/τ + log Σ_y exp(-F(x,y)/τ)"
    table_margin = "∞"

    def __init__(self, temperature: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        check_positive(temperature, "temperature")
        self.temperature = temperature

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return info_nce_loss(positive, negative, self.temperature, self.reduction)


def nca_loss(
    energies: Tensor,
    positive_mask: Tensor,
    valid_mask: Tensor | None = None,
    objective: str = "log",
    reduction: str = "mean",
) -> Tensor:
    """Neighbourhood components analysis over energies; see :class:`NCALoss`."""
    check_ndim(energies, 2, "energies", "(B, K)")
    check_finite(energies, "energies")
    check_choice(objective, ("log", "expected"), "objective")
    if positive_mask.shape != energies.shape or positive_mask.dtype != torch.bool:
        raise ValueError(
            f"positive_mask must be a bool tensor of shape {tuple(energies.shape)}, "
            f"got {positive_mask.dtype} of shape {tuple(positive_mask.shape)}"
        )
    if valid_mask is None:
        valid_mask = torch.ones_like(positive_mask)
    elif valid_mask.shape != energies.shape or valid_mask.dtype != torch.bool:
        raise ValueError(f"valid_mask must be a bool tensor of shape {tuple(energies.shape)}")
    positive_mask = positive_mask & valid_mask
    rows = positive_mask.any(dim=1)
    if not bool(rows.any()):
        raise ValueError("no sample has a positive: NCA needs at least one same-class neighbour")
    logits = -energies
    log_all = torch.logsumexp(logits.masked_fill(~valid_mask, -math.inf), dim=1)
    log_pos = torch.logsumexp(logits.masked_fill(~positive_mask, -math.inf), dim=1)
    log_p = (log_pos - log_all)[rows]  # log Σ_{j ∈ positives} p_ij
    per_sample = -log_p if objective == "log" else -torch.exp(log_p)
    return reduce(per_sample, reduction)


class NCALoss(nn.Module):
    """NCA as a group loss over energies.

    With ``p_ij = exp(-F_ij) / Σ_{k valid} exp(-F_ik)`` the probability that sample ``i``
    picks ``j`` as its neighbour, and ``p_i = Σ_{j positive} p_ij``:

    * ``objective="log"``: ``L = -1/B Σ_i log p_i = F_soft(positives) - F_soft(all)``, the
      soft minimum of the positives' energies against that of all energies;
    * ``objective="expected"``: ``L = -1/B Σ_i p_i``, minus the expected number of correct
      neighbour picks (the original objective).

    Samples without any positive are skipped. With ``F_ij = ||f(x_i) - f(x_j)||²`` and the
    diagonal marked invalid, this is NCA on a batch (:func:`nca_energies`).

    [1] Goldberger, Roweis, Hinton, Salakhutdinov, Neighbourhood Components Analysis,
        NeurIPS 2004.

    Args:
        objective: ``"log"`` (default) or ``"expected"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shapes:
        ``energies (B, K)``, ``positive_mask (B, K)`` bool, ``valid_mask (B, K)`` bool or
        ``None`` (all valid). Returns a scalar (or ``(B',)`` for ``"none"``, one per sample
        with a positive).

    Raises:
        ValueError: If masks have the wrong shape or type, or no sample has a positive.

    Example:
        >>> energies = torch.tensor([[0.0, 0.0, math.log(2.0)]])
        >>> NCALoss()(energies, torch.tensor([[True, False, False]]))  # -log 0.4
        tensor(0.9163)
    """

    def __init__(self, objective: str = "log", reduction: str = "mean") -> None:
        super().__init__()
        check_choice(objective, ("log", "expected"), "objective")
        check_choice(reduction, REDUCTIONS, "reduction")
        self.objective = objective
        self.reduction = reduction

    def forward(
        self, energies: Tensor, positive_mask: Tensor, valid_mask: Tensor | None = None
    ) -> Tensor:
        return nca_loss(energies, positive_mask, valid_mask, self.objective, self.reduction)


def nca_energies(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Batch NCA inputs: squared distances, same-label mask and not-self mask.

    Args:
        embeddings: ``f(x_i)``, shape ``(B, D)``.
        labels: Class of each sample, shape ``(B,)``.

    Returns:
        ``(energies (B, B), positive_mask (B, B), valid_mask (B, B))``.
    """
    check_ndim(embeddings, 2, "embeddings", "(B, D)")
    if labels.shape != (embeddings.shape[0],):
        raise ValueError(f"labels must have shape ({embeddings.shape[0]},)")
    energies = torch.cdist(embeddings, embeddings).pow(2)
    valid = ~torch.eye(len(labels), dtype=torch.bool, device=embeddings.device)
    return energies, (labels[:, None] == labels[None, :]) & valid, valid


def nce_loss(
    positive: Tensor,
    negative: Tensor,
    positive_noise_log_prob: Tensor,
    negative_noise_log_prob: Tensor,
    reduction: str = "mean",
) -> Tensor:
    """Noise-contrastive estimation over energies; see :class:`NCELoss`."""
    negative = require_negatives(check_energies(positive, negative), "NCE")
    if positive_noise_log_prob.shape != positive.shape:
        raise ValueError(
            f"positive_noise_log_prob must have shape {tuple(positive.shape)}, "
            f"got {tuple(positive_noise_log_prob.shape)}"
        )
    if negative_noise_log_prob.ndim == 1:
        negative_noise_log_prob = negative_noise_log_prob[:, None]
    if negative_noise_log_prob.shape != negative.shape:
        raise ValueError(
            f"negative_noise_log_prob must have shape {tuple(negative.shape)}, "
            f"got {tuple(negative_noise_log_prob.shape)}"
        )
    log_nu = math.log(negative.shape[1])
    logit_pos = -positive - positive_noise_log_prob - log_nu  # G(y) - log ν
    logit_neg = -negative - negative_noise_log_prob - log_nu
    per_sample = -F.logsigmoid(logit_pos) - F.logsigmoid(-logit_neg).sum(dim=1)
    return reduce(per_sample, reduction)


class NCELoss(nn.Module):
    """Noise-contrastive estimation: tell data from noise with the model's log-density ratio.

    The model density is ``p_m(y) = exp(-F(y))``: NCE learns the normalizing constant as
    part of the energy (add a learnable scalar ``c`` to ``F``). With ``ν = N`` noise samples
    ``ȳ ~ p_n`` per data point, ``G(y) = -F(y) - log p_n(y)`` and
    ``h(y) = σ(G(y) - log ν)``:

    ``L = -[log h(y) + Σ_{n=1..N} log(1 - h(ȳ_n))]``, averaged over the data points.

    At the optimum (infinite data) ``exp(-F) = p_data``: the energy is a normalized
    log-density. The margin is implicit and infinite (the logistic never saturates).

    [1] Gutmann, Hyvärinen, Noise-contrastive estimation: A new estimation principle for
        unnormalized statistical models, AISTATS 2010.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shapes:
        ``positive (B,)`` data energies, ``negative (B, N)`` noise energies,
        ``positive_noise_log_prob (B,)`` and ``negative_noise_log_prob (B, N)``, the noise
        log-density ``log p_n`` at the same points.

    Example:
        >>> # the model equals the noise density: h = 1/2 everywhere for ν = 1
        >>> zero = torch.zeros(1)
        >>> NCELoss()(zero, zero[:, None], zero, zero[:, None])  # 2 log 2
        tensor(1.3863)
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_choice(reduction, REDUCTIONS, "reduction")
        self.reduction = reduction

    def forward(
        self,
        positive: Tensor,
        negative: Tensor,
        positive_noise_log_prob: Tensor,
        negative_noise_log_prob: Tensor,
    ) -> Tensor:
        return nce_loss(
            positive, negative, positive_noise_log_prob, negative_noise_log_prob, self.reduction
        )
