"""Gibbs sampling of binary vectors: each unit redrawn from its conditional, one at a time.

For any energy ``F(x, y)`` of ``y ∈ {0, 1}^n`` the conditional of unit ``i`` given the others
is a logistic of the energy difference of its two values [0]:

``p(y_i = 1 | y_-i) = σ(β (F(y with y_i = 0) - F(y with y_i = 1)))``.

One sweep visits ``i = 1..n`` in order (systematic scan), two energy calls per unit. This is
the chain of contrastive divergence and persistent CD on Boltzmann machines
(:class:`~eblearn.sampling.ContrastiveDivergence`,
:class:`~eblearn.sampling.PersistentContrastiveDivergence`); for an RBM it runs on the free
energy of the visible units, with the hidden units summed out. :class:`BlockGibbsSampler` is
the RBM's own chain [1]: all hidden units given the visible ones, then all visible units given
the hidden ones, ``h ~ σ(c + vW)``, ``v ~ σ(b + Whᵀ)``.

[1] Hinton, Training Products of Experts by Minimizing Contrastive Divergence, 2002.

[0] Geman, Geman, Stochastic Relaxation, Gibbs Distributions, and the Bayesian Restoration
    of Images, IEEE PAMI 1984.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from eblearn.energy.base import EnergyFn, check_energy_output
from eblearn.energy.boltzmann import RBM
from eblearn.sampling.base import Chain, Recorder, Sampler, check_steps


class BinaryGibbsSampler(Sampler):
    """Systematic-scan Gibbs sampler over ``{0, 1}^n``; one step is one sweep over the units.

    Starting states outside ``{0, 1}`` (the uniform noise of a
    :class:`~eblearn.sampling.ReplayBuffer` with ``low=0, high=1``) are first drawn as
    Bernoulli variables with those probabilities, clipped to ``[0, 1]``.

    Args:
        steps: Default number of sweeps per call.
        beta: Inverse temperature ``β > 0``.

    Example:
        >>> from eblearn.energy import BoltzmannMachine
        >>> machine = BoltzmannMachine(3, bias=torch.tensor([9.0, -9.0, 9.0]))
        >>> sampler = BinaryGibbsSampler(steps=2)
        >>> sampler(machine, torch.zeros(2, 3), generator=torch.Generator().manual_seed(0))
        tensor([[1., 0., 1.],
                [1., 0., 1.]])
    """

    def __init__(self, steps: int = 1, beta: float = 1.0) -> None:
        self.steps = check_steps(steps)
        if not (beta > 0 and math.isfinite(beta)):
            raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
        self.beta = beta

    def _run(
        self,
        energy: EnergyFn,
        y: Tensor,
        x: Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        recorder: Recorder,
    ) -> Chain:
        if y.ndim != 2:
            raise ValueError(f"binary states must have shape (B, n), got {tuple(y.shape)}")
        probs = y.clamp(0, 1)
        y = torch.bernoulli(probs, generator=generator)
        batch, n = y.shape
        pair_x = None if x is None else torch.cat([x, x])
        if recorder.active:
            recorder.add(y, energy(y, x))
        for _ in range(steps):
            for i in range(n):
                pair = torch.cat([y, y])
                pair[:batch, i] = 0
                pair[batch:, i] = 1
                values = energy(pair, pair_x)
                check_energy_output(values, 2 * batch, energy)
                p_one = torch.sigmoid(self.beta * (values[:batch] - values[batch:]))
                u = torch.rand(batch, generator=generator, dtype=y.dtype, device=y.device)
                y[:, i] = (u < p_one).to(y.dtype)
            if recorder.active:
                recorder.add(y, energy(y, x))
        return recorder.chain(y)


class BlockGibbsSampler(Sampler):
    """Alternating (block) Gibbs sampling of an :class:`~eblearn.energy.RBM`: one step draws
    ``h ~ p(h | v)`` then ``v ~ p(v | h)``; the visible states are returned.

    Starting states are made binary as in :class:`BinaryGibbsSampler`.

    Args:
        steps: Default number of ``v → h → v`` steps per call.

    Raises:
        ValueError: If the energy is not an ``RBM`` (only it has the two conditionals).

    Example:
        >>> from eblearn.energy import RBM
        >>> rbm = RBM(4, 3, generator=torch.Generator().manual_seed(0))
        >>> BlockGibbsSampler(steps=2)(rbm, torch.zeros(5, 4)).shape
        torch.Size([5, 4])
    """

    def __init__(self, steps: int = 1) -> None:
        self.steps = check_steps(steps)

    def _run(
        self,
        energy: EnergyFn,
        y: Tensor,
        x: Tensor | None,
        steps: int,
        generator: torch.Generator | None,
        recorder: Recorder,
    ) -> Chain:
        if not isinstance(energy, RBM):
            raise ValueError(
                f"BlockGibbsSampler needs an RBM (it samples h given v and v given h), got "
                f"{type(energy).__name__}; use BinaryGibbsSampler for other binary energies"
            )
        v = torch.bernoulli(y.clamp(0, 1), generator=generator)
        if recorder.active:
            recorder.add(v, energy(v, x))
        for _ in range(steps):
            h = torch.bernoulli(energy.hidden_probs(v), generator=generator)
            v = torch.bernoulli(energy.visible_probs(h), generator=generator)
            if recorder.active:
                recorder.add(v, energy(v, x))
        return recorder.chain(v)
