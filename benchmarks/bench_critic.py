"""Planning with a learned critic: return / success against the horizon, with and without it.

On the true dynamics of two tasks of ``eblearn.world.tasks``, CEM plans with horizons
H = 2, 5, 10, 20, once with the task's cost alone and once with a critic ``V(s)`` added as the
terminal cost (``terminal_cost=``). The critic is fitted by fitted value iteration through the
same dynamics (``eblearn.world.critic.fit_critic``) on states drawn uniformly:

    pendulum   V(cos θ, sin θ, θ̇) of the step cost θ² + 0.1 θ̇² + 0.001 u², γ = 0.97;
               mean return over the first ``--starts`` gym seeds, 200 steps each
    two-rooms  a goal-conditioned V(s, g) of the step cost 0.1 ||s - g||², γ = 0.95, fitted on
               (position, goal) pairs through the dynamics with the goal carried along; with
               the critic it replaces the task's terminal distance ||s_H - g||² (which pulls
               straight into the wall); success rate over ``--starts`` door pairs (start and goal
               in opposite rooms), 50 steps each

The table prints; ``--append`` also writes it to BENCHMARKS.md.

    python benchmarks/bench_critic.py --starts 10 --append
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import torch
from _report import append_section, load_average, markdown_table
from torch import Tensor

from eblearn.world.control import PlannerController, run_episodes
from eblearn.world.costs import Cost, GoalCost, PendulumCost
from eblearn.world.critic import Critic, fit_critic
from eblearn.world.dynamics import Dynamics
from eblearn.world.tasks import TASKS
from eblearn.world.two_rooms import TwoRoomsDynamics

HORIZONS = (2, 5, 10, 20)
CEM_OPTIONS = {"population": 200, "elites": 20, "iterations": 4}


class GoalCarried(Dynamics):
    """``(s, g) → (G(s, a), g)``: two-rooms with the goal as part of the state."""

    state_dim, action_dim = 4, 2

    def __init__(self, inner: TwoRoomsDynamics) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        return torch.cat((self.inner(state[..., :2], action), state[..., 2:]), -1)


class GoalStepCost(Cost):
    """``w ||s' - g||²`` on the goal-carrying state ``(s, g)``."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, next_state: Tensor, action: Tensor) -> Tensor:
        return self.weight * (next_state[..., :2] - next_state[..., 2:]).pow(2).sum(-1)


def pendulum_states(count: int, generator: torch.Generator) -> Tensor:
    theta = (torch.rand(count, generator=generator) * 2 - 1) * math.pi
    speed = (torch.rand(count, generator=generator) * 2 - 1) * 8
    return torch.stack((theta.cos(), theta.sin(), speed), -1)


def fit_pendulum_critic(sweeps: int) -> Critic:
    generator = torch.Generator().manual_seed(0)
    critic = Critic(3, hidden=64, scale=50.0)
    env = TASKS.get("pendulum").env()
    fit_critic(
        critic,
        env.dynamics(),
        PendulumCost(),
        pendulum_states(4000, generator),
        -2.0,
        2.0,
        sweeps=sweeps,
        steps=60,
        discount=0.97,
        grid=21,
        lr=3e-3,
    )
    return critic


def fit_rooms_critic(sweeps: int) -> Critic:
    generator = torch.Generator().manual_seed(0)
    critic = Critic(4, hidden=64, scale=1.0)
    states = torch.rand(4000, 4, generator=generator)
    fit_critic(
        critic,
        GoalCarried(TwoRoomsDynamics()),
        GoalStepCost(0.1),
        states,
        -0.1,
        0.1,
        sweeps=sweeps,
        steps=60,
        discount=0.95,
        grid=9,
        lr=3e-3,
    )
    return critic


def goal_critic(critic: Critic, cost: GoalCost) -> Any:
    """``s ↦ V(s, g)``, the planner's goal ``(B, 2)`` broadcast over states ``(B, ..., 2)``."""

    def terminal(state: Tensor) -> Tensor:
        goal = cost.goal.reshape(cost.goal.shape[0], *([1] * (state.ndim - 2)), 2)
        return critic(torch.cat((state, goal.expand_as(state)), -1))

    return terminal


def run_pendulum(critic: Critic, starts: int) -> list[list[object]]:
    task = TASKS.get("pendulum")
    resets = task.starts(starts)
    rows = []
    for horizon in HORIZONS:
        row: list[object] = [horizon]
        for terminal in (None, critic):
            env = task.env()
            planner = task.planner(
                "cem", env.dynamics(), env, horizon=horizon, terminal_cost=terminal, **CEM_OPTIONS
            )
            episodes = run_episodes([task.env() for _ in resets], planner, resets)
            row.append(f"{sum(e.total_reward for e in episodes) / len(episodes):.1f}")
        rows.append(row)
        print(f"pendulum H={horizon}: {row[1:]}", flush=True)
    return rows


def run_rooms(critic: Critic, starts: int) -> list[list[object]]:
    task = TASKS.get("two-rooms")
    resets = task.starts(starts, seed=0)
    rows = []
    for horizon in HORIZONS:
        row: list[object] = [horizon]
        for use_critic in (False, True):
            env = task.env()
            cost = GoalCost(step_weight=0.1, terminal_weight=0.0 if use_critic else 1.0)
            planner = task.planner(
                "cem",
                env.dynamics(),
                env,
                horizon=horizon,
                cost=cost,
                terminal_cost=goal_critic(critic, cost) if use_critic else None,
                **CEM_OPTIONS,
            )
            controller = PlannerController(planner)
            episodes = run_episodes([task.env() for _ in resets], controller, resets)
            row.append(f"{sum(bool(e.success) for e in episodes) / len(episodes):.0%}")
        rows.append(row)
        print(f"two-rooms H={horizon}: {row[1:]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10, help="episodes per cell (10)")
    parser.add_argument("--sweeps", type=int, default=60, help="value-iteration sweeps (60)")
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    load = load_average()
    started = time.perf_counter()
    pendulum_critic = fit_pendulum_critic(args.sweeps)
    rooms_critic = fit_rooms_critic(args.sweeps)
    fitted = time.perf_counter() - started
    print(f"critics fitted in {fitted:.0f} s", flush=True)
    pendulum = run_pendulum(pendulum_critic, args.starts)
    rooms = run_rooms(rooms_critic, args.starts)
    table = markdown_table(
        [
            "horizon H",
            "Pendulum return",
            "Pendulum return + critic",
            "two-rooms success",
            "two-rooms success + critic",
        ],
        [p + r[1:] for p, r in zip(pendulum, rooms)],
    )
    body = (
        f"CEM ({CEM_OPTIONS['population']} × {CEM_OPTIONS['iterations']}, "
        f"{CEM_OPTIONS['elites']} elites) on the true dynamics, {args.starts} starts per cell "
        "(Pendulum: gym seeds, 200 steps; two-rooms: door pairs in opposite rooms, 50 steps). "
        "The critic is an MLP (2 × 64, tanh) fitted by fitted value iteration through the same "
        f"dynamics ({args.sweeps} sweeps × 60 Adam steps on 4,000 uniform states; Pendulum "
        "γ = 0.97, two-rooms goal-conditioned with γ = 0.95 and replacing the terminal "
        f"distance); both critics fitted in {fitted:.0f} s. Total "
        f"{time.perf_counter() - started:.0f} s.\n\n{table}"
    )
    print(body, flush=True)
    if args.append:
        append_section("Planning with a learned critic: return vs horizon (issue 16)", body, load)


if __name__ == "__main__":
    main()
