"""The most offending incorrect answers (hard negatives): the wrong answers of lowest energy.

``ȳ = argmin_{y' ∈ 𝒴, y' ≠ y} F(x, y')``: the contrastive point the loss table's pair losses
(hinge, log, LVQ2, MCE, square-square, square-exp) are written for [0]. Over a candidate set,
all energies are computed in one batched call; the correct answer (and anything within
``radius`` of it) is excluded.

[0] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006,
    http://yann.lecun.com/exdb/publis/pdf/lecun-06.pdf
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eblearn._validate import check_finite, check_ndim
from eblearn.energy.base import (
    check_answers,
    check_energy_output,
    expand_options,
    repeat_each,
)
from eblearn.energy.protocol import EnergyLike, as_energy


def most_offending_index(
    energies: Tensor, target: Tensor | None = None, exclude: Tensor | None = None, k: int = 1
) -> Tensor:
    """Indices of the ``k`` lowest-energy answers that are not correct.

    Args:
        energies: ``F(x_b, y_j)``, shape ``(B, K)``.
        target: Index of the correct answer per sample ``(B,)``, excluded.
        exclude: Bool mask ``(B, K)`` of further answers to exclude.
        k: How many to return, lowest energy first.

    Returns:
        Tensor of shape ``(B, k)``.

    Raises:
        ValueError: If a sample has fewer than ``k`` eligible answers.

    Example:
        >>> most_offending_index(torch.tensor([[0.1, 0.5, 0.3]]), torch.tensor([0]))
        tensor([[2]])
    """
    check_ndim(energies, 2, "energies", "(B, K)")
    check_finite(energies, "energies")
    mask = torch.zeros_like(energies, dtype=torch.bool) if exclude is None else exclude.clone()
    if mask.shape != energies.shape or mask.dtype != torch.bool:
        raise ValueError(f"exclude must be a bool mask of shape {tuple(energies.shape)}")
    if target is not None:
        if target.shape != (energies.shape[0],) or target.is_floating_point():
            raise ValueError(f"target must be (B={energies.shape[0]},) integer indices")
        mask.scatter_(1, target.long()[:, None], True)
    eligible = (~mask).sum(dim=1)
    if bool((eligible < k).any()):
        raise ValueError(
            f"every sample needs at least k={k} eligible (not excluded) answers; "
            f"the fewest is {int(eligible.min())}: pass more candidates or a smaller radius"
        )
    return energies.masked_fill(mask, math.inf).topk(k, dim=1, largest=False).indices


def most_offending(
    energy: EnergyLike,
    y: Tensor,
    candidates: Tensor,
    x: Tensor | None = None,
    *,
    per_sample: bool = False,
    radius: float = 0.0,
    k: int = 1,
) -> Tensor:
    """The ``k`` lowest-energy candidates farther than ``radius`` from the correct answer.

    Args:
        energy: The energy ``F(x, y)``.
        y: Correct answers, shape ``(B, ...)``.
        candidates: Shared ``(K, ...)`` or per-sample ``(B, K, ...)`` candidate answers.
        x: Observations ``(B, ...)`` or ``None``.
        per_sample: Whether ``candidates`` holds one set per sample.
        radius: Candidates within this Euclidean distance of ``y`` count as correct.
        k: How many negatives per sample.

    Returns:
        The hard negatives, detached, shape ``(B, k, ...)``, lowest energy first.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> energy = QuadraticEnergy(torch.zeros(1))
        >>> grid = torch.linspace(-2, 2, 9)[:, None]
        >>> most_offending(energy, torch.zeros(1, 1), grid, radius=0.3).flatten().abs()
        tensor([0.5000])
    """
    energy = as_energy(energy)
    check_answers(y, x)
    batch = y.shape[0]
    options = expand_options(candidates, batch, per_sample)  # (B, K, ...)
    if options.shape[2:] != y.shape[1:]:
        raise ValueError(
            f"candidates must have the answers' shape {tuple(y.shape[1:])} per entry, "
            f"got {tuple(options.shape[2:])}"
        )
    n = options.shape[1]
    with torch.no_grad():
        values = energy(options.reshape(batch * n, *y.shape[1:]), repeat_each(x, n))
        check_energy_output(values, batch * n, energy)
        distance = (options - y.unsqueeze(1)).flatten(2).norm(dim=2)  # (B, K)
        index = most_offending_index(values.view(batch, n), exclude=distance <= radius, k=k)
    gather = index.view(*index.shape, *([1] * (y.ndim - 1))).expand(batch, k, *y.shape[1:])
    return options.gather(1, gather).detach()
