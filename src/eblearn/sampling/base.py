"""The sampler interface: move a batch of answers toward low energy, with noise.

A :class:`Sampler` draws (approximately) from the Gibbs distribution
``p_β(y | x) ∝ exp(-β F(x, y))`` by a Markov chain started at ``y0``. ``sampler(energy, y0)``
returns the final states (detached, no gradient reaches the energy's parameters);
``sampler.trace(energy, y0)`` also returns every state, its energy and the acceptance rate,
for figures and diagnostics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from eblearn.energy.base import EnergyFn, check_answers
from eblearn.energy.protocol import EnergyLike, as_energy


@dataclass
class Chain:
    """What a sampler run produced.

    Attributes:
        final: The last states, shape ``(B, ...)``.
        states: Every state from ``y0`` on, shape ``(T + 1, B, ...)`` (``trace`` only).
        energies: ``F(x, y_t)`` of every state, shape ``(T + 1, B)`` (``trace`` only).
        acceptance_rate: Fraction of accepted proposals per chain, shape ``(B,)``, for
            Metropolis-corrected samplers; ``None`` otherwise.
    """

    final: Tensor
    states: Tensor | None = None
    energies: Tensor | None = None
    acceptance_rate: Tensor | None = None


class Recorder:
    """Collects states and energies when tracing (a no-op otherwise)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.states: list[Tensor] = []
        self.energies: list[Tensor] = []

    def add(self, state: Tensor, energy: Tensor) -> None:
        if self.active:
            self.states.append(state.detach().clone())
            self.energies.append(energy.detach().clone())

    def chain(self, final: Tensor, acceptance_rate: Tensor | None = None) -> Chain:
        if not self.active:
            return Chain(final, acceptance_rate=acceptance_rate)
        return Chain(final, torch.stack(self.states), torch.stack(self.energies), acceptance_rate)


def check_steps(steps: int) -> int:
    """Raises ``ValueError`` unless ``steps >= 0``."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    return steps


class Sampler(ABC):
    """Base of the MCMC samplers.

    Attributes:
        steps: Default number of steps per call.
    """

    steps: int

    def __call__(
        self,
        energy: EnergyLike,
        y0: Tensor,
        x: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Runs the chains from ``y0`` and returns the final states ``(B, ...)``, detached.

        Args:
            energy: The energy ``F(x, y)`` to sample ``exp(-β F)`` from: an
                :class:`~eblearn.energy.Energy`, any object with ``energy(y, x=None)``
                (:class:`~eblearn.energy.HasEnergy`: a latent model, a method, a world model)
                or a function ``(y, x) -> (B,)``.
            y0: Starting states, shape ``(B, ...)``.
            x: Observations ``(B, ...)`` or ``None``.
            steps: Number of steps (default: the sampler's ``steps``).
            generator: Random generator on ``y0``'s device, for reproducible chains.
        """
        return self.trace(energy, y0, x, steps=steps, generator=generator, record=False).final

    def trace(
        self,
        energy: EnergyLike,
        y0: Tensor,
        x: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        record: bool = True,
    ) -> Chain:
        """Runs the chains and returns a :class:`Chain` with every state (if ``record``)."""
        energy = as_energy(energy)
        check_answers(y0, x, "y0")
        steps = check_steps(self.steps if steps is None else steps)
        with torch.no_grad():
            return self._run(energy, y0.detach().clone(), x, steps, generator, Recorder(record))

    @abstractmethod
    def _run(
        self,
        energy: EnergyFn,
        y: Tensor,
        x: Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        recorder: Recorder,
    ) -> Chain:
        """The chain itself."""


def gaussian_like(y: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise with ``y``'s shape, dtype and device."""
    return torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)


def uniform_like(y: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform ``[0, 1)`` noise with ``y``'s batch size, dtype and device, shape ``(B,)``."""
    return torch.rand(y.shape[0], generator=generator, dtype=y.dtype, device=y.device)
