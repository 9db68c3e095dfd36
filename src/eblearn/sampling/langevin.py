"""Langevin dynamics: gradient descent on the energy plus Gaussian noise.

Unadjusted (ULA): ``y ← y - η β ∇_y F(x, y) + √(2η) ε``, ``ε ~ N(0, I)``, whose stationary
distribution tends to ``p_β ∝ exp(-β F)`` as ``η → 0`` (the bias is ``O(η)``). With
``metropolis=True`` each step is a proposal accepted with the Metropolis-Hastings
probability (MALA), which makes ``p_β`` exactly stationary.

[0] Roberts, Tweedie, Exponential convergence of Langevin distributions and their discrete
    approximations, Bernoulli 1996.
[1] Du, Mordatch, Implicit Generation and Generalization in Energy-Based Models, 2019,
    https://arxiv.org/abs/1903.08689 (Langevin negatives for EBM training, with a noise
    scale decoupled from the step).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eblearn._validate import check_positive
from eblearn.energy.base import EnergyFn, energy_and_grad
from eblearn.sampling.base import (
    Chain,
    Recorder,
    Sampler,
    check_steps,
    gaussian_like,
    uniform_like,
)

Bound = float | Tensor | None


def _per_sample_sq_norm(t: Tensor) -> Tensor:
    return t.flatten(1).pow(2).sum(dim=1)


class LangevinSampler(Sampler):
    """Langevin dynamics (ULA), or Metropolis-adjusted Langevin (MALA).

    ``y ← y - η β ∇_y F(x, y) + σ ε`` with ``σ = √(2η)`` unless ``noise_scale`` is given.

    Args:
        step_size: ``η > 0``.
        steps: Default number of steps per call.
        beta: Inverse temperature ``β`` of the target ``exp(-β F)``.
        noise_scale: ``σ``; ``None`` for ``√(2η)`` (the exact Langevin scale). A smaller
            value (as in EBM training practice [1]) samples a colder distribution.
        metropolis: Accept or reject each step (MALA); needs the default noise scale.
        bounds: ``(low, high)`` box to clamp the states to after each step (ULA only).

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> sampler = LangevinSampler(step_size=0.05, steps=200)
        >>> samples = sampler(QuadraticEnergy(torch.ones(2)), torch.zeros(2000, 2))
        >>> bool((samples.mean(0) - 1).abs().max() < 0.15)
        True
    """

    def __init__(
        self,
        step_size: float = 0.01,
        steps: int = 100,
        beta: float = 1.0,
        noise_scale: float | None = None,
        metropolis: bool = False,
        bounds: tuple[Bound, Bound] | None = None,
    ) -> None:
        check_positive(step_size, "step_size")
        check_positive(beta, "beta")
        if noise_scale is not None and noise_scale < 0:
            raise ValueError(f"noise_scale must be >= 0, got {noise_scale}")
        if metropolis and (noise_scale is not None or bounds is not None):
            raise ValueError("metropolis=True needs the default noise_scale and no bounds")
        self.step_size = step_size
        self.steps = check_steps(steps)
        self.beta = beta
        self.noise_scale = noise_scale
        self.metropolis = metropolis
        self.bounds = bounds

    def _clamp(self, y: Tensor) -> Tensor:
        if self.bounds is None:
            return y
        low, high = (
            None if b is None else torch.as_tensor(b, dtype=y.dtype, device=y.device)
            for b in self.bounds
        )
        return torch.clamp(y, low, high)

    def _run(
        self,
        energy: EnergyFn,
        y: Tensor,
        x: Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        recorder: Recorder,
    ) -> Chain:
        eta, beta = self.step_size, self.beta
        sigma = math.sqrt(2 * eta) if self.noise_scale is None else self.noise_scale
        y = self._clamp(y)
        values, grad = energy_and_grad(energy, y, x)
        recorder.add(y, values)
        accepted = torch.zeros(y.shape[0], device=y.device)
        for step in range(steps):
            proposal = y - eta * beta * grad + sigma * gaussian_like(y, generator)
            if not self.metropolis:
                y = self._clamp(proposal)
                if step < steps - 1 or recorder.active:
                    values, grad = energy_and_grad(energy, y, x)
                recorder.add(y, values)
                continue
            new_values, new_grad = energy_and_grad(energy, proposal, x)
            # log q(y | y') - log q(y' | y) for the Gaussian proposals of MALA
            forward = _per_sample_sq_norm(proposal - y + eta * beta * grad)
            backward = _per_sample_sq_norm(y - proposal + eta * beta * new_grad)
            log_ratio = -beta * (new_values - values) + (forward - backward) / (4 * eta)
            accept = torch.log(uniform_like(y, generator)) < log_ratio  # NaN → rejected
            mask = accept.view(-1, *([1] * (y.ndim - 1)))
            y = torch.where(mask, proposal, y)
            grad = torch.where(mask, new_grad, grad)
            values = torch.where(accept, new_values, values)
            accepted += accept.to(accepted.dtype)
            recorder.add(y, values)
        rate = accepted / max(steps, 1) if self.metropolis else None
        return recorder.chain(y, rate)
