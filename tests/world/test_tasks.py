"""The task registry: one entry per environment, with the settings the jobs read."""

from __future__ import annotations

import pytest
import torch

from eblearn.world import TASKS, Task, make_env
from eblearn.world.costs import GoalCost
from eblearn.world.two_rooms import TwoRooms, TwoRoomsDynamics, door_pairs, render_two_rooms


def test_every_environment_is_one_task():
    assert TASKS.names() == ["mountaincar", "pendulum", "two-rooms", "two-rooms-random-door"]
    for name in TASKS.names():
        assert TASKS.get(name).name == name
    with pytest.raises(ValueError, match="unknown environment 'cartpole'; valid environments"):
        TASKS.get("cartpole")


def test_the_registry_refuses_a_second_task_of_the_same_name():
    rooms = TASKS.get("two-rooms")
    with pytest.raises(ValueError, match="environment 'two-rooms' is already registered"):
        TASKS.register("two-rooms", Task(**{**vars(rooms)}))


def test_make_env_builds_the_task_environment():
    env = make_env("two-rooms", pixels=16)
    assert isinstance(env, TwoRooms) and env.pixels == 16
    assert TASKS.get("two-rooms").env(pixels=True).pixels == 32  # the task's image size
    with pytest.raises(ValueError, match="pendulum is observed as states, not as images"):
        TASKS.get("pendulum").render(torch.zeros(3))


def test_starts_are_the_fixed_seeds_or_door_pairs():
    assert TASKS.get("pendulum").starts(3, seed=5) == [{"seed": 5}, {"seed": 6}, {"seed": 7}]
    starts, goals = door_pairs(3, seed=5)
    resets = TASKS.get("two-rooms").starts(3, seed=5)
    torch.testing.assert_close(torch.stack([r["start"] for r in resets]), starts)
    torch.testing.assert_close(torch.stack([r["goal"] for r in resets]), goals)
    with pytest.raises(ValueError, match="episodes must be >= 1, got 0"):
        TASKS.get("pendulum").starts(0)


def test_planner_uses_the_task_settings_under_the_given_options():
    task = TASKS.get("two-rooms")
    env = task.env()
    planner = task.planner("mppi", env.dynamics(), env, population=8)
    assert (planner.horizon, planner.population, planner.iterations) == (20, 8, 4)
    assert isinstance(planner.cost, GoalCost)
    assert (planner.cost.step_weight, planner.cost.terminal_weight) == (0.1, 1.0)
    assert task.planner("gradient", env.dynamics(), env, horizon=3).horizon == 3
    with pytest.raises(ValueError, match="valid options: alpha, elites, init_std"):
        task.planner("cem", env.dynamics(), env, elite=3)


def test_render_draws_the_two_rooms_images():
    states = torch.rand(5, 2)
    images = TASKS.get("two-rooms").render(states)
    torch.testing.assert_close(images, render_two_rooms(states, TwoRoomsDynamics(), 32))
    assert images.shape == (5, 1, 32, 32)
