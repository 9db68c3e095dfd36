"""Running controllers (planners, policies) in environments: returns, timings, planned paths.

A controller has ``act(observations (B, ...)) -> actions (B, A)`` and ``reset()``; it may have
``set_goal(goal_observations)`` (goal tasks) and ``last_plan_`` (a
:class:`~eblearn.world.planner.Plan`, whose predicted states are recorded every
``record_every`` steps so that planned and executed trajectories can be drawn side by side).
:func:`run_episodes` steps ``B`` environments together, one batched ``act`` per step, which is
how the benchmarks evaluate 20 or 50 fixed starts in one pass; the time of each ``act`` call is
recorded (run with one environment for a per-step latency).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from eblearn.world.envs import Env
from eblearn.world.planner import Planner


class Controller(Protocol):
    """What :func:`run_episodes` drives."""

    def reset(self) -> Any: ...

    def act(self, observations: Tensor) -> Tensor: ...


@dataclass
class Episode:
    """One episode.

    Attributes:
        states: Low-dimensional states visited, ``(T + 1, S)``.
        actions: Actions taken, ``(T, A)``.
        rewards: Rewards, ``(T,)``.
        plans: ``(step, predicted states (H + 1, S'))`` pairs recorded along the way.
        seconds: Wall-clock time of each batched ``act`` call the episode took part in.
        success: Whether a goal task ended at its goal (``None`` for other tasks).
    """

    states: Tensor
    actions: Tensor
    rewards: Tensor
    plans: list[tuple[int, Tensor]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    success: bool | None = None

    @property
    def total_reward(self) -> float:
        """The return ``Σ_t r[t]``."""
        return float(self.rewards.sum())

    @property
    def ms_per_step(self) -> float:
        """Median milliseconds per ``act`` call."""
        return 1000 * float(torch.tensor(self.seconds).median()) if self.seconds else 0.0


class PlannerController:
    """Plans in a state space reached through an optional encoder (pixels → embedding).

    ``act(obs) = planner.act(encoder(obs))`` and ``set_goal(goal_obs)`` sets the planner's
    cost goal to ``encoder(goal_obs)`` (for :class:`~eblearn.world.costs.GoalCost`).

    Args:
        planner: Any planner.
        encoder: Maps observations ``(B, ...)`` to planning states ``(B, S)``; identity if
            ``None``.
    """

    def __init__(self, planner: Planner, encoder: nn.Module | None = None) -> None:
        self.planner = planner
        self.encoder = encoder

    def _encode(self, observations: Tensor) -> Tensor:
        if self.encoder is None:
            return observations
        with torch.no_grad():
            return self.encoder(observations)

    def reset(self) -> PlannerController:
        self.planner.reset()
        return self

    def set_goal(self, goal_observations: Tensor) -> None:
        set_goal = getattr(self.planner.cost, "set_goal", None)
        if set_goal is None:
            raise ValueError(
                f"the planner's cost {type(self.planner.cost).__name__} has no goal to set"
            )
        set_goal(self._encode(goal_observations))

    def act(self, observations: Tensor) -> Tensor:
        return self.planner.act(self._encode(observations))

    @property
    def last_plan_(self) -> Any:
        return self.planner.last_plan_


def run_episodes(
    envs: Sequence[Env],
    controller: Controller,
    resets: Sequence[dict[str, Any]],
    max_steps: int | None = None,
    record_every: int = 0,
) -> list[Episode]:
    """Runs one episode in each environment, all driven by one batched controller.

    Args:
        envs: ``B`` environments (distinct objects).
        controller: The controller (reset first).
        resets: Keyword arguments of each environment's ``reset`` (``{"seed": 3}``).
        max_steps: Step limit (default: the environments' own).
        record_every: Record the controller's planned states every this many steps (0: never).

    Returns:
        The ``B`` episodes.

    Raises:
        ValueError: If ``envs`` and ``resets`` differ in length or are empty.
    """
    if not envs or len(envs) != len(resets):
        raise ValueError(
            f"give one reset per environment, got {len(envs)} environments and {len(resets)} resets"
        )
    observations = torch.stack([env.reset(**kwargs) for env, kwargs in zip(envs, resets)])
    controller.reset()
    if hasattr(controller, "set_goal") and hasattr(envs[0], "goal_observation"):
        controller.set_goal(torch.stack([env.goal_observation() for env in envs]))  # type: ignore[attr-defined]
    limit = max_steps or envs[0].max_steps
    states = [[env.state] for env in envs]
    actions: list[list[Tensor]] = [[] for _ in envs]
    rewards: list[list[float]] = [[] for _ in envs]
    plans: list[list[tuple[int, Tensor]]] = [[] for _ in envs]
    seconds: list[list[float]] = [[] for _ in envs]
    success: list[bool | None] = [None] * len(envs)
    active = [True] * len(envs)
    for step in range(limit):
        if not any(active):
            break
        started = time.perf_counter()
        action = controller.act(observations)
        elapsed = time.perf_counter() - started
        plan = getattr(controller, "last_plan_", None)
        for i, env in enumerate(envs):
            if not active[i]:
                continue
            seconds[i].append(elapsed)
            if plan is not None and record_every and step % record_every == 0:
                plans[i].append((step, plan.states[i].detach().clone()))
            outcome = env.step(action[i].detach())
            observations[i] = outcome.observation
            states[i].append(env.state)
            actions[i].append(action[i].detach().clone())
            rewards[i].append(outcome.reward)
            if "success" in outcome.info:
                success[i] = bool(outcome.info["success"])
            if outcome.terminated or outcome.truncated:
                active[i] = False
    return [
        Episode(
            torch.stack(states[i]),
            torch.stack(actions[i]),
            torch.tensor(rewards[i]),
            plans[i],
            seconds[i],
            success[i],
        )
        for i in range(len(envs))
    ]
