"""Where the lab's contrastive points ȳ come from: one registered class per ``--sampler``.

Each entry of :data:`LAB_SAMPLERS` turns the generic samplers of :mod:`eblearn.sampling`
(Langevin, HMC, a replay buffer, hard negatives, a generator network) into what the lab needs:
a callable ``(y (B, 2), x (B, 1) or None) -> ȳ (B, 2) or None`` bound to the current energy,
drawing inside the square ``[-bounds, bounds]²`` the toy data lies in. These builders live
beside the lab, not in :mod:`eblearn.sampling`, because they are tied to the lab's 2-D square
and its options; the samplers they compose stay generic.

    langevin   short Langevin chains from uniform noise on the current energy
    hmc        short HMC chains (3 leapfrog steps per step) from uniform noise
    cd         Langevin chains started at the data (contrastive divergence)
    pcd        persistent Langevin chains kept in a replay buffer
    hard       the most offending of uniform candidates farther than a radius from the data
    generator  a generator network trained to produce low-energy points (EBGAN)
    uniform    uniform noise over the square
    none       no contrastive points (the energy loss, score matching)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from eblearn.energy import Energy, mlp
from eblearn.registry import Registry
from eblearn.sampling import (
    GeneratorSampler,
    HMCSampler,
    LangevinSampler,
    ReplayBuffer,
    most_offending,
)

REPLAY_CAPACITY = 8192
"""Chains kept by ``pcd``."""
GENERATOR_NOISE = 4
"""Size of the noise the ``generator`` sampler's network maps to points."""


@dataclass(frozen=True)
class SamplerSettings:
    """The options a lab sampler is built from.

    Attributes:
        bounds: Half side of the square ``[-bounds, bounds]²`` the points are drawn in.
        steps: MCMC steps per draw (``--sampler-steps``).
        step_size: Langevin step η (``--step-size``); HMC's leapfrog step is ``sqrt(2η)``.
        candidates: Uniform candidates of ``hard`` (``--candidates``).
        radius: Distance from the data point below which ``hard`` ignores a candidate.
        lr: Adam learning rate of the ``generator`` network.
        dim_x: Size of the input ``x`` (1 for the horn, else 0).
    """

    bounds: float
    steps: int = 20
    step_size: float = 0.01
    candidates: int = 256
    radius: float = 0.3
    lr: float = 3e-3
    dim_x: int = 0


def uniform_square(n: int, bounds: float, generator: torch.Generator) -> Tensor:
    """``n`` points drawn uniformly in ``[-bounds, bounds]²``, a Tensor of shape ``(n, 2)``."""
    return (2 * torch.rand(n, 2, generator=generator) - 1) * bounds


class Negatives:
    """Base of the lab's samplers: draws ȳ for a batch ``(y, x)`` on the current energy.

    Args:
        settings: The sampler's options.
        energy: The energy being trained (read at every draw, so draws follow training).
        generator: The lab's random generator.
    """

    draws = True
    """False for a sampler that never returns points (losses without contrastive terms)."""

    def __init__(self, settings: SamplerSettings, energy: Energy, generator: torch.Generator):
        self.settings, self.energy, self.generator = settings, energy, generator

    def uniform(self, n: int) -> Tensor:
        """``n`` uniform points in the square."""
        return uniform_square(n, self.settings.bounds, self.generator)

    def langevin(self) -> LangevinSampler:
        """Langevin chains of ``settings.steps`` steps, kept inside the square."""
        bounds = self.settings.bounds
        return LangevinSampler(
            self.settings.step_size, self.settings.steps, bounds=(-bounds, bounds)
        )

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor | None:
        raise NotImplementedError


LAB_SAMPLERS: Registry[type[Negatives]] = Registry("sampler")
"""The lab's ``--sampler`` choices."""


@LAB_SAMPLERS.register("none")
class NoNegatives(Negatives):
    """No contrastive points (the energy loss, score matching)."""

    draws = False

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor | None:
        return None


@LAB_SAMPLERS.register("uniform")
class UniformNegatives(Negatives):
    """Uniform noise over the square."""

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        return self.uniform(len(y))


@LAB_SAMPLERS.register("langevin")
class LangevinNegatives(Negatives):
    """Short Langevin chains from uniform noise on the current energy."""

    def __init__(self, settings: SamplerSettings, energy: Energy, generator: torch.Generator):
        super().__init__(settings, energy, generator)
        self.chain = self.langevin()

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        return self.chain(self.energy, self.uniform(len(y)), x, generator=self.generator)


@LAB_SAMPLERS.register("hmc")
class HMCNegatives(Negatives):
    """Short HMC chains (3 leapfrog steps of sqrt(2η) per step) from uniform noise."""

    def __init__(self, settings: SamplerSettings, energy: Energy, generator: torch.Generator):
        super().__init__(settings, energy, generator)
        step = math.sqrt(2 * settings.step_size)  # one leapfrog step ~ one Langevin step η
        self.chain = HMCSampler(step, n_leapfrog=3, steps=settings.steps)

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        return self.chain(self.energy, self.uniform(len(y)), x, generator=self.generator)


@LAB_SAMPLERS.register("cd")
class CDNegatives(Negatives):
    """Langevin chains started at the data (contrastive divergence)."""

    def __init__(self, settings: SamplerSettings, energy: Energy, generator: torch.Generator):
        super().__init__(settings, energy, generator)
        self.chain = self.langevin()

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        return self.chain(self.energy, y, x, generator=self.generator)


@LAB_SAMPLERS.register("pcd")
class PCDNegatives(Negatives):
    """Persistent Langevin chains kept in a replay buffer (persistent contrastive divergence)."""

    def __init__(self, settings: SamplerSettings, energy: Energy, generator: torch.Generator):
        super().__init__(settings, energy, generator)
        self.chain = self.langevin()
        bounds = settings.bounds
        self.buffer = ReplayBuffer(REPLAY_CAPACITY, (2,), -bounds, bounds)

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        index, states = self.buffer.draw(len(y), self.generator)
        states = self.chain(self.energy, states, x, generator=self.generator)
        self.buffer.push(index, states)
        return states


@LAB_SAMPLERS.register("hard")
class HardNegatives(Negatives):
    """The most offending of uniform candidates farther than the radius from the data point.

    With multimodal answers (the horn) other correct answers are "offending" too, and pushing
    them up fights the data: prefer an MCMC sampler there.
    """

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        candidates = self.uniform(self.settings.candidates)
        chosen = most_offending(self.energy, y, candidates, x, radius=self.settings.radius)
        return chosen[:, 0]


@LAB_SAMPLERS.register("generator")
class GeneratorNegatives(Negatives):
    """A generator network trained to produce low-energy points (EBGAN)."""

    def __init__(self, settings: SamplerSettings, energy: Energy, generator: torch.Generator):
        super().__init__(settings, energy, generator)
        network = mlp([GENERATOR_NOISE + settings.dim_x, 64, 64, 2])
        self.network = GeneratorSampler(network, noise_dim=GENERATOR_NOISE)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=settings.lr)

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor:
        self.optimizer.zero_grad()
        self.network.generator_loss(self.energy, len(y), x).backward()
        self.optimizer.step()
        with torch.no_grad():
            bounds = self.settings.bounds
            return self.network(len(y), x).clamp(-bounds, bounds)
