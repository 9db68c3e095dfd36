"""Simulated annealing: ``argmin_y E(y)`` over sequences of discrete variables, any energy.

``y = (y_0, ..., y_{T-1})`` with ``y_t ∈ {0..K-1}`` and ``E`` any function of it (no chain
or other structure needed: Potts models, energies with long-range terms, a network's score).
Metropolis sampling of the Gibbs distribution ``exp(-E(y) / τ_n)`` while the temperature
``τ_n`` falls: at step ``n`` each chain proposes a single-site change ``y' = y`` except
``y'_t = k'`` (site ``t`` uniform, new label ``k' ≠ y_t`` uniform, a symmetric proposal) and
accepts it with probability ``min(1, exp(-(E(y') - E(y)) / τ_n))``. Hot, it crosses energy
barriers; cold, it only descends. With a slow enough (logarithmic) schedule it reaches the
global minimum with probability one [0]; in practice a geometric schedule and a few chains.

[0] Kirkpatrick, Gelatt, Vecchi, Optimization by Simulated Annealing, Science, 1983;
    Geman, Geman, Stochastic Relaxation, Gibbs Distributions, and the Bayesian Restoration of
    Images, PAMI, 1984.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from eblearn._validate import check_finite, check_positive
from eblearn.energy.result import Inference, sort_by_energy

DiscreteEnergy = Callable[[Tensor], Tensor]
"""``E``: integer sequences ``(B, S, T)`` → energies ``(B, S)``."""


def geometric_temperatures(start: float, end: float, steps: int) -> Tensor:
    """The schedule ``τ_n = τ_start (τ_end / τ_start)^{n / (steps - 1)}``, ``n = 0..steps-1``.

    Example:
        >>> geometric_temperatures(1.0, 0.01, 3)
        tensor([1.0000, 0.1000, 0.0100], dtype=torch.float64)
    """
    check_positive(start, "start temperature")
    check_positive(end, "end temperature")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"temperatures must be finite, got {start} and {end}")
    fraction = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)  # [0.] when steps = 1
    return start * (end / start) ** fraction


def _evaluate(energy: DiscreteEnergy, y: Tensor) -> Tensor:
    values = energy(y)
    if values.shape != y.shape[:2]:
        raise ValueError(
            f"the energy must map sequences (B, S, T) = {tuple(y.shape)} to energies (B, S) = "
            f"{tuple(y.shape[:2])}, got shape {tuple(values.shape)}"
        )
    check_finite(values, "energies")
    return values


def _check_start(start: Tensor, n_states: int) -> None:
    if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2:
        raise ValueError(f"n_states must be an integer >= 2 (K labels), got {n_states!r}")
    if start.ndim != 3 or start.shape[2] < 1 or start.shape[1] < 1:
        raise ValueError(
            f"start must have shape (B, S, T): S chains of T sites per sample, "
            f"got shape {tuple(start.shape)}"
        )
    if start.is_floating_point() or start.is_complex() or start.dtype == torch.bool:
        raise ValueError(f"start must hold integer labels, got dtype {start.dtype}")
    if bool(((start < 0) | (start >= n_states)).any()):
        raise ValueError(f"start must hold labels in [0, n_states={n_states})")


def _where(generator: torch.Generator | None) -> torch.device:
    """The device random numbers are drawn on: the generator's (the CPU without one)."""
    return generator.device if generator is not None else torch.device("cpu")


def _single_site_move(y: Tensor, n_states: int, generator: torch.Generator | None) -> Tensor:
    """``y`` (B, S, T) with one uniform site per chain moved to a uniform *other* label."""
    batch, chains, sites = y.shape
    device = _where(generator)
    site = torch.randint(sites, (batch, chains, 1), generator=generator, device=device)
    # k' = y_t + 1 + r (mod K) with r uniform in [0, K-2]: uniform over the K-1 other labels
    shift = torch.randint(n_states - 1, (batch, chains, 1), generator=generator, device=device)
    site, shift = site.to(y.device), shift.to(y.device) + 1
    return y.scatter(2, site, (y.gather(2, site) + shift) % n_states)


def simulated_annealing(
    energy: DiscreteEnergy,
    start: Tensor,
    n_states: int,
    temperatures: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> Inference:
    """``argmin_y E(y)`` by Metropolis single-site moves under a falling temperature.

    Every chain takes one step per temperature ``τ_n``: a site ``t`` and a new label
    ``k' ≠ y_t`` drawn uniformly, accepted with probability
    ``min(1, exp(-(E(y') - E(y)) / τ_n))``. All ``B·S`` chains move together, one call of
    ``energy`` per step; each chain remembers the lowest-energy state it visited.

    Args:
        energy: ``E``, a function from integer sequences ``(B, S, T)`` to energies
            ``(B, S)`` (for a chain energy:
            ``lambda y: chain_energy(unary, pairwise, y)``).
        start: The chains' first states, integer labels of shape ``(B, S, T)`` in
            ``[0, n_states)``: ``S`` chains per sample (restarts, the best is kept).
        n_states: ``K ≥ 2``, the number of labels per site.
        temperatures: The schedule ``τ_0, τ_1, ...`` (one step each), 1-D, positive and
            finite; :func:`geometric_temperatures` ``(1, 0.01, 1000)`` when ``None``. Scale
            it to the energy's differences.
        generator: Random generator of the proposals and acceptances (reproducible runs).

    Returns:
        :class:`~eblearn.energy.Inference` with each chain's best visited state, ``y`` of
        shape ``(B, S, T)``, and its energy ``(B, S)``, sorted by energy (computed again in
        one call with the graph of whatever the energy depends on).

    Raises:
        ValueError: On a bad ``start`` (shape, dtype, labels out of range), ``n_states < 2``,
            a bad schedule, or an energy of the wrong shape or not finite.

    Example:
        >>> target = torch.tensor([2, 0, 1, 2])
        >>> def hamming(y):  # (B, S, T) -> (B, S)
        ...     return (y != target).sum(-1).double()
        >>> gen = torch.Generator().manual_seed(0)
        >>> start = torch.zeros(1, 2, 4, dtype=torch.long)
        >>> result = simulated_annealing(hamming, start, 3, generator=gen)
        >>> result.best, result.energy[:, 0]
        (tensor([[2, 0, 1, 2]]), tensor([0.], dtype=torch.float64))
    """
    _check_start(start, n_states)
    if temperatures is None:
        temperatures = geometric_temperatures(1.0, 0.01, 1000)
    if temperatures.ndim != 1 or len(temperatures) < 1:
        raise ValueError(
            f"temperatures must be a 1-D schedule with at least one step, "
            f"got shape {tuple(temperatures.shape)}"
        )
    if not bool(((temperatures > 0) & torch.isfinite(temperatures)).all()):
        raise ValueError("temperatures must all be positive and finite")
    batch, chains = start.shape[:2]
    schedule = temperatures.tolist()
    with torch.no_grad():
        y = start.long().clone()
        current = _evaluate(energy, y)
        best_y, best_e = y.clone(), current.clone()
        for tau in schedule:
            proposal = _single_site_move(y, n_states, generator)
            proposed = _evaluate(energy, proposal)
            u = torch.rand(
                (batch, chains), dtype=torch.float64, generator=generator, device=_where(generator)
            ).to(y.device)
            # accept if u < exp(-ΔE/τ), written as log u < -ΔE/τ (no overflow)
            accept = torch.log(u) < -(proposed - current).double() / tau
            y = torch.where(accept.unsqueeze(2), proposal, y)
            current = torch.where(accept, proposed, current)
            better = current < best_e
            best_y = torch.where(better.unsqueeze(2), y, best_y)
            best_e = torch.where(better, current, best_e)
    return sort_by_energy(best_y, _evaluate(energy, best_y))
