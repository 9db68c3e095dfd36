"""The Gibbs distribution of an energy over a finite set of answers.

``P(y_k | x) = exp(-β F(x, y_k)) / Z_β(x)`` with the partition function
``Z_β(x) = Σ_k exp(-β F(x, y_k))``. Its negative log-likelihood is
``-log P(y | x) = β F(x, y) + log Z_β(x)``, which is β times the NLL/MMI loss of the table
(:func:`eblearn.losses.contrastive.nll_loss`): maximum likelihood pushes the data energy down
and every answer's energy up in proportion to its probability.

[0] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006,
    http://yann.lecun.com/exdb/publis/pdf/lecun-06.pdf
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eblearn._validate import check_finite, check_ndim


class GibbsDistribution:
    """``P_β(y_k | x) ∝ exp(-β E_k)`` for energies of ``K`` answers per sample.

    Args:
        energies: ``F(x_b, y_k)``, shape ``(B, K)`` (finite).
        beta: Inverse temperature ``β > 0`` (finite).

    Raises:
        ValueError: If ``energies`` is not ``(B, K)``, holds NaN or Inf, or ``beta`` is not
            a positive finite number.

    Example:
        >>> gibbs = GibbsDistribution(torch.tensor([[0.0, 0.0, math.log(2.0)]]))
        >>> gibbs.probs
        tensor([[0.4000, 0.4000, 0.2000]])
        >>> gibbs.nll(torch.tensor([2]))  # -log 0.2
        tensor([1.6094])
    """

    def __init__(self, energies: Tensor, beta: float = 1.0) -> None:
        check_ndim(energies, 2, "energies", "(B, K)")
        check_finite(energies, "energies")
        if not (beta > 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
        self.energies = energies
        self.beta = beta

    @property
    def log_partition(self) -> Tensor:
        """``log Z_β = log Σ_k exp(-β E_k)``, shape ``(B,)``."""
        return torch.logsumexp(-self.beta * self.energies, dim=1)

    @property
    def free_energy(self) -> Tensor:
        """``-1/β log Z_β``, the soft minimum of the energies, shape ``(B,)``."""
        return -self.log_partition / self.beta

    @property
    def log_probs(self) -> Tensor:
        """``log P(y_k | x) = -β E_k - log Z_β``, shape ``(B, K)``."""
        return -self.beta * self.energies - self.log_partition[:, None]

    @property
    def probs(self) -> Tensor:
        """``P(y_k | x)``, shape ``(B, K)``; rows sum to 1."""
        return torch.softmax(-self.beta * self.energies, dim=1)

    def nll(self, target: Tensor) -> Tensor:
        """``-log P(y | x) = β E_y + log Z_β`` of the correct answers.

        Args:
            target: Index of the correct answer of each sample, shape ``(B,)``.

        Returns:
            Tensor of shape ``(B,)``.
        """
        target = _check_target(target, self.energies)
        return -self.log_probs.gather(1, target[:, None]).squeeze(1)

    def entropy(self) -> Tensor:
        """``-Σ_k P_k log P_k``, shape ``(B,)``."""
        return -(self.probs * self.log_probs).sum(dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` answer indices per sample, drawn from ``P``, shape ``(B, n)``."""
        return torch.multinomial(self.probs, n, replacement=True, generator=generator)


def _check_target(target: Tensor, energies: Tensor) -> Tensor:
    if target.shape != (energies.shape[0],) or target.is_floating_point():
        raise ValueError(
            f"target must hold one integer index per sample, shape ({energies.shape[0]},), "
            f"got {target.dtype} of shape {tuple(target.shape)}"
        )
    k = energies.shape[1]
    if bool(((target < 0) | (target >= k)).any()):
        raise ValueError(f"target indices must lie in [0, {k}), got {target.tolist()}")
    return target.long()
