"""Estimators for energies of binary vectors that need no partition function, and the exact one.

For ``p(y) = exp(-F(y)) / Z`` over ``y ∈ {0, 1}^n``, maximum likelihood needs ``log Z``
(a sum over ``2ⁿ`` states, :func:`exact_nll_loss`, feasible for ``n ≤ 20``). The
estimators here replace it:

* contrastive divergence (:func:`contrastive_divergence_loss`): ``F(data) - F(negatives)``
  with negatives from a few Gibbs sweeps (CD-k) or persistent chains (PCD) [0, 1];
* noise-contrastive estimation (:func:`binary_nce_loss`): logistic regression of data
  against independent Bernoulli noise, with ``log Z`` a learned scalar [2];
* three losses on the single-bit-flip differences ``d_i(y) = F(y) - F(ỹ_i)`` (``ỹ_i`` is
  ``y`` with bit ``i`` flipped; ``p(y)/p(ỹ_i) = exp(-d_i)``, free of ``Z``):

  - ratio matching [3]: ``Σ_i g(p(y)/p(ỹ_i))²`` with ``g(u) = 1/(1 + u)``, i.e.
    ``Σ_i σ(d_i)²``;
  - minimum probability flow [4]: ``Σ_i exp(½ (F(y) - F(ỹ_i))) = Σ_i exp(d_i / 2)``, the
    initial probability flow out of the data into its single-flip neighbors;
  - pseudo-likelihood [5]: ``-Σ_i log p(y_i | y_-i) = Σ_i softplus(d_i)``.

Each is averaged over the data (``reduction="mean"``); each is consistent: its expected
gradient under the model's own distribution vanishes at the model's parameters.

[0] Hinton, Training Products of Experts by Minimizing Contrastive Divergence, 2002.
[1] Tieleman, Training Restricted Boltzmann Machines using Approximations to the Likelihood
    Gradient, ICML 2008.
[2] Gutmann, Hyvärinen, Noise-contrastive estimation: A new estimation principle for
    unnormalized statistical models, AISTATS 2010.
[3] Hyvärinen, Some extensions of score matching, Computational Statistics & Data Analysis
    2007 (section 3, binary data).
[4] Sohl-Dickstein, Battaglino, DeWeese, Minimum Probability Flow Learning, ICML 2011,
    https://arxiv.org/abs/0906.4779
[5] Besag, Statistical Analysis of Non-Lattice Data, The Statistician 1975.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice
from eblearn.energy.base import EnergyFn, check_energy_output, repeat_each
from eblearn.energy.boltzmann import check_binary_batch, flip_each_bit, log_partition
from eblearn.losses.contrastive import REDUCTIONS, reduce
from eblearn.losses.group import nce_loss


def _energies(energy: EnergyFn, y: Tensor, x: Tensor | None = None) -> Tensor:
    values = energy(y, x)
    check_energy_output(values, y.shape[0], energy)
    return values


def flip_differences(energy: EnergyFn, y: Tensor, x: Tensor | None = None) -> Tensor:
    """``d_i(y) = F(y) - F(ỹ_i)`` for every bit ``i`` (``ỹ_i``: bit ``i`` flipped), ``(B, n)``.

    ``exp(-d_i) = p(y) / p(ỹ_i)``, so ``Z`` cancels. One energy call on ``B·(n + 1)`` rows.

    Args:
        energy: Any energy ``F(x, y)`` of binary vectors.
        y: Binary data ``(B, n)``.
        x: Observations ``(B, ...)`` or ``None``.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> machine = BoltzmannMachine(2, bias=torch.tensor([1.0, -2.0]))  # F = -bᵀy
        >>> flip_differences(machine, torch.tensor([[1.0, 0.0]])).tolist()
        [[-1.0, -2.0]]
    """
    check_binary_batch(y)
    batch, n = y.shape
    rows = torch.cat([y, flip_each_bit(y).reshape(batch * n, n)])
    rows_x = None if x is None else torch.cat([x, repeat_each(x, n)])
    values = _energies(energy, rows, rows_x)
    return values[:batch, None] - values[batch:].view(batch, n)


def ratio_matching_loss(
    energy: EnergyFn, y: Tensor, x: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Ratio matching, ``Σ_i g(p(y)/p(ỹ_i))² = Σ_i σ(F(y) - F(ỹ_i))²`` per sample [3].

    Hyvärinen's objective for binary data, with ``g(u) = 1/(1 + u)``; it pushes the energy
    of every single-flip neighbor above the data's, saturating once it is well above.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> # F = 0: every ratio is 1, g(1)² = 1/4 per bit
        >>> ratio_matching_loss(BoltzmannMachine(3), torch.zeros(2, 3))
        tensor(0.7500, grad_fn=<MeanBackward0>)
    """
    return reduce(torch.sigmoid(flip_differences(energy, y, x)).pow(2).sum(-1), reduction)


def minimum_probability_flow_loss(
    energy: EnergyFn, y: Tensor, x: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Minimum probability flow, ``K = Σ_i exp(½ (F(y) - F(ỹ_i)))`` per sample [4].

    The flow out of the data under a master equation that connects single-bit-flip
    neighbors (the paper's sum skips neighbors that are themselves data points; here every
    neighbor counts, which keeps the estimator consistent and the loss per sample).

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> minimum_probability_flow_loss(BoltzmannMachine(3), torch.zeros(2, 3))  # 3 e⁰
        tensor(3., grad_fn=<MeanBackward0>)
    """
    return reduce(torch.exp(0.5 * flip_differences(energy, y, x)).sum(-1), reduction)


def pseudo_likelihood_loss(
    energy: EnergyFn, y: Tensor, x: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Negative log pseudo-likelihood, ``-Σ_i log p(y_i | y_-i) = Σ_i softplus(d_i)`` [5].

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> pseudo_likelihood_loss(BoltzmannMachine(2), torch.zeros(1, 2))  # 2 log 2
        tensor(1.3863, grad_fn=<MeanBackward0>)
    """
    return reduce(F.softplus(flip_differences(energy, y, x)).sum(-1), reduction)


def exact_nll_loss(energy: EnergyFn, y: Tensor, reduction: str = "mean") -> Tensor:
    """Exact negative log-likelihood ``F(y) + log Z``, ``Z`` summed over all ``2ⁿ`` states.

    Its gradient is ``E_data[∂F] - E_model[∂F]``, the maximum-likelihood gradient.

    Raises:
        ValueError: If ``y`` is not binary or has more than 20 units.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> exact_nll_loss(BoltzmannMachine(3), torch.zeros(4, 3))  # uniform: 3 log 2
        tensor(2.0794, grad_fn=<MeanBackward0>)
    """
    check_binary_batch(y)
    log_z = log_partition(energy, y.shape[1], dtype=y.dtype, device=y.device)
    return reduce(_energies(energy, y) + log_z, reduction)


def contrastive_divergence_loss(
    energy: EnergyFn, y: Tensor, negatives: Tensor, x: Tensor | None = None
) -> Tensor:
    """``mean F(y) - mean F(ȳ)``: pushes the data down and the (detached) samples ``ȳ`` up [0].

    With ``ȳ`` from CD-k or PCD chains its gradient ``E_data[∂F] - E_samples[∂F]`` estimates
    the maximum-likelihood gradient; with exact model samples it is unbiased.

    Args:
        energy: Any energy ``F(x, y)``.
        y: Data ``(B, ...)``.
        negatives: Samples ``(M, ...)`` (``M = B`` when ``x`` is given).
        x: Observations or ``None``.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> machine = BoltzmannMachine(2, bias=torch.tensor([1.0, 0.0]))
        >>> contrastive_divergence_loss(machine, torch.ones(1, 2), torch.zeros(1, 2))
        tensor(-1., grad_fn=<SubBackward0>)
    """
    if negatives.shape[1:] != y.shape[1:]:
        raise ValueError(
            f"negatives must have the data's sample shape {tuple(y.shape[1:])}, "
            f"got {tuple(negatives.shape[1:])}"
        )
    return _energies(energy, y, x).mean() - _energies(energy, negatives.detach(), x).mean()


def bernoulli_log_prob(y: Tensor, probs: Tensor) -> Tensor:
    """``log p_n(y) = Σ_i y_i log π_i + (1 - y_i) log(1 - π_i)`` of independent bits, ``(...)``.

    Example:
        >>> bernoulli_log_prob(torch.tensor([[1.0, 0.0]]), torch.tensor([0.5, 0.25]))
        tensor([-0.9808])
    """
    if not bool(((probs > 0) & (probs < 1)).all()):
        raise ValueError("noise probabilities must lie strictly between 0 and 1")
    return (y * probs.log() + (1 - y) * torch.log1p(-probs)).sum(-1)


def binary_nce_loss(
    energy: EnergyFn,
    y: Tensor,
    noise: Tensor,
    noise_probs: Tensor,
    log_normalizer: Tensor,
    reduction: str = "mean",
) -> Tensor:
    """NCE against independent Bernoulli noise, model ``log p_m(y) = -F(y) - c`` [2].

    ``c`` (``log_normalizer``) is learned with the energy; at the optimum ``c = log Z``.
    The loss is :func:`eblearn.losses.nce_loss` on the energies ``F + c``, with ``ν = N``
    noise samples per data point: ``-[log h(y) + Σ_n log(1 - h(ȳ_n))]``,
    ``h = σ(log p_m - log p_n - log ν)``.

    Args:
        energy: Any unconditional energy of binary vectors ``(B, n)``.
        y: Binary data ``(B, n)``.
        noise: Noise samples ``(B, N, n)`` drawn from ``noise_probs``.
        noise_probs: ``π (n,)``, the probability of each bit being 1 under the noise.
        log_normalizer: The learned scalar ``c``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> half = torch.full((2,), 0.5)  # uniform noise, p_n = 1/4; model uniform with c = log 4
        >>> loss = binary_nce_loss(BoltzmannMachine(2), torch.zeros(1, 2), torch.zeros(1, 1, 2),
        ...                        half, torch.tensor(4.0).log())
        >>> round(loss.item(), 4)  # 2 log 2
        1.3863
    """
    check_binary_batch(y)
    n = y.shape[1]
    if noise.ndim != 3 or noise.shape[0] != y.shape[0] or noise.shape[2] != n:
        raise ValueError(
            f"noise must have shape (B={y.shape[0]}, N, n={n}), got {tuple(noise.shape)}"
        )
    if noise_probs.shape != (n,):
        raise ValueError(f"noise_probs must have shape ({n},), got {tuple(noise_probs.shape)}")
    batch, count = noise.shape[:2]
    positive = _energies(energy, y) + log_normalizer
    flat_noise = noise.reshape(batch * count, n)
    negative = (_energies(energy, flat_noise) + log_normalizer).view(batch, count)
    return nce_loss(
        positive,
        negative,
        bernoulli_log_prob(y, noise_probs),
        bernoulli_log_prob(noise, noise_probs),
        reduction,
    )


NeighborLoss = Callable[[EnergyFn, Tensor, "Tensor | None", str], Tensor]


class _FlipLoss(nn.Module):
    """A loss on single-bit-flip differences: ``loss(energy, y, x=None)``; subclasses name
    only their pure function."""

    function: NeighborLoss

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_choice(reduction, REDUCTIONS, "reduction")
        self.reduction = reduction

    def forward(self, energy: EnergyFn, y: Tensor, x: Tensor | None = None) -> Tensor:
        return type(self).function(energy, y, x, self.reduction)


class RatioMatchingLoss(_FlipLoss):
    """Ratio matching [3] as a module; see :func:`ratio_matching_loss`.

    Energy: any ``F`` of binary vectors; strategy: contrastive, the single-bit-flip
    neighbors of each data point are pushed up (no sampler, no ``Z``).

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> RatioMatchingLoss()(BoltzmannMachine(3), torch.zeros(2, 3))
        tensor(0.7500, grad_fn=<MeanBackward0>)
    """

    function = staticmethod(ratio_matching_loss)


class MinimumProbabilityFlowLoss(_FlipLoss):
    """Minimum probability flow [4] as a module; see :func:`minimum_probability_flow_loss`.

    Energy: any ``F`` of binary vectors; strategy: contrastive, the flow from each data
    point to its single-bit-flip neighbors is minimized.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> MinimumProbabilityFlowLoss()(BoltzmannMachine(3), torch.zeros(2, 3))
        tensor(3., grad_fn=<MeanBackward0>)
    """

    function = staticmethod(minimum_probability_flow_loss)


class PseudoLikelihoodLoss(_FlipLoss):
    """Negative log pseudo-likelihood [5] as a module; see :func:`pseudo_likelihood_loss`.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> PseudoLikelihoodLoss()(BoltzmannMachine(2), torch.zeros(1, 2))
        tensor(1.3863, grad_fn=<MeanBackward0>)
    """

    function = staticmethod(pseudo_likelihood_loss)
