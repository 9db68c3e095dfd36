"""Hamiltonian Monte Carlo: leapfrog trajectories with a Metropolis-Hastings correction.

With potential ``U(y) = β F(x, y)`` and momentum ``p ~ N(0, m I)``, each step integrates
``H(y, p) = U(y) + ||p||² / (2m)`` for ``L`` leapfrog steps of size ``ε`` and accepts the end
point with probability ``min(1, exp(H_start - H_end))``. ``p_β ∝ exp(-β F)`` is exactly
stationary. Every leapfrog step costs one forward-backward pass (the gradient at the end of
a step is reused by the next, and the energy comes with it), so a step costs ``L`` passes.

[0] Duane, Kennedy, Pendleton, Roweth, Hybrid Monte Carlo, Physics Letters B 1987.
[1] Neal, MCMC using Hamiltonian dynamics, Handbook of MCMC, 2011,
    https://arxiv.org/abs/1206.1901
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


def _kinetic(p: Tensor, mass: float) -> Tensor:
    return p.flatten(1).pow(2).sum(dim=1) / (2 * mass)


class HMCSampler(Sampler):
    """Hamiltonian Monte Carlo with a scalar mass and Metropolis-Hastings acceptance.

    Args:
        step_size: Leapfrog step ``ε > 0``.
        n_leapfrog: Leapfrog steps ``L`` per proposal.
        steps: Default number of proposals per call.
        beta: Inverse temperature ``β`` of the target ``exp(-β F)``.
        mass: Scalar mass ``m > 0``.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> sampler = HMCSampler(step_size=0.3, n_leapfrog=5, steps=50)
        >>> chain = sampler.trace(QuadraticEnergy(torch.zeros(2)), torch.zeros(1000, 2))
        >>> chain.states.shape, bool(chain.acceptance_rate.mean() > 0.8)
        (torch.Size([51, 1000, 2]), True)
    """

    def __init__(
        self,
        step_size: float = 0.1,
        n_leapfrog: int = 10,
        steps: int = 100,
        beta: float = 1.0,
        mass: float = 1.0,
    ) -> None:
        check_positive(step_size, "step_size")
        check_positive(beta, "beta")
        check_positive(mass, "mass")
        if not isinstance(n_leapfrog, int) or n_leapfrog < 1:
            raise ValueError(f"n_leapfrog must be an integer >= 1, got {n_leapfrog!r}")
        self.step_size = step_size
        self.n_leapfrog = n_leapfrog
        self.steps = check_steps(steps)
        self.beta = beta
        self.mass = mass

    def _potential(self, energy: EnergyFn, y: Tensor, x: Tensor | None) -> tuple[Tensor, Tensor]:
        values, grad = energy_and_grad(energy, y, x)
        return self.beta * values, self.beta * grad

    def _run(
        self,
        energy: EnergyFn,
        y: Tensor,
        x: Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        recorder: Recorder,
    ) -> Chain:
        eps, mass = self.step_size, self.mass
        potential, grad = self._potential(energy, y, x)
        recorder.add(y, potential / self.beta)
        accepted = torch.zeros(y.shape[0], device=y.device)
        view = (-1, *([1] * (y.ndim - 1)))
        for _ in range(steps):
            p = math.sqrt(mass) * gaussian_like(y, generator)
            start = potential + _kinetic(p, mass)
            q, q_potential, q_grad = y, potential, grad
            p = p - 0.5 * eps * q_grad
            for leap in range(self.n_leapfrog):
                q = q + eps * p / mass
                q_potential, q_grad = self._potential(energy, q, x)
                p = p - (0.5 if leap == self.n_leapfrog - 1 else 1.0) * eps * q_grad
            end = q_potential + _kinetic(p, mass)
            accept = torch.log(uniform_like(y, generator)) < start - end  # NaN → rejected
            y = torch.where(accept.view(view), q, y)
            grad = torch.where(accept.view(view), q_grad, grad)
            potential = torch.where(accept, q_potential, potential)
            accepted += accept.to(accepted.dtype)
            recorder.add(y, potential / self.beta)
        return recorder.chain(y, accepted / max(steps, 1))
