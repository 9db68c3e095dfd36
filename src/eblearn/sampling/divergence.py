"""Contrastive divergence: short chains started at the data, or persistent chains in a buffer.

* CD-k: ``ȳ = k`` sampler steps from the data ``y`` itself [0]; cheap, and the negatives sit
  where the energy is wrong near the data.
* Persistent CD: the chains continue from one training step to the next, kept in a
  :class:`ReplayBuffer`; a small fraction restarts from noise each time [1, 2].

[0] Hinton, Training Products of Experts by Minimizing Contrastive Divergence, 2002.
[1] Tieleman, Training Restricted Boltzmann Machines using Approximations to the Likelihood
    Gradient, ICML 2008.
[2] Du, Mordatch, Implicit Generation and Generalization in Energy-Based Models, 2019,
    https://arxiv.org/abs/1903.08689
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eblearn.energy.protocol import EnergyLike
from eblearn.sampling.base import Sampler, check_steps


class ContrastiveDivergence:
    """CD-k: contrastive samples from ``k`` sampler steps started at the data.

    Args:
        sampler: The Markov chain (:class:`~eblearn.sampling.LangevinSampler`, ...).
        k: Steps from the data.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> from eblearn.sampling import LangevinSampler
        >>> cd = ContrastiveDivergence(LangevinSampler(step_size=0.01), k=5)
        >>> cd(QuadraticEnergy(torch.zeros(2)), torch.randn(8, 2)).shape
        torch.Size([8, 2])
    """

    def __init__(self, sampler: Sampler, k: int = 1) -> None:
        self.sampler = sampler
        self.k = check_steps(k)

    def __call__(
        self,
        energy: EnergyLike,
        data: Tensor,
        x: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Negatives ``(B, ...)``, detached, from ``k`` steps started at ``data (B, ...)``."""
        return self.sampler(energy, data, x, steps=self.k, generator=generator)


class ReplayBuffer(nn.Module):
    """A fixed-size store of chain states for persistent contrastive divergence.

    Slots never written and a fraction ``reinit_prob`` of the drawn slots start from uniform
    noise in ``[low, high]``. The states are buffers, so checkpoints save them.

    Args:
        capacity: Number of stored states.
        sample_shape: Shape of one state (``(D,)`` for vectors).
        low: Lower bound of the noise.
        high: Upper bound of the noise.
        reinit_prob: Probability that a drawn chain restarts from noise.

    Example:
        >>> buffer = ReplayBuffer(100, (2,))
        >>> index, states = buffer.draw(8)  # random slots; unfilled ones start from noise
        >>> states.shape
        torch.Size([8, 2])
        >>> buffer.push(torch.arange(8), states)
        >>> int(buffer.filled.sum())
        8
    """

    states: Tensor
    filled: Tensor

    def __init__(
        self,
        capacity: int,
        sample_shape: Sequence[int],
        low: float = -1.0,
        high: float = 1.0,
        reinit_prob: float = 0.05,
    ) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if not low < high:
            raise ValueError(f"need low < high, got {low} and {high}")
        if not 0 <= reinit_prob <= 1:
            raise ValueError(f"reinit_prob must lie in [0, 1], got {reinit_prob}")
        self.low, self.high, self.reinit_prob = low, high, reinit_prob
        self.register_buffer("states", torch.zeros(capacity, *sample_shape))
        self.register_buffer("filled", torch.zeros(capacity, dtype=torch.bool))

    @property
    def capacity(self) -> int:
        """Number of stored states."""
        return int(self.states.shape[0])

    def draw(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` slots at random and their states (noise where unfilled or restarted).

        Returns:
            ``(index (n,), states (n, ...))``.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        device = self.states.device
        index = torch.randint(self.capacity, (n,), generator=generator, device=device)
        states = self.states[index].clone()
        noise = torch.rand(states.shape, generator=generator, device=device)
        restart = torch.rand(n, generator=generator, device=device) < self.reinit_prob
        restart |= ~self.filled[index]
        noise = self.low + (self.high - self.low) * noise
        states[restart] = noise[restart].to(states.dtype)
        return index, states

    def push(self, index: Tensor, states: Tensor) -> None:
        """Stores ``states (n, ...)`` in the slots ``index (n,)``."""
        if states.shape[1:] != self.states.shape[1:] or index.shape != (states.shape[0],):
            raise ValueError(
                f"expected index (n,) and states (n, {', '.join(map(str, self.states.shape[1:]))})"
                f", got {tuple(index.shape)} and {tuple(states.shape)}"
            )
        self.states[index] = states.detach().to(self.states.dtype)
        self.filled[index] = True


class PersistentContrastiveDivergence:
    """Persistent CD: draw chains from a replay buffer, run ``k`` steps, store them back.

    Args:
        sampler: The Markov chain.
        buffer: The :class:`ReplayBuffer` holding the chains.
        k: Steps per call.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> from eblearn.sampling import LangevinSampler
        >>> pcd = PersistentContrastiveDivergence(LangevinSampler(), ReplayBuffer(64, (2,)), k=5)
        >>> pcd(QuadraticEnergy(torch.zeros(2)), 16).shape
        torch.Size([16, 2])
    """

    def __init__(self, sampler: Sampler, buffer: ReplayBuffer, k: int = 20) -> None:
        self.sampler = sampler
        self.buffer = buffer
        self.k = check_steps(k)

    def __call__(
        self,
        energy: EnergyLike,
        n: int,
        x: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` negatives ``(n, ...)``, detached (``n = len(x)`` for conditional energies)."""
        if x is not None and x.shape[0] != n:
            raise ValueError(f"x must hold n={n} observations, got {x.shape[0]}")
        index, states = self.buffer.draw(n, generator)
        states = self.sampler(energy, states, x, steps=self.k, generator=generator)
        self.buffer.push(index, states)
        return states
