"""Environment contracts: reset/step, bounds, determinism, the true dynamics, two-rooms rules."""

from __future__ import annotations

import sys

import pytest
import torch

from eblearn.world import (
    ENVIRONMENTS,
    TwoRooms,
    TwoRoomsDynamics,
    door_pairs,
    make_env,
    render_two_rooms,
)
from eblearn.world.envs import Step


@pytest.mark.parametrize("name", ["pendulum", "mountaincar"])
def test_gym_environment_contract(name):
    pytest.importorskip("gymnasium")
    env = make_env(name)
    first = env.reset(seed=7)
    assert first.dtype == torch.float32
    assert first.shape == (env.state_dim,)
    torch.testing.assert_close(make_env(name).reset(seed=7), first)  # deterministic per seed
    assert env.action_low.shape == env.action_high.shape == (env.action_dim,)
    step = env.step((env.action_low + env.action_high) / 2)
    assert isinstance(step, Step)
    assert step.observation.shape == (env.state_dim,)
    assert isinstance(step.reward, float)
    torch.testing.assert_close(env.state, step.observation)
    with pytest.raises(ValueError, match="outside the action box"):
        env.step(env.action_high + 1)
    with pytest.raises(ValueError, match=rf"takes actions of shape \({env.action_dim},\)"):
        env.step(torch.zeros(env.action_dim + 1))
    with pytest.raises(ValueError, match="NaN or Inf"):
        env.step(torch.full((env.action_dim,), float("nan")))


def test_pendulum_truncates_after_200_steps_and_rewards_match_the_cost():
    pytest.importorskip("gymnasium")
    env = make_env("pendulum")
    state = env.reset(seed=0)
    cost = env.cost()
    for t in range(200):
        action = torch.tensor([1.5 * ((-1) ** t)])
        previous = state
        step = env.step(action)
        state = step.observation
        # The reward is minus the cost of the state the step started from.
        expected = -float(cost(previous, action))
        assert step.reward == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert step.truncated
    assert not step.terminated


@pytest.mark.parametrize("name", ["pendulum", "mountaincar"])
def test_true_dynamics_reproduce_gymnasium(name):
    pytest.importorskip("gymnasium")
    env = make_env(name)
    model = env.dynamics()
    generator = torch.Generator().manual_seed(0)
    state = env.reset(seed=3)
    for _ in range(60):
        action = env.action_low + (env.action_high - env.action_low) * torch.rand(
            env.action_dim, generator=generator
        )
        predicted = model(state, action)
        state = env.step(action).observation
        torch.testing.assert_close(predicted, state, rtol=1e-5, atol=1e-5)


def test_missing_gymnasium_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(ImportError, match=r"pip install 'eblearn\[world\]'"):
        make_env("pendulum")


def test_make_env_lists_the_environments():
    with pytest.raises(
        ValueError,
        match="valid environments: mountaincar, pendulum, two-rooms, two-rooms-random-door",
    ):
        make_env("cartpole")
    assert set(ENVIRONMENTS.names()) == {
        "mountaincar",
        "pendulum",
        "two-rooms",
        "two-rooms-random-door",
    }


def test_two_rooms_motion_rules():
    model = TwoRoomsDynamics()
    states = torch.tensor(
        [
            [0.30, 0.10],  # free move in the left room
            [0.45, 0.10],  # into the wall below the door: stops at the face, slides
            [0.45, 0.50],  # through the door
            [0.55, 0.90],  # into the wall from the right, above the door
            [0.50, 0.45],  # inside the doorway, pushed down into the post: held
            [0.95, 0.95],  # against the arena's corner
        ]
    )
    actions = torch.tensor(
        [[0.1, 0.0], [0.1, 0.05], [0.1, 0.0], [-0.1, 0.0], [0.0, -0.1], [0.1, 0.1]]
    )
    expected = torch.tensor(
        [[0.40, 0.10], [0.48, 0.15], [0.55, 0.50], [0.52, 0.90], [0.50, 0.40], [1.0, 1.0]]
    )
    torch.testing.assert_close(model(states, actions), expected)
    # Actions beyond the box are clipped to max_step.
    torch.testing.assert_close(
        model(torch.tensor([0.2, 0.2]), torch.tensor([1.0, -1.0])), torch.tensor([0.3, 0.1])
    )


def test_two_rooms_never_crosses_the_wall_outside_the_door():
    model = TwoRoomsDynamics()
    generator = torch.Generator().manual_seed(0)
    states = torch.rand(4000, 2, generator=generator)
    states[:, 0] = 0.38 + 0.1 * states[:, 0]  # near the wall's left face
    states[2000:, 0] = 1.0 - states[2000:, 0]  # half near its right face
    actions = (torch.rand(4000, 2, generator=generator) * 2 - 1) * 0.1
    after = model(states, actions)
    crossed = (states[:, 0] - 0.5).sign() != (after[:, 0] - 0.5).sign()
    # Wherever the side changed, the segment crossed x = 0.5 inside the door.
    t = (0.5 - states[crossed, 0]) / (after[crossed, 0] - states[crossed, 0])
    y = states[crossed, 1] + t * (after[crossed, 1] - states[crossed, 1])
    assert bool(((y >= 0.4) & (y <= 0.6)).all())
    assert int(crossed.sum()) > 0
    inside = model.in_wall(after[:, 0])
    assert bool(model.in_door(after[inside, 1]).all())


def test_two_rooms_episode_contract():
    env = TwoRooms(pixels=16, max_steps=5)
    observation = env.reset(start=torch.tensor([0.3, 0.5]), goal=torch.tensor([0.45, 0.5]))
    assert observation.shape == (1, 16, 16)
    assert float(observation.min()) >= 0
    assert float(observation.max()) <= 1
    torch.testing.assert_close(env.goal_observation(), env.observe(torch.tensor([0.45, 0.5])))
    step = env.step(torch.tensor([0.1, 0.0]))
    assert step.terminated
    assert step.info["success"]
    assert step.reward == pytest.approx(-0.05, abs=1e-6)

    env.reset(seed=3)
    start = env.state
    for _ in range(5):
        step = env.step(torch.zeros(2))
    assert step.truncated
    assert not step.info["success"]
    torch.testing.assert_close(env.state, start)
    with pytest.raises(ValueError, match="inside the wall"):
        env.reset(start=torch.tensor([0.5, 0.1]), goal=torch.tensor([0.8, 0.5]))
    with pytest.raises(ValueError, match=r"pixels must be 0 \(state observations\) or >= 8"):
        TwoRooms(pixels=4)
    with pytest.raises(ValueError, match="call reset"):
        TwoRooms().step(torch.zeros(2))


def test_render_draws_the_agent_where_it_is():
    dynamics = TwoRoomsDynamics()
    positions = torch.tensor([[0.15, 0.85], [0.80, 0.20]])
    images = render_two_rooms(positions, dynamics, pixels=32)
    assert images.shape == (2, 1, 32, 32)
    for image, (x, y) in zip(images, positions.tolist()):
        agent = image[0] * (image[0] != 0.5)  # drop the wall
        row, column = divmod(int(agent.argmax()), 32)
        assert abs((column + 0.5) / 32 - x) < 1 / 32 + 1e-6
        assert abs(1 - (row + 0.5) / 32 - y) < 1 / 32 + 1e-6
    # The wall is there outside the door and absent inside it.
    column = 16
    assert float(images[0, 0, 2, column]) == 0.5
    assert float(images[0, 0, 16, column]) < 0.5


def test_door_pairs_are_fixed_and_in_opposite_rooms():
    starts, goals = door_pairs(50, seed=0)
    again, _ = door_pairs(50, seed=0)
    torch.testing.assert_close(starts, again)
    assert bool((((starts[:, 0] - 0.5) * (goals[:, 0] - 0.5)) < 0).all())
    assert bool(((starts[:, 0] - 0.5).abs() > 0.1).all())
