"""The contrastive-loss table: losses on a data energy and contrastive energies.

Every loss pushes down the energy ``F⁺ = F(x, y)`` of the correct answer and (except the
energy loss) pushes up the energies ``F⁻ = F(x, ȳ)`` of contrastive answers. What tells good
losses from bad ones is the **margin**: how far above ``F⁺`` the loss keeps pushing ``F⁻``.

| loss | per pair ``(F⁺, F⁻)`` | margin |
| --- | --- | --- |
| energy | ``F⁺`` | 0 |
| perceptron | ``F⁺ - min_y F(x, y)`` | 0 |
| simple | ``max(0, F⁺) + max(0, m - F⁻)`` | m |
| hinge | ``max(0, m + F⁺ - F⁻)`` | m |
| log | ``log(1 + exp(F⁺ - F⁻))`` | ∞ |
| LVQ2 | ``min(M, max(0, F⁺ - F⁻))`` | 0 |
| MCE | ``(1 + exp(-(F⁺ - F⁻)))⁻¹`` | ∞ (see :class:`MCELoss`) |
| square-square | ``F⁺² + max(0, m - F⁻)²`` | m |
| square-exp | ``F⁺² + β exp(-F⁻)`` | ∞ |
| NLL/MMI | ``F⁺ + 1/β log Σ_y exp(-β F(x, y))`` | ∞ |
| MEE | ``1 - exp(-β F⁺) / Σ_y exp(-β F(x, y))`` | ∞ |

A zero-margin loss is satisfied as soon as ``F⁻ ≥ F⁺`` (or never looks at ``F⁻``), so it does
not separate the energies and lets a flexible model collapse; a margin-``m`` loss stops
pushing (zero gradient) once ``F⁻ ≥ F⁺ + m``; an infinite-margin loss never stops (its
gradient only decays), which asks for an infinitely deep, narrow well unless the energy is
regularized.

All functions take ``positive`` of shape ``(B,)`` and ``negative`` of shape ``(B,)`` (one
contrastive answer ``ȳ`` each, such as the most offending incorrect answer) or ``(B, N)``
(``N`` contrastive answers each). The pair losses average over the ``N`` answers; the
perceptron, NLL/MMI and MEE take the answer set ``{y} ∪ {ȳ_1..N}`` for ``y``'s range. The
general margin loss (:class:`GeneralMarginLoss`) sums ``H(F⁺, F⁻, m(y, ȳ))`` over ``ȳ``
with a margin that depends on the answers.

[0] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006,
    http://yann.lecun.com/exdb/publis/pdf/lecun-06.pdf
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice, check_finite, check_positive
from eblearn.registry import Registry

REDUCTIONS = ("mean", "sum", "none")

CONTRASTIVE_LOSSES: Registry[type[ContrastiveLoss]] = Registry("contrastive loss")
"""The loss table by name (``energy``, ``hinge``, ``square-square``, ...), for the lab."""


def check_energies(positive: Tensor, negative: Tensor | None) -> Tensor | None:
    """Validates ``positive (B,)`` and ``negative (B,) | (B, N)``; returns ``negative (B, N)``.

    Raises:
        ValueError: If shapes disagree or a value is NaN or Inf.
    """
    if positive.ndim != 1:
        raise ValueError(
            f"positive energies must have shape (B,), got shape {tuple(positive.shape)}"
        )
    check_finite(positive, "positive energies")
    if negative is None:
        return None
    if negative.ndim == 1:
        negative = negative[:, None]
    if negative.ndim != 2 or negative.shape[0] != positive.shape[0]:
        raise ValueError(
            f"negative energies must have shape (B,) or (B, N) with B={positive.shape[0]}, "
            f"got shape {tuple(negative.shape)}"
        )
    check_finite(negative, "negative energies")
    return negative


def require_negatives(negative: Tensor | None, name: str) -> Tensor:
    """Returns ``negative``; raises ``ValueError`` naming the loss if it is ``None``."""
    if negative is None:
        raise ValueError(f"the {name} loss needs contrastive (negative) energies")
    return negative


def reduce(per_sample: Tensor, reduction: str) -> Tensor:
    """Mean, sum or nothing over the batch."""
    check_choice(reduction, REDUCTIONS, "reduction")
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def split_energies(energies: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Splits energies over ``K`` answers into the correct one and the ``K - 1`` others.

    Args:
        energies: ``F(x_b, y_k)``, shape ``(B, K)``.
        target: Index of the correct answer per sample, shape ``(B,)``.

    Returns:
        ``(positive (B,), negative (B, K - 1))``, the others in their original order.

    Example:
        >>> split_energies(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([1]))
        (tensor([1.]), tensor([[3., 2.]]))
    """
    if energies.ndim != 2 or energies.shape[1] < 2:
        raise ValueError(f"energies must have shape (B, K >= 2), got {tuple(energies.shape)}")
    if target.shape != (energies.shape[0],) or target.is_floating_point():
        raise ValueError(f"target must be (B,) integer indices, got shape {tuple(target.shape)}")
    if bool(((target < 0) | (target >= energies.shape[1])).any()):
        raise ValueError(f"target indices must lie in [0, {energies.shape[1]})")
    target = target.long()
    positive = energies.gather(1, target[:, None]).squeeze(1)
    keep = torch.ones_like(energies, dtype=torch.bool).scatter_(1, target[:, None], False)
    return positive, energies[keep].view(energies.shape[0], -1)


# ---- the table, as pure functions ----------------------------------------------------------


def energy_loss(
    positive: Tensor, negative: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Energy loss ``L = F⁺`` (margin 0): pushes the data energy down, nothing up."""
    check_energies(positive, negative)
    return reduce(positive, reduction)


def perceptron_loss(positive: Tensor, negative: Tensor, reduction: str = "mean") -> Tensor:
    """Perceptron loss ``L = F⁺ - min_{y' ∈ {y, ȳ}} F(x, y')`` (margin 0)."""
    negative = require_negatives(check_energies(positive, negative), "perceptron")
    answers = torch.cat([positive[:, None], negative], dim=1)  # (B, 1 + N); ties pick y
    return reduce(positive - answers.min(dim=1).values, reduction)


def simple_loss(
    positive: Tensor, negative: Tensor, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Simple loss ``L = max(0, F⁺) + max(0, m - F⁻)`` (margin m), mean over the negatives."""
    negative = require_negatives(check_energies(positive, negative), "simple")
    return reduce(F.relu(positive) + F.relu(margin - negative).mean(dim=1), reduction)


def hinge_loss(
    positive: Tensor, negative: Tensor, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Hinge loss ``L = max(0, m + F⁺ - F⁻)`` (margin m), averaged over the negatives."""
    negative = require_negatives(check_energies(positive, negative), "hinge")
    return reduce(F.relu(margin + positive[:, None] - negative).mean(dim=1), reduction)


def log_loss(positive: Tensor, negative: Tensor, reduction: str = "mean") -> Tensor:
    """Log loss ``L = log(1 + exp(F⁺ - F⁻))`` (margin ∞), averaged over the negatives."""
    negative = require_negatives(check_energies(positive, negative), "log")
    return reduce(F.softplus(positive[:, None] - negative).mean(dim=1), reduction)


def lvq2_loss(
    positive: Tensor, negative: Tensor, saturation: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """LVQ2 loss ``L = min(M, max(0, F⁺ - F⁻))`` (margin 0), averaged over the negatives."""
    negative = require_negatives(check_energies(positive, negative), "LVQ2")
    gap = F.relu(positive[:, None] - negative)
    return reduce(torch.clamp(gap, max=saturation).mean(dim=1), reduction)


def mce_loss(positive: Tensor, negative: Tensor, reduction: str = "mean") -> Tensor:
    """MCE loss ``L = (1 + exp(-(F⁺ - F⁻)))⁻¹ = σ(F⁺ - F⁻)`` (margin > 0), mean over negatives."""
    negative = require_negatives(check_energies(positive, negative), "MCE")
    return reduce(torch.sigmoid(positive[:, None] - negative).mean(dim=1), reduction)


def square_square_loss(
    positive: Tensor, negative: Tensor, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Square-square loss ``L = F⁺² + max(0, m - F⁻)²`` (margin m), mean over negatives."""
    negative = require_negatives(check_energies(positive, negative), "square-square")
    pushed_up = F.relu(margin - negative).pow(2).mean(dim=1)
    return reduce(positive.pow(2) + pushed_up, reduction)


def square_exp_loss(
    positive: Tensor, negative: Tensor, beta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Square-exponential loss ``L = F⁺² + β exp(-F⁻)`` (margin ∞), mean over negatives."""
    negative = require_negatives(check_energies(positive, negative), "square-exp")
    return reduce(positive.pow(2) + beta * torch.exp(-negative).mean(dim=1), reduction)


def _answer_logits(positive: Tensor, negative: Tensor, beta: float) -> Tensor:
    """``-β F`` over the answer set {y} ∪ {ȳ}, correct answer first, shape (B, 1 + N)."""
    check_positive(beta, "beta")
    return -beta * torch.cat([positive[:, None], negative], dim=1)


def nll_loss(
    positive: Tensor, negative: Tensor, beta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """NLL/MMI loss ``L = F⁺ + 1/β log Σ_{y' ∈ {y, ȳ}} exp(-β F(x, y'))`` (margin ∞)."""
    negative = require_negatives(check_energies(positive, negative), "NLL/MMI")
    logits = _answer_logits(positive, negative, beta)
    return reduce(positive + torch.logsumexp(logits, dim=1) / beta, reduction)


def mee_loss(
    positive: Tensor, negative: Tensor, beta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """MEE loss ``L = 1 - exp(-β F⁺) / Σ_{y' ∈ {y, ȳ}} exp(-β F(x, y'))`` (margin ∞)."""
    negative = require_negatives(check_energies(positive, negative), "MEE")
    logits = _answer_logits(positive, negative, beta)
    return reduce(1 - torch.softmax(logits, dim=1)[:, 0], reduction)


# ---- the table, as modules ------------------------------------------------------------------


class ContrastiveLoss(nn.Module):
    """Base of the table's losses: ``forward(positive (B,), negative (B,) | (B, N))``.

    Class attributes:
        formula: The loss per sample, as in the table.
        table_margin: The margin column: ``"0"``, ``"m"`` or ``"∞"``.
    """

    formula: ClassVar[str] = ""
    table_margin: ClassVar[str] = ""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_choice(reduction, REDUCTIONS, "reduction")
        self.reduction = reduction


class _MarginLoss(ContrastiveLoss):
    """A table loss with a margin ``m > 0``: ``forward`` is ``loss_function(F⁺, F⁻, m)``."""

    @staticmethod
    def loss_function(positive: Tensor, negative: Tensor, margin: float, reduction: str) -> Tensor:
        """The loss's pure function (set by each subclass to the table's function)."""
        raise NotImplementedError

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        check_positive(margin, "margin")
        self.margin = margin

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return self.loss_function(positive, negative, self.margin, self.reduction)


class _InverseTemperatureLoss(ContrastiveLoss):
    """A table loss with an inverse temperature ``β > 0``: ``loss_function(F⁺, F⁻, β)``."""

    @staticmethod
    def loss_function(positive: Tensor, negative: Tensor, beta: float, reduction: str) -> Tensor:
        """The loss's pure function (set by each subclass to the table's function)."""
        raise NotImplementedError

    def __init__(self, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        check_positive(beta, "beta")
        self.beta = beta

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return self.loss_function(positive, negative, self.beta, self.reduction)


@CONTRASTIVE_LOSSES.register("energy")
class EnergyLoss(ContrastiveLoss):
    """Energy loss: ``L = F(x, y)``. Margin 0.

    Pushes the energy of the data down and nothing up: it works only with an architecture
    that cannot lower the energy everywhere (a limited volume of low energy); with a flexible
    energy it collapses (a flat, zero energy). ``negative`` is accepted and ignored.

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch.

    Example:
        >>> EnergyLoss()(torch.tensor([1.0, 3.0]))
        tensor(2.)
    """

    formula = "F(x,y)"
    table_margin = "0"

    def forward(self, positive: Tensor, negative: Tensor | None = None) -> Tensor:
        return energy_loss(positive, negative, self.reduction)


@CONTRASTIVE_LOSSES.register("perceptron")
class PerceptronLoss(ContrastiveLoss):
    """Perceptron loss: ``L = F(x, y) - min_{y'} F(x, y')``. Margin 0.

    The minimum runs over the answer set ``{y} ∪ {ȳ_1..N}``. The loss is zero as soon as the
    correct answer has the lowest energy, even tied: it does not separate the energies.

    [1] Rosenblatt, The Perceptron, 1958; LeCun et al. [0], eq. 7.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> PerceptronLoss()(torch.tensor([2.0]), torch.tensor([[3.0, 0.5]]))
        tensor(1.5000)
    """

    formula = "F(x,y) - min_y' F(x,y')"
    table_margin = "0"

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return perceptron_loss(positive, negative, self.reduction)


@CONTRASTIVE_LOSSES.register("simple")
class SimpleLoss(_MarginLoss):
    """Simple loss: ``L = max(0, F(x, y)) + max(0, m - F(x, ȳ))``. Margin m.

    Pushes the data energy down to 0 and the contrastive energies up to ``m``, each on its
    own (not their difference, unlike the hinge): it stops pulling once ``F⁺ ≤ 0`` and stops
    pushing once ``F⁻ ≥ m``. The square-square loss is its squared form. Meant for energies
    ``≥ 0``, such as the distance of a Siamese network.

    [1] Bromley, Guyon, LeCun, Säckinger, Shah, Signature Verification using a "Siamese"
        Time Delay Neural Network, NIPS 1993; LeCun et al. [0], section 2.2.

    Args:
        margin: ``m > 0`` (default 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> SimpleLoss(margin=1.0)(torch.tensor([0.5, -1.0]), torch.tensor([0.25, 3.0]))
        tensor(0.6250)
    """

    formula = "max(0, F(x,y)) + max(0, m - F(x,ȳ))"
    table_margin = "m"

    loss_function = staticmethod(simple_loss)


@CONTRASTIVE_LOSSES.register("hinge")
class HingeLoss(_MarginLoss):
    """Hinge loss: ``L = max(0, m + F(x, y) - F(x, ȳ))``. Margin m.

    Stops pushing (zero gradient) once the contrastive energy exceeds the data energy by
    ``m``.

    [1] Altun, Tsochantaridis, Hofmann, Hidden Markov Support Vector Machines, 2003;
        LeCun et al. [0], eq. 11.

    Args:
        margin: ``m > 0`` (default 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> HingeLoss(margin=1.0)(torch.tensor([0.0, 0.0]), torch.tensor([0.5, 2.0]))
        tensor(0.2500)
    """

    formula = "max(0, m + F(x,y) - F(x,ȳ))"
    table_margin = "m"

    loss_function = staticmethod(hinge_loss)


@CONTRASTIVE_LOSSES.register("log")
class LogLoss(ContrastiveLoss):
    """Log loss: ``L = log(1 + exp(F(x, y) - F(x, ȳ)))``. Margin ∞.

    A soft hinge: its gradient ``σ(F⁺ - F⁻)`` never vanishes, so it keeps pushing ``F⁻`` up
    (ever more weakly) however large the gap.

    [1] LeCun et al. [0], eq. 12.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> LogLoss()(torch.tensor([0.0]), torch.tensor([0.0]))  # log 2
        tensor(0.6931)
    """

    formula = "log(1 + exp(F(x,y) - F(x,ȳ)))"
    table_margin = "∞"

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return log_loss(positive, negative, self.reduction)


@CONTRASTIVE_LOSSES.register("lvq2")
class LVQ2Loss(ContrastiveLoss):
    """LVQ2 loss: ``L = min(M, max(0, F(x, y) - F(x, ȳ)))``. Margin 0.

    Zero once ``F⁻ ≥ F⁺``; saturates at ``M`` for badly wrong samples (robust to outliers).

    [1] Kohonen, Self-Organization and Associative Memory, 1988; LeCun et al. [0], eq. 13.

    Args:
        saturation: ``M > 0`` (default 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> LVQ2Loss(saturation=1.0)(torch.tensor([0.5, 5.0]), torch.tensor([0.0, 0.0]))
        tensor(0.7500)
    """

    formula = "min(M, max(0, F(x,y) - F(x,ȳ)))"
    table_margin = "0"

    def __init__(self, saturation: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        check_positive(saturation, "saturation")
        self.saturation = saturation

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return lvq2_loss(positive, negative, self.saturation, self.reduction)


@CONTRASTIVE_LOSSES.register("mce")
class MCELoss(ContrastiveLoss):
    """Minimum classification error loss: ``L = (1 + exp(-(F(x, y) - F(x, ȳ))))⁻¹``.

    A smooth step of the gap ``F⁺ - F⁻`` (a smoothed count of errors). Its margin is
    positive (the tutorial [0] lists ``> 0``; the talk's slide is unreadable there): the push
    on ``F⁻`` is ``σ'(F⁺ - F⁻)``, a quarter at a tie, decaying like ``exp(-(F⁻ - F⁺))`` as
    the gap grows but never zero, like the log loss's, so it is filed with the infinite
    margins. Unlike the log loss it also saturates for badly wrong samples (``F⁺ ≫ F⁻``),
    which makes it robust to outliers.

    [1] Juang, Chou, Lee, Minimum classification error rate methods for speech recognition,
        1997; LeCun et al. [0], eq. 15.

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> MCELoss()(torch.tensor([1.0]), torch.tensor([1.0]))
        tensor(0.5000)
    """

    formula = "(1 + exp(-(F(x,y) - F(x,ȳ))))^-1"
    table_margin = "∞"

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        return mce_loss(positive, negative, self.reduction)


@CONTRASTIVE_LOSSES.register("square-square")
class SquareSquareLoss(_MarginLoss):
    """Square-square loss: ``L = F(x, y)² + max(0, m - F(x, ȳ))²``. Margin m.

    Pulls the data energy to 0 and pushes contrastive energies above ``m``, then stops
    (the Siamese-network contrastive loss of Hadsell et al.). Meant for energies ``≥ 0``.
    (The talk's table prints a minus sign between the terms; the tutorial's equation 16 and
    the papers have a plus.)

    [1] Chopra, Hadsell, LeCun, Learning a Similarity Metric Discriminatively, CVPR 2005;
        Hadsell, Chopra, LeCun, Dimensionality Reduction by Learning an Invariant Mapping,
        CVPR 2006.

    Args:
        margin: ``m > 0`` (default 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> SquareSquareLoss(margin=1.0)(torch.tensor([0.5]), torch.tensor([0.5]))
        tensor(0.5000)
    """

    formula = "F(x,y)² + max(0, m - F(x,ȳ))²"
    table_margin = "m"

    loss_function = staticmethod(square_square_loss)


@CONTRASTIVE_LOSSES.register("square-exp")
class SquareExpLoss(_InverseTemperatureLoss):
    """Square-exponential loss: ``L = F(x, y)² + β exp(-F(x, ȳ))``. Margin ∞.

    [1] LeCun, Huang, Loss Functions for Discriminative Training of Energy-Based Models,
        AISTATS 2005; LeCun et al. [0], eq. 17.

    Args:
        beta: ``β > 0`` (default 1), the weight of the push-up term.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> SquareExpLoss()(torch.tensor([1.0]), torch.tensor([0.0]))
        tensor(2.)
    """

    formula = "F(x,y)² + β exp(-F(x,ȳ))"
    table_margin = "∞"

    loss_function = staticmethod(square_exp_loss)


@CONTRASTIVE_LOSSES.register("nll")
class NLLLoss(_InverseTemperatureLoss):
    """Negative log-likelihood / MMI loss: ``L = F(x, y) + 1/β log Σ_{y'} exp(-β F(x, y'))``.

    Margin ∞. ``1/β`` times ``-log P_β(y | x)`` of the Gibbs distribution over the answer set
    ``{y} ∪ {ȳ_1..N}`` (:class:`eblearn.energy.GibbsDistribution`); with the ``ȳ`` drawn
    from the model it is the Monte Carlo form of maximum likelihood. Its gradient pushes every
    answer up in proportion to its probability, forever: maximum likelihood wants an
    infinitely deep and narrow well around the data.

    [1] LeCun et al. [0], eq. 23; Bahl, Brown, de Souza, Mercer, Maximum mutual information
        estimation of HMM parameters, 1986.

    Args:
        beta: Inverse temperature ``β > 0`` (default 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> NLLLoss()(torch.tensor([0.0]), torch.tensor([0.0]))  # log 2
        tensor(0.6931)
    """

    formula = "F(x,y) + 1/β log Σ_y' exp(-β F(x,y'))"
    table_margin = "∞"

    loss_function = staticmethod(nll_loss)


@CONTRASTIVE_LOSSES.register("mee")
class MEELoss(_InverseTemperatureLoss):
    """Minimum empirical error loss: ``L = 1 - exp(-β F(x, y)) / Σ_{y'} exp(-β F(x, y'))``.

    Margin ∞. One minus the Gibbs probability of the correct answer (over
    ``{y} ∪ {ȳ_1..N}``): bounded in ``[0, 1)``, so single outliers cannot dominate.

    [1] Ljolje, Ephraim, Rabiner, Estimation of hidden Markov model parameters by minimizing
        empirical error rate, 1990; LeCun et al. [0], eq. 27.

    Args:
        beta: Inverse temperature ``β > 0`` (default 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> MEELoss()(torch.tensor([0.0]), torch.tensor([0.0]))
        tensor(0.5000)
    """

    formula = "1 - exp(-β F(x,y)) / Σ_y' exp(-β F(x,y'))"
    table_margin = "∞"

    loss_function = staticmethod(mee_loss)


# ---- the general margin loss ----------------------------------------------------------------

PairLoss = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``H(F⁺, F⁻, m)``: increasing in ``F⁺``, decreasing in ``F⁻`` while ``F⁻ - F⁺ < m``."""

MarginFn = Callable[[Tensor, Tensor], Tensor]
"""``m(y, ȳ)``: answers ``(B, N, ...)`` and contrastive answers ``(B, N, ...)`` → ``(B, N)``."""


def hinge_pair(positive: Tensor, negative: Tensor, margin: Tensor) -> Tensor:
    """``H = max(0, F⁺ - F⁻ + m)`` (the ranking hinge)."""
    return F.relu(positive - negative + margin)


def square_square_pair(positive: Tensor, negative: Tensor, margin: Tensor) -> Tensor:
    """``H = F⁺² + max(0, m - F⁻)²``."""
    return positive.pow(2) + F.relu(margin - negative).pow(2)


def distance_margin(scale: float = 1.0) -> MarginFn:
    """``m(y, ȳ) = scale · ||y - ȳ||``: wrong answers far from the right one get a wider margin.

    Example:
        >>> m = distance_margin(2.0)
        >>> m(torch.zeros(1, 1, 2), torch.tensor([[[3.0, 4.0]]]))
        tensor([[10.]])
    """
    check_positive(scale, "scale")

    def margin(y: Tensor, y_bar: Tensor) -> Tensor:
        return scale * (y - y_bar).flatten(2).norm(dim=2)

    return margin


def general_margin_loss(
    positive: Tensor,
    negative: Tensor,
    margins: Tensor | float,
    pair_loss: PairLoss = hinge_pair,
    reduction: str = "mean",
) -> Tensor:
    """``L = Σ_ȳ H(F(x, y), F(x, ȳ), m(y, ȳ))``, summed over the contrastive answers.

    Args:
        positive: ``F(x, y)``, shape ``(B,)``.
        negative: ``F(x, ȳ)``, shape ``(B,)`` or ``(B, N)``.
        margins: ``m(y, ȳ)``, broadcastable to ``(B, N)``.
        pair_loss: ``H``; the hinge by default.
        reduction: Over the batch.
    """
    negative = require_negatives(check_energies(positive, negative), "general margin")
    margins = torch.as_tensor(margins, dtype=negative.dtype, device=negative.device)
    margins = margins.expand_as(negative) if margins.ndim < 2 else margins
    if margins.shape != negative.shape:
        raise ValueError(
            f"margins must have the negatives' shape {tuple(negative.shape)}, "
            f"got {tuple(margins.shape)}"
        )
    check_finite(margins, "margins")
    return reduce(pair_loss(positive[:, None], negative, margins).sum(dim=1), reduction)


class GeneralMarginLoss(nn.Module):
    """The general margin loss ``L(x, y, w) = Σ_ȳ H(F(x, y), F(x, ȳ), m(y, ȳ))``.

    ``H`` is strictly increasing in ``F⁺`` and decreasing in ``F⁻`` whenever ``F⁻ - F⁺ < m``;
    the margin ``m(y, ȳ)`` may depend on how wrong ``ȳ`` is (a user-given function). With
    the hinge ``H`` it makes ``F(x, y)`` lower than ``F(x, ȳ)`` by ``m(y, ȳ)`` and then stops.

    [1] LeCun et al. [0]; Taskar, Guestrin, Koller, Max-Margin Markov Networks, 2003.

    Args:
        margin: A constant ``m > 0`` or a function ``m(y, ȳ)`` of the answers
            (``(B, N, ...)``, ``(B, N, ...)`` → ``(B, N)``), such as
            :func:`distance_margin`.
        pair_loss: ``H(F⁺, F⁻, m)`` on broadcast tensors: :func:`hinge_pair` (default),
            :func:`square_square_pair` or any function of that form.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.

    Example:
        >>> loss = GeneralMarginLoss(margin=distance_margin())
        >>> y = torch.zeros(1, 2)
        >>> y_bar = torch.tensor([[[1.0, 0.0], [3.0, 0.0]]])  # (B=1, N=2, D=2)
        >>> loss(torch.tensor([0.0]), torch.tensor([[2.0, 2.0]]), y, y_bar)  # 0 + (3 - 2)
        tensor(1.)
    """

    def __init__(
        self,
        margin: float | MarginFn = 1.0,
        pair_loss: PairLoss = hinge_pair,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if not callable(margin):
            check_positive(margin, "margin")
        check_choice(reduction, REDUCTIONS, "reduction")
        self.margin = margin
        self.pair_loss = pair_loss
        self.reduction = reduction

    def forward(
        self,
        positive: Tensor,
        negative: Tensor,
        y: Tensor | None = None,
        y_bar: Tensor | None = None,
    ) -> Tensor:
        """The loss.

        Args:
            positive: ``F(x, y)``, shape ``(B,)``.
            negative: ``F(x, ȳ)``, shape ``(B, N)`` (or ``(B,)`` for ``N = 1``).
            y: Correct answers ``(B, ...)``; needed when the margin is a function.
            y_bar: Contrastive answers ``(B, N, ...)``; needed when the margin is a function.
        """
        margins: Tensor | float
        if callable(self.margin):
            if y is None or y_bar is None:
                raise ValueError("a margin function m(y, ȳ) needs the answers y and y_bar")
            n = negative.shape[1] if negative.ndim == 2 else 1
            if y_bar.shape[:2] != (y.shape[0], n):
                raise ValueError(
                    f"y_bar must have shape (B={y.shape[0]}, N={n}, ...), got {tuple(y_bar.shape)}"
                )
            y_rep = y.unsqueeze(1).expand(y.shape[0], n, *y.shape[1:])
            margins = self.margin(y_rep, y_bar)
        else:
            margins = self.margin
        return general_margin_loss(positive, negative, margins, self.pair_loss, self.reduction)
