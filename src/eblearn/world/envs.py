"""Environments: one small interface over gymnasium's control tasks and the project's own.

An :class:`Env` returns observations as float tensors, takes actions as tensors inside its
action box, and hands out its true dynamics and a planning cost, so that planners can run on
the true model or on one learned from its transitions. ``make_env(name)`` builds one by name
from :data:`eblearn.world.tasks.TASKS` (each environment is a task there, with its settings):

    pendulum      gymnasium Pendulum-v1 (200 steps, return ≈ -125 to -150 when solved)
    mountaincar   gymnasium MountainCarContinuous-v0 (999 steps, +100 at the flag)
    two-rooms     eblearn's two-rooms navigation, states or pixels (see two_rooms.py)
    two-rooms-random-door
                  two rooms with one of two doors open at random (see random_door.py)

gymnasium is an optional extra (``pip install 'eblearn[world]'``), imported only when a
gymnasium environment is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from eblearn._validate import check_finite
from eblearn.world._gym import require_gymnasium
from eblearn.world.costs import Cost, MountainCarCost, PendulumCost
from eblearn.world.dynamics import Dynamics, MountainCarDynamics, PendulumDynamics


@dataclass
class Step:
    """What :meth:`Env.step` returns.

    Attributes:
        observation: The next observation (a state ``(S,)`` or an image ``(C, H, W)``).
        reward: The reward of the step.
        terminated: The task ended (goal reached).
        truncated: The time limit was hit.
        info: Extra values (``success`` for goal tasks).
    """

    observation: Tensor
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)


class Env:
    """An environment with a continuous action box.

    Attributes:
        name: Registry name.
        state_dim: Size S of the low-dimensional state (what :attr:`state` returns).
        action_dim: Size A of an action.
        action_low: Lower bounds of the action box, shape ``(A,)``.
        action_high: Upper bounds, shape ``(A,)``.
        max_steps: Steps before truncation.
    """

    name: str
    state_dim: int
    action_dim: int
    action_low: Tensor
    action_high: Tensor
    max_steps: int

    def reset(self, seed: int | None = None) -> Tensor:
        """Starts an episode (deterministically for a given ``seed``); returns the observation."""
        raise NotImplementedError

    def step(self, action: Tensor) -> Step:
        """Applies ``action`` (shape ``(A,)``, inside the box) for one step."""
        raise NotImplementedError

    @property
    def state(self) -> Tensor:
        """The current low-dimensional state ``(S,)`` (for plots and model-error reports)."""
        raise NotImplementedError

    def dynamics(self) -> Dynamics:
        """The true dynamics on :attr:`state`, as a differentiable torch module."""
        raise NotImplementedError

    def cost(self) -> Cost:
        """The cost a planner minimizes on :attr:`state`."""
        raise NotImplementedError

    def check_action(self, action: Tensor) -> Tensor:
        """Returns ``action`` as float32 ``(A,)``; ``ValueError`` if malformed or out of bounds."""
        action = torch.as_tensor(action, dtype=torch.float32).reshape(-1)
        if action.shape != (self.action_dim,):
            raise ValueError(
                f"{self.name} takes actions of shape ({self.action_dim},), "
                f"got {tuple(action.shape)}"
            )
        check_finite(action, f"{self.name} action")
        tolerance = 1e-5
        if bool((action < self.action_low - tolerance).any()) or bool(
            (action > self.action_high + tolerance).any()
        ):
            raise ValueError(
                f"{self.name} action {action.tolist()} is outside the action box "
                f"[{self.action_low.tolist()}, {self.action_high.tolist()}]"
            )
        return action


class GymEnv(Env):
    """A gymnasium environment with a 1-D observation and a ``Box`` action space.

    Args:
        env_id: Gymnasium id (``"Pendulum-v1"``).
        name: Name in :data:`~eblearn.world.tasks.TASKS`.
        true_dynamics: Its dynamics written in torch, on the observation.
        planning_cost: The cost planners minimize.

    Raises:
        ImportError: If gymnasium is missing (``pip install 'eblearn[world]'``).
    """

    def __init__(
        self, env_id: str, name: str, true_dynamics: Dynamics, planning_cost: Cost
    ) -> None:
        gymnasium = require_gymnasium()
        self._env = gymnasium.make(env_id)
        self.name = name
        self._dynamics, self._cost = true_dynamics, planning_cost
        box = self._env.action_space
        self.action_low = torch.as_tensor(box.low, dtype=torch.float32)
        self.action_high = torch.as_tensor(box.high, dtype=torch.float32)
        self.action_dim = int(box.shape[0])
        self.state_dim = int(self._env.observation_space.shape[0])
        self.max_steps = int(self._env.spec.max_episode_steps)
        self._observation: Tensor | None = None

    def reset(self, seed: int | None = None) -> Tensor:
        observation, _ = self._env.reset(seed=seed)
        self._observation = torch.as_tensor(observation, dtype=torch.float32)
        return self._observation.clone()

    def step(self, action: Tensor) -> Step:
        if self._observation is None:
            raise ValueError(f"{self.name}: call reset() before step()")
        action = self.check_action(action)
        observation, reward, terminated, truncated, info = self._env.step(action.numpy())
        self._observation = torch.as_tensor(observation, dtype=torch.float32)
        return Step(self._observation.clone(), float(reward), terminated, truncated, dict(info))

    @property
    def state(self) -> Tensor:
        if self._observation is None:
            raise ValueError(f"{self.name}: call reset() first")
        return self._observation.clone()

    def dynamics(self) -> Dynamics:
        return self._dynamics

    def cost(self) -> Cost:
        return self._cost


def make_pendulum() -> GymEnv:
    """Gymnasium Pendulum-v1: swing up and balance, observation (cos θ, sin θ, θ̇), torque ±2."""
    return GymEnv("Pendulum-v1", "pendulum", PendulumDynamics(), PendulumCost())


def make_mountain_car() -> GymEnv:
    """Gymnasium MountainCarContinuous-v0: rock the car up to the flag, observation (x, v)."""
    return GymEnv(
        "MountainCarContinuous-v0", "mountaincar", MountainCarDynamics(), MountainCarCost()
    )


def make_env(name: str, **options: Any) -> Env:
    """Builds the environment called ``name`` (see :data:`~eblearn.world.tasks.TASKS`).

    Raises:
        ValueError: If the name is unknown (the message lists the valid names).
        ImportError: If a gymnasium environment is asked for and gymnasium is missing.

    Example:
        >>> env = make_env("two-rooms")
        >>> env.reset(seed=0).shape
        torch.Size([2])
    """
    from eblearn.world.tasks import TASKS  # the tasks module builds on this one

    return TASKS.get(name).factory(**options)
