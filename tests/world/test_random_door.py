"""Two rooms with a random door: hand-worked moves, the door's frequency, the latent's prior."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.world import TASKS, make_env
from eblearn.world.random_door import DOORS, RandomDoorDynamics, RandomDoorRooms

# (state, action, next state with the lower door open, next state with the upper door open),
# worked by hand: the wall's faces are at x = 0.48 and 0.52.
CASES = [
    # straight through the lower door place: passes only if it is open
    ([0.45, 0.25], [0.1, 0.0], [0.55, 0.25], [0.48, 0.25]),
    # the same at the upper door place
    ([0.45, 0.75], [0.1, 0.0], [0.48, 0.75], [0.55, 0.75]),
    # from the right room, leftward through the lower place
    ([0.55, 0.2], [-0.1, 0.0], [0.45, 0.2], [0.52, 0.2]),
    # in the middle of the wall no door ever opens: stopped at the face
    ([0.45, 0.5], [0.1, 0.0], [0.48, 0.5], [0.48, 0.5]),
    # diagonal: enters the lower door at y = 0.33 but would leave it at y = 0.37 > 0.35, so it
    # is stopped at the face and slides up to y = 0.4
    ([0.45, 0.3], [0.1, 0.1], [0.48, 0.4], [0.48, 0.4]),
    # stops inside the doorway (x = 0.49) when the lower door is open
    ([0.45, 0.25], [0.04, 0.0], [0.49, 0.25], [0.48, 0.25]),
    # far from the wall both doors give the same free move
    ([0.2, 0.5], [0.1, -0.05], [0.3, 0.45], [0.3, 0.45]),
]


@pytest.mark.parametrize(("state", "action", "lower", "upper"), CASES)
def test_moves_match_the_hand_worked_cases(state, action, lower, upper):
    model = RandomDoorDynamics(p=0.5)
    s, a = torch.tensor(state), torch.tensor(action)
    torch.testing.assert_close(model(s, a, torch.tensor([-1.0])), torch.tensor(lower))
    torch.testing.assert_close(model(s, a, torch.tensor([1.0])), torch.tensor(upper))
    torch.testing.assert_close(model.outcomes(s, a), torch.tensor([lower, upper]))
    for door, expected in (("lower", lower), ("upper", upper)):
        env = RandomDoorRooms(p=1.0 if door == "upper" else 0.0)
        env.reset(start=s, goal=torch.tensor([0.9, 0.9]))
        assert env.open_door == door
        torch.testing.assert_close(env.step(a).observation, torch.tensor(expected))


def test_a_batch_mixes_the_doors_by_its_latent():
    model = RandomDoorDynamics(p=0.5)
    states = torch.tensor([[0.45, 0.25], [0.45, 0.25]])
    actions = torch.tensor([[0.1, 0.0], [0.1, 0.0]])
    next_states = model(states, actions, torch.tensor([[-0.3], [0.3]]))
    torch.testing.assert_close(next_states, torch.tensor([[0.55, 0.25], [0.48, 0.25]]))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_the_latent_threshold_opens_the_upper_door_with_probability_p(p):
    model = RandomDoorDynamics(p=p)
    # Φ(threshold) = 1 - p, with Φ the standard normal distribution function
    assert 0.5 * (1 + math.erf(model.threshold / math.sqrt(2))) == pytest.approx(1 - p)
    z = model.sample_latent((20000,), generator=torch.Generator().manual_seed(0))
    assert float((z > model.threshold).float().mean()) == pytest.approx(p, abs=0.015)
    # z omitted is the prior's mode z = 0: the more probable door (the lower one on a tie)
    s, a = torch.tensor([0.45, 0.75]), torch.tensor([0.1, 0.0])
    assert float(model(s, a)[0]) == pytest.approx(0.55 if p > 0.5 else 0.48)


def test_p_zero_and_one_always_open_the_same_door():
    s, a = torch.tensor([0.45, 0.75]), torch.tensor([0.1, 0.0])
    for p, x in ((0.0, 0.48), (1.0, 0.55)):
        model = RandomDoorDynamics(p=p)
        for z in (-5.0, 0.0, 5.0):
            assert float(model(s, a, torch.tensor([z]))[0]) == pytest.approx(x)


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_the_door_is_drawn_per_episode_with_frequency_p(p):
    env = RandomDoorRooms(p=p)
    episodes = 600
    upper = sum(
        env.reset(seed=seed) is not None and env.open_door == "upper" for seed in range(episodes)
    )
    # four standard deviations of a binomial frequency
    assert abs(upper / episodes - p) < 4 * math.sqrt(p * (1 - p) / episodes)
    torch.manual_seed(0)
    unseeded = [env.reset() is not None and env.open_door for _ in range(episodes)]
    assert abs(unseeded.count("upper") / episodes - p) < 4 * math.sqrt(p * (1 - p) / episodes)


def test_a_seed_fixes_the_door_and_the_observation_does_not_show_it():
    env = RandomDoorRooms(p=0.5)
    doors = []
    for seed in range(40):
        observation = env.reset(
            seed=seed, start=torch.tensor([0.2, 0.5]), goal=torch.tensor([0.8, 0.5])
        )
        torch.testing.assert_close(observation, torch.tensor([0.2, 0.5]))  # the position only
        doors.append(env.open_door)
        env.reset(seed=seed)
        assert env.open_door == doors[-1]
    assert set(doors) == {"lower", "upper"}


def test_the_task_is_registered_beside_two_rooms():
    task = TASKS.get("two-rooms-random-door")
    env = make_env("two-rooms-random-door", p=0.25)
    assert isinstance(env, RandomDoorRooms) and env.p == 0.25
    assert isinstance(env.dynamics(), RandomDoorDynamics) and env.dynamics().p == 0.25
    assert task.pixels == 0 and task.horizon == TASKS.get("two-rooms").horizon
    with pytest.raises(ValueError, match="observed as states, not as images"):
        task.env(pixels=True)
    assert set(DOORS) == {"lower", "upper"}


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_a_probability_outside_zero_one_is_refused(p):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got"):
        RandomDoorRooms(p=p)
    with pytest.raises(ValueError, match="unknown door 'middle'; valid choices: lower, upper"):
        RandomDoorDynamics().door("middle")
