"""How sure is a difference of two accuracies on the same test set? A paired bootstrap.

Two classifiers scored on the same ``N`` test samples give per-sample hits ``a_i, b_i ∈ {0, 1}``
and the difference ``Δ = mean_i (a_i − b_i)``. Resampling the ``N`` samples with replacement
(the same draw for both, so that what they share cancels) ``draws`` times gives the
bootstrap distribution of ``Δ``; its ``(1 − level)/2`` and ``(1 + level)/2`` quantiles are the
percentile interval [0]. For large ``N`` its half-width is near ``z · sd(a − b) / √N``.

[0] Efron, Tibshirani, An Introduction to the Bootstrap, 1993, chapter 13 (percentile
    intervals); for paired comparisons of classifiers, Koehn, Statistical Significance Tests
    for Machine Translation Evaluation, EMNLP 2004, https://aclanthology.org/W04-3250
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class PairedDifference:
    """``difference = accuracy(a) − accuracy(b)`` and its bootstrap interval."""

    difference: float
    low: float
    high: float
    level: float

    def __str__(self) -> str:
        return (
            f"{self.difference:+.1%} ({self.level:.0%} paired bootstrap interval "
            f"{self.low:+.1%} to {self.high:+.1%})"
        )


def paired_bootstrap(
    hits_a: Tensor, hits_b: Tensor, draws: int = 10_000, level: float = 0.95, seed: int = 0
) -> PairedDifference:
    """The accuracy difference of two classifiers on the same samples, with its percentile
    interval over ``draws`` resamplings of the samples.

    Args:
        hits_a, hits_b: ``(N,)`` booleans (or 0/1): whether each classifier got sample i.
        draws: Bootstrap resamplings.
        level: Coverage of the interval, in (0, 1).
        seed: Seed of the resampling.

    Returns:
        :class:`PairedDifference`.

    Raises:
        ValueError: On hits of different or empty shapes, ``draws < 1`` or ``level``
            outside (0, 1).

    Example:
        >>> a = torch.tensor([1, 1, 1, 0])
        >>> result = paired_bootstrap(a, a)  # the same hits: no difference in any draw
        >>> result.difference, result.low, result.high
        (0.0, 0.0, 0.0)
    """
    if hits_a.ndim != 1 or hits_a.shape != hits_b.shape or len(hits_a) == 0:
        raise ValueError(
            f"hits_a and hits_b must be non-empty (N,) tensors of the same N, got "
            f"{tuple(hits_a.shape)} and {tuple(hits_b.shape)}"
        )
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    gap = hits_a.double().cpu() - hits_b.double().cpu()  # (N,) in {-1, 0, 1}
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(gap), (draws, len(gap)), generator=generator)  # (draws, N)
    resampled = gap[picks].mean(1)  # (draws,)
    low, high = torch.quantile(resampled, torch.tensor([(1 - level) / 2, (1 + level) / 2]).double())
    return PairedDifference(float(gap.mean()), float(low), float(high), level)
