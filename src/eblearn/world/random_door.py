"""Two rooms whose door opens at random: a stochastic world for latent-variable forward models.

The arena and the motion rule are :mod:`eblearn.world.two_rooms`'s, but the wall has two door
places, a lower one ``y ∈ [0.15, 0.35]`` and an upper one ``y ∈ [0.65, 0.85]``, and only one
of them is open in an episode: the upper one with probability ``p``, drawn at every reset. The
agent observes its position only, so which door is open shows only when it happens: an agent at
the wall's face, stepping into a door place, either passes or stops at the face. From
``(s, a)`` alone the next state then has two outcomes, and a deterministic forward model
trained on such transitions predicts their mean under the data: a point between them that never
happens, or, where one dominates, that one always (``benchmarks/bench_random_door.py``).

As a latent-variable model (the energy view of :class:`~eblearn.world.dynamics.Dynamics`), the
door is a latent variable ``z`` with the prior ``N(0, 1)``: the upper door is open where
``z > Φ⁻¹(1 - p)``, which has probability ``p``, so :meth:`RandomDoorDynamics.sample_latent`
draws the doors with their true frequencies and ``z = 0`` (the prior's mode) opens the more
probable door (the lower one on a tie).
"""

from __future__ import annotations

from statistics import NormalDist

import torch
from torch import Tensor

from eblearn.world.dynamics import Dynamics, check_state_action
from eblearn.world.two_rooms import TwoRooms, TwoRoomsDynamics

DOORS = {"lower": (0.15, 0.35), "upper": (0.65, 0.85)}
"""The two door places ``(door_low, door_high)``; one of them is open per episode."""


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(
            f"p (the probability that the upper door is open) must be in [0, 1], got {p}"
        )


class RandomDoorDynamics(Dynamics):
    """Two-rooms motion with the open door chosen by a latent ``z (..., 1)`` (module docstring).

    ``G(s, a, z) = G_upper(s, a)`` where ``z > Φ⁻¹(1 - p)``, else ``G_lower(s, a)``, with
    ``G_door`` the :class:`~eblearn.world.two_rooms.TwoRoomsDynamics` of that door.

    Args:
        p: Probability that the upper door is open.
        max_step: Largest displacement per step along each axis.

    Example:
        >>> model = RandomDoorDynamics(p=0.5)
        >>> s, a = torch.tensor([0.45, 0.75]), torch.tensor([0.1, 0.0])
        >>> model(s, a, torch.tensor([1.0])), model(s, a, torch.tensor([-1.0]))
        (tensor([0.5500, 0.7500]), tensor([0.4800, 0.7500]))
    """

    state_dim, action_dim, latent_dim = 2, 2, 1

    def __init__(self, p: float = 0.5, max_step: float = 0.1) -> None:
        super().__init__()
        _check_probability(p)
        self.p = p
        (low, high), (upper_low, upper_high) = DOORS["lower"], DOORS["upper"]
        self.lower = TwoRoomsDynamics(door_low=low, door_high=high, max_step=max_step)
        self.upper = TwoRoomsDynamics(door_low=upper_low, door_high=upper_high, max_step=max_step)

    def door(self, name: str) -> TwoRoomsDynamics:
        """The deterministic dynamics with door ``name`` (``"lower"`` or ``"upper"``) open."""
        if name not in DOORS:
            raise ValueError(f"unknown door {name!r}; valid choices: {', '.join(DOORS)}")
        return self.upper if name == "upper" else self.lower

    @property
    def threshold(self) -> float:
        """``Φ⁻¹(1 - p)``: the upper door is open above it (``±inf`` for ``p`` = 0 or 1)."""
        if self.p in (0.0, 1.0):
            return float("inf") if self.p == 0.0 else float("-inf")
        return NormalDist().inv_cdf(1.0 - self.p)

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        check_state_action(self, state, action)
        lower, upper = self.door("lower")(state, action), self.door("upper")(state, action)
        if z is None:
            z = state.new_zeros((*state.shape[:-1], 1))
        return torch.where(z > self.threshold, upper, lower)

    def outcomes(self, state: Tensor, action: Tensor) -> Tensor:
        """Both possible next states, lower door then upper door: ``(..., 2, S)``."""
        check_state_action(self, state, action)
        return torch.stack(
            (self.door("lower")(state, action), self.door("upper")(state, action)), -2
        )


class RandomDoorRooms(TwoRooms):
    """Two-rooms navigation with one of two doors open at random (module docstring).

    At every reset the upper door opens with probability ``p`` (from the reset's ``seed`` when
    given, else from torch's global generator); the observation is the position ``(2,)`` only.
    :attr:`open_door` names the door of the episode, for tests and reports; a planner on
    :meth:`dynamics` sees both doors through ``z``.

    Args:
        p: Probability that the upper door is open.
        max_steps: Steps per episode.
        success_radius: Distance to the goal that counts as reached.
        max_step: Largest displacement per step along each axis.

    Example:
        >>> env = RandomDoorRooms(p=1.0)
        >>> env.reset(start=torch.tensor([0.45, 0.75]), goal=torch.tensor([0.8, 0.5]))
        tensor([0.4500, 0.7500])
        >>> env.open_door, env.step(torch.tensor([0.1, 0.0])).observation
        ('upper', tensor([0.5500, 0.7500]))
    """

    name = "two-rooms-random-door"

    def __init__(
        self,
        p: float = 0.5,
        max_steps: int = 50,
        success_radius: float = 0.1,
        max_step: float = 0.1,
    ) -> None:
        super().__init__(
            pixels=0, max_steps=max_steps, success_radius=success_radius, max_step=max_step
        )
        self._model = RandomDoorDynamics(p=p, max_step=max_step)
        self.p = p
        self.open_door = "lower"

    def reset(
        self, seed: int | None = None, start: Tensor | None = None, goal: Tensor | None = None
    ) -> Tensor:
        """Draws the open door, then starts the episode as :meth:`TwoRooms.reset` does."""
        if seed is None:
            u = float(torch.rand(()))
        else:
            # A stream of its own: the door does not repeat the draw of the start and goal.
            u = float(torch.rand((), generator=torch.Generator().manual_seed(seed + 7919)))
        self.open_door = "upper" if u < self.p else "lower"
        self._dynamics = self._model.door(self.open_door)
        return super().reset(seed=seed, start=start, goal=goal)

    def dynamics(self) -> RandomDoorDynamics:  # type: ignore[override]
        return self._model


def make_random_door_rooms(
    p: float = 0.5, max_steps: int = 50, success_radius: float = 0.1, max_step: float = 0.1
) -> RandomDoorRooms:
    """Two rooms whose one open door (lower or upper) is drawn per episode; observed as states."""
    return RandomDoorRooms(p, max_steps, success_radius, max_step)
