"""World tasks: each environment with everything a job needs to collect, train, plan and draw.

A :class:`Task` is one entry of :data:`TASKS`, the registry of environments (it refuses
duplicate names, and an unknown name lists the valid ones). It holds the environment's factory
and the settings that go with it, so that ``eblearn world`` and ``benchmarks/bench_world.py``
read them from one place instead of testing the environment's name:

    pendulum      horizon 20, episodes of 100 collected steps, plotted as (θ, θ̇) over 0.05 s
    mountaincar   horizon 60, random actions held 8 steps while collecting
    two-rooms     horizon 20, world model learned from 32×32 images, a goal cost, door pairs
    two-rooms-random-door
                  two-rooms with one of two doors open at random per episode, learned from
                  states (the stochastic world of a latent-variable forward model)

Planning minimizes the task's cost (:meth:`Task.cost`) over :attr:`Task.horizon` steps with
the task's planner settings (:meth:`Task.planner`); episodes start from fixed starts
(:meth:`Task.starts`: gym seeds ``seed, seed+1, ...``, or start/goal pairs in opposite rooms).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from eblearn.registry import Registry
from eblearn.world.costs import Cost, GoalCost, MountainCarCost, PendulumCost
from eblearn.world.dynamics import Dynamics
from eblearn.world.envs import Env, make_mountain_car, make_pendulum
from eblearn.world.planner import Planner
from eblearn.world.planners import build_planner
from eblearn.world.random_door import make_random_door_rooms
from eblearn.world.transitions import RandomController
from eblearn.world.two_rooms import (
    TwoRoomsDynamics,
    door_pairs,
    make_two_rooms,
    render_two_rooms,
)

Starts = Callable[[int, int], list[dict[str, Any]]]
"""``starts(episodes, seed)``: the keyword arguments of each episode's ``Env.reset``."""

FIGURES = ("trajectory", "pendulum", "rooms")
"""How a task's episodes are drawn (by :func:`eblearn.plot.world.draw_task_episodes`): the
executed trajectory with its plans, the same with the angle wrapped and unrolled, or paths in
the two rooms."""


@dataclass(frozen=True, eq=False)
class Task:
    """An environment and the settings of the jobs that use it.

    Attributes:
        name: Registry name (``eblearn world collect --env NAME``).
        factory: Builds the environment; keyword options are the factory's own
            (``pixels=32`` for two-rooms).
        horizon: Default planning horizon H.
        episode_steps: Steps of a collected episode before a reset (``None``: the
            environment's own limit).
        repeat: Steps each random action is held while collecting (exploration).
        state_names: Names of the plotted state features (one panel each).
        dt: Seconds per step on the plots' time axis.
        pixels: Side P of the images a world model learns from (0: it learns from states).
        planner_defaults: Keyword arguments of each planner by name, measured to work here.
        make_cost: Builds the planning cost ``C(s', a)`` (a goal cost gets its goal from the
            controller at every reset).
        make_starts: The fixed starts of evaluation episodes (see :data:`Starts`).
        figure: How evaluated episodes are drawn, one of :data:`FIGURES` (the drawing itself
            is the plot layer's, :func:`eblearn.plot.world.draw_task_episodes`).
        renderer: ``renderer(states (..., S), pixels) -> images (..., 1, P, P)`` for tasks
            learned from images (``None`` for the others).

    Example:
        >>> task = TASKS.get("two-rooms")
        >>> task.horizon, task.pixels, type(task.cost()).__name__
        (20, 32, 'GoalCost')
        >>> task.starts(2, seed=0)[0].keys()
        dict_keys(['start', 'goal'])
    """

    name: str
    factory: Callable[..., Env]
    horizon: int
    episode_steps: int | None
    repeat: int
    state_names: tuple[str, ...]
    dt: float
    pixels: int
    planner_defaults: Mapping[str, Mapping[str, Any]]
    make_cost: Callable[[], Cost]
    make_starts: Starts
    figure: str
    renderer: Callable[[Tensor, int], Tensor] | None = None

    def __call__(self, **options: Any) -> Env:
        """Builds the environment (``TASKS.get(name)(**options)``, as ``make_env`` does)."""
        return self.factory(**options)

    def env(self, pixels: bool = False) -> Env:
        """The environment, observed as states, or as images with ``pixels=True``.

        Raises:
            ValueError: If ``pixels`` is asked of a task learned from states.
            ImportError: If a gymnasium environment is built without gymnasium.
        """
        if not pixels:
            return self.factory()
        if not self.pixels:
            raise ValueError(f"{self.name} is observed as states, not as images")
        return self.factory(pixels=self.pixels)

    def cost(self) -> Cost:
        """A fresh planning cost."""
        return self.make_cost()

    def starts(self, episodes: int, seed: int = 0) -> list[dict[str, Any]]:
        """Resets of ``episodes`` evaluation episodes (deterministic for a given ``seed``).

        Raises:
            ValueError: If ``episodes`` is below 1.
        """
        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        return self.make_starts(episodes, seed)

    def render(self, states: Tensor) -> Tensor:
        """Images ``(..., 1, P, P)`` of states ``(..., S)``, with ``P =`` :attr:`pixels`.

        Raises:
            ValueError: If the task is not learned from images.
        """
        if self.renderer is None or not self.pixels:
            raise ValueError(f"{self.name} is observed as states, not as images")
        return self.renderer(states, self.pixels)

    def random_controller(self, env: Env, seed: int = 0) -> RandomController:
        """Uniform random actions in ``env``'s box, each held :attr:`repeat` steps."""
        return RandomController(env.action_low, env.action_high, self.repeat, seed)

    def planner_options(self, planner: str, **options: Any) -> dict[str, Any]:
        """The task's settings of ``planner``, updated with ``options``."""
        return {**self.planner_defaults.get(planner, {}), **options}

    def planner(
        self,
        name: str,
        model: Dynamics,
        env: Env,
        horizon: int | None = None,
        cost: Cost | None = None,
        **options: Any,
    ) -> Planner:
        """The planner ``name`` on ``model`` with this task's horizon, cost and settings.

        Args:
            name: A planner of :data:`~eblearn.world.planners.PLANNERS`.
            model: The dynamics planned through (true, learned, or a latent predictor).
            env: The environment whose action box bounds the plan.
            horizon: Planning horizon (default: :attr:`horizon`).
            cost: The cost (default: :meth:`cost`).
            options: Keyword arguments of the planner, over :attr:`planner_defaults`.

        Raises:
            ValueError: On an unknown planner or option (the valid ones are named) or a
                value out of range.
        """
        return build_planner(
            name,
            model,
            cost if cost is not None else self.cost(),
            horizon if horizon is not None else self.horizon,
            env.action_low,
            env.action_high,
            **self.planner_options(name, **options),
        )


TASKS: Registry[Task] = Registry("environment")


def _seeds(episodes: int, seed: int) -> list[dict[str, Any]]:
    return [{"seed": seed + i} for i in range(episodes)]


def _door_pairs(episodes: int, seed: int) -> list[dict[str, Any]]:
    starts, goals = door_pairs(episodes, seed=seed)
    return [{"start": s, "goal": g} for s, g in zip(starts, goals)]


def _render_rooms(states: Tensor, pixels: int) -> Tensor:
    return render_two_rooms(states, TwoRoomsDynamics(), pixels)


TASKS.register(
    "pendulum",
    Task(
        name="pendulum",
        factory=make_pendulum,
        horizon=20,
        episode_steps=100,
        repeat=1,
        state_names=("θ (rad)", "θ̇ (rad/s)"),
        dt=0.05,
        pixels=0,
        planner_defaults={
            "gradient": {"iterations": 3, "restarts": 16, "lr": 0.2},
            "cem": {"population": 300, "elites": 30, "iterations": 4},
            "mppi": {"population": 300, "iterations": 3},
            "hybrid": {"iterations": 3, "lr": 0.2},
        },
        make_cost=PendulumCost,
        make_starts=_seeds,
        figure="pendulum",
    ),
)
TASKS.register(
    "mountaincar",
    Task(
        name="mountaincar",
        factory=make_mountain_car,
        horizon=60,
        episode_steps=None,
        repeat=8,
        state_names=("x", "v"),
        dt=1.0,
        pixels=0,
        planner_defaults={
            "gradient": {"iterations": 10, "restarts": 8, "lr": 0.2},
            "cem": {"population": 300, "elites": 30, "iterations": 4},
            "mppi": {"population": 300, "iterations": 3},
        },
        make_cost=MountainCarCost,
        make_starts=_seeds,
        figure="trajectory",
    ),
)
ROOMS_PLANNERS: Mapping[str, Mapping[str, Any]] = {
    "gradient": {"iterations": 10, "restarts": 8, "lr": 0.1},
    "cem": {"population": 200, "elites": 20, "iterations": 4},
    "mppi": {"population": 200, "iterations": 4},
}
"""Planner settings of both two-rooms tasks."""


def _rooms_cost() -> Cost:
    return GoalCost(step_weight=0.1, terminal_weight=1.0)


TASKS.register(
    "two-rooms",
    Task(
        name="two-rooms",
        factory=make_two_rooms,
        horizon=20,
        episode_steps=50,
        repeat=4,
        state_names=("x", "y"),
        dt=1.0,
        pixels=32,
        planner_defaults=ROOMS_PLANNERS,
        make_cost=_rooms_cost,
        make_starts=_door_pairs,
        figure="rooms",
        renderer=_render_rooms,
    ),
)
TASKS.register(
    "two-rooms-random-door",
    Task(
        name="two-rooms-random-door",
        factory=make_random_door_rooms,
        horizon=20,
        episode_steps=50,
        repeat=4,
        state_names=("x", "y"),
        dt=1.0,
        pixels=0,
        planner_defaults=ROOMS_PLANNERS,
        make_cost=_rooms_cost,
        make_starts=_door_pairs,
        figure="trajectory",
    ),
)

ENVIRONMENTS = TASKS
"""The same registry under its former name: an environment is a task, callable as a factory."""
