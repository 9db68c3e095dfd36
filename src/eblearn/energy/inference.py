"""Inference of the answer: ``y̌ = argmin_y F(x, y)``.

An energy may have several minima in ``y`` (several answers compatible with ``x``: the horn of
the energy lab has a whole ellipse of them), so inference returns **all** the solutions it
found, sorted by energy, and :meth:`Inference.distinct` keeps the different ones.

* :func:`infer_descent`: projected gradient descent from several starts, all run as one
  batch;
* :func:`infer_enumerate`: the energies of a candidate set, in one batched call.

Structured and discrete inference over sequences ``y = (y_0..y_{T-1})``, ``y_t ∈ {0..K-1}``
(or a discrete latent ``z``), where enumerating all ``K^T`` answers is out of reach:

* :func:`viterbi`: exact ``argmin`` of a chain energy
  ``E(y) = Σ_t U_t(y_t) + Σ_t P_t(y_t, y_{t+1})`` by the min-sum recursion
  ``V_{t+1}(k) = U_{t+1}(k) + min_j [V_t(j) + P_t(j, k)]``;
* :func:`chain_free_energy`: its soft minimum ``-1/β log Σ_y exp(-β E(y))`` by the forward
  algorithm in log-space, ``α_{t+1}(k) = U_{t+1}(k) - 1/β log Σ_j exp(-β [α_t(j) + P_t(j, k)])``;
* :func:`beam_search`: the ``W`` best prefixes kept at each step (greedy at ``W = 1``);
* :func:`simulated_annealing`: Metropolis single-site moves under a falling temperature, for
  any energy given as a function of the sequence;
* :func:`chain_energy`: ``E(y)`` of given sequences.

They live in :mod:`eblearn.energy.chain` and :mod:`eblearn.energy.annealing`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from eblearn._validate import check_finite
from eblearn.energy._descent import Projection, make_projection, projected_descent
from eblearn.energy.annealing import (
    DiscreteEnergy,
    geometric_temperatures,
    simulated_annealing,
)
from eblearn.energy.base import EnergyFn, check_energy_output, expand_options, repeat_each
from eblearn.energy.chain import beam_search, chain_energy, chain_free_energy, viterbi
from eblearn.energy.protocol import EnergyLike, as_energy
from eblearn.energy.result import Inference, sort_by_energy

__all__ = [
    "DiscreteEnergy",
    "Inference",
    "beam_search",
    "chain_energy",
    "chain_free_energy",
    "geometric_temperatures",
    "infer_descent",
    "infer_enumerate",
    "simulated_annealing",
    "viterbi",
]

Bound = float | Tensor | None


def _batch(options: Tensor, x: Tensor | None, per_sample: bool, what: str) -> int:
    min_ndim = 3 if per_sample else 2
    if options.ndim < min_ndim:
        shape = "(B, S, ...)" if per_sample else "(S, ...)"
        raise ValueError(f"{what} must have shape {shape}, got {tuple(options.shape)}")
    check_finite(options, what)
    if x is not None:
        return x.shape[0]
    return options.shape[0] if per_sample else 1


def _energies(energy: EnergyFn, y: Tensor, x: Tensor | None) -> Tensor:
    """Energies of ``y`` (B, S, ...) with x (B, ...): one call, shape (B, S)."""
    batch, s = y.shape[:2]
    flat_x = repeat_each(x, s)
    values = energy(y.reshape(batch * s, *y.shape[2:]), flat_x)
    check_energy_output(values, batch * s, energy)
    return values.view(batch, s)


def infer_descent(
    energy: EnergyLike,
    starts: Tensor,
    x: Tensor | None = None,
    *,
    per_sample: bool = False,
    steps: int = 100,
    step_size: float = 0.1,
    momentum: float = 0.0,
    bounds: tuple[Bound, Bound] | None = None,
    project: Projection | None = None,
) -> Inference:
    """``argmin_y F(x, y)`` by projected gradient descent from several starts.

    All ``B·S`` descents run as one batch: ``y ← Π(y - η ∇_y F(x, y))``.

    Args:
        energy: An :class:`~eblearn.energy.base.Energy`, any object with
            ``energy(y, x=None)`` (:class:`~eblearn.energy.HasEnergy`) or a function.
        starts: Starting answers, shared ``(S, ...)`` or per sample ``(B, S, ...)``.
        x: Observations ``(B, ...)``, or ``None`` for an unconditional energy.
        per_sample: Whether ``starts`` has one set per sample.
        steps: Descent steps.
        step_size: ``η``.
        momentum: Heavy-ball momentum in ``[0, 1)``.
        bounds: ``(low, high)`` box for ``y``.
        project: Any other projection ``Π`` (applied after the box).

    Returns:
        :class:`Inference` with every final answer, shape ``(B, S, ...)``, sorted by energy;
        the energies carry no graph.

    Example:
        >>> from eblearn.energy.analytic import GaussianMixtureEnergy
        >>> two_wells = GaussianMixtureEnergy(torch.tensor([[-2.0], [2.0]]), 0.1)
        >>> result = infer_descent(two_wells, torch.linspace(-3, 3, 8)[:, None], steps=200)
        >>> [round(float(a), 2) for a in result.distinct(tol=0.1)[0].flatten().sort().values]
        [-2.0, 2.0]
    """
    energy = as_energy(energy)
    batch = _batch(starts, x, per_sample, "starts")
    y0 = expand_options(starts, batch, per_sample)  # (B, S, ...)
    s = y0.shape[1]
    flat_x = repeat_each(x, s)
    flat_x = None if flat_x is None else flat_x.detach()
    y = projected_descent(
        lambda v: energy(v, flat_x),
        y0.reshape(batch * s, *y0.shape[2:]),
        steps,
        step_size,
        momentum,
        make_projection(bounds, project),
    ).view_as(y0)
    with torch.no_grad():
        return sort_by_energy(y, _energies(energy, y, x))


def infer_enumerate(
    energy: EnergyLike, candidates: Tensor, x: Tensor | None = None, *, per_sample: bool = False
) -> Inference:
    """``argmin_y F(x, y)`` over a candidate set, evaluated in one batched call.

    Args:
        energy: An :class:`~eblearn.energy.base.Energy`, any object with
            ``energy(y, x=None)`` (:class:`~eblearn.energy.HasEnergy`) or a function.
        candidates: Shared ``(K, ...)`` or per-sample ``(B, K, ...)`` answers.
        x: Observations ``(B, ...)`` or ``None``.
        per_sample: Whether ``candidates`` has one set per sample.

    Returns:
        :class:`Inference` over all candidates, sorted by energy (with the energies' graph,
        so it can feed a loss).

    Example:
        >>> from eblearn.energy.base import FunctionEnergy
        >>> energy = FunctionEnergy(lambda y, x: (y - x).pow(2).sum(1), conditional=True)
        >>> result = infer_enumerate(energy, torch.arange(5.0)[:, None], torch.tensor([[2.2]]))
        >>> result.best
        tensor([[2.]])
    """
    energy = as_energy(energy)
    batch = _batch(candidates, x, per_sample, "candidates")
    y = expand_options(candidates, batch, per_sample)
    return sort_by_energy(y, _energies(energy, y, x))
