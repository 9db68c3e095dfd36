"""Running controllers in environments: batching, recorded plans, goals through an encoder."""

from __future__ import annotations

import pytest
import torch

from eblearn.world import GoalCost, TwoRooms
from eblearn.world.cem import MPPI
from eblearn.world.control import PlannerController, run_episodes
from eblearn.world.gradient_mpc import GradientMPC


def test_true_model_planning_reaches_goals_through_the_door():
    env = TwoRooms()
    planner = MPPI(env.dynamics(), GoalCost(step_weight=0.1), 15, -0.1, 0.1, population=100)
    resets = [
        {"start": torch.tensor([0.2, 0.2]), "goal": torch.tensor([0.8, 0.2])},
        {"start": torch.tensor([0.85, 0.8]), "goal": torch.tensor([0.15, 0.7])},
    ]
    episodes = run_episodes(
        [TwoRooms(), TwoRooms()], PlannerController(planner), resets, record_every=5
    )
    for episode, reset in zip(episodes, resets):
        assert episode.success
        final = episode.states[-1]
        assert float(torch.linalg.vector_norm(final - reset["goal"])) < 0.1
        # The path went through the doorway: at x = 0.5 it was between the door posts.
        xs, ys = episode.states[:, 0], episode.states[:, 1]
        side = (xs - 0.5).sign()
        crossing = int((side[1:] != side[:-1]).nonzero()[0])
        assert 0.4 <= float((ys[crossing] + ys[crossing + 1]) / 2) <= 0.6
        assert episode.plans[0][0] == 0
        assert episode.plans[0][1].shape == (16, 2)
        assert len(episode.seconds) == len(episode.actions)
        assert episode.ms_per_step > 0


def test_planner_controller_sets_the_goal_through_the_encoder():
    encoder = torch.nn.Flatten()  # (B, 1, 1, 2) "images" -> (B, 2)
    planner = GradientMPC(TwoRooms().dynamics(), GoalCost(), 4, -0.1, 0.1, iterations=1)
    controller = PlannerController(planner, encoder)
    controller.set_goal(torch.tensor([[[[0.3, 0.4]]]]))
    torch.testing.assert_close(planner.cost.goal, torch.tensor([[0.3, 0.4]]))
    assert controller.act(torch.tensor([[[[0.2, 0.4]]]])).shape == (1, 2)
    assert controller.last_plan_ is planner.last_plan_


def test_run_episodes_checks_its_arguments():
    planner = GradientMPC(TwoRooms().dynamics(), GoalCost(), 4, -0.1, 0.1)
    with pytest.raises(ValueError, match="one reset per environment"):
        run_episodes([TwoRooms()], PlannerController(planner), [])
    from eblearn.world import PendulumCost

    controller = PlannerController(GradientMPC(TwoRooms().dynamics(), PendulumCost(), 3, -1, 1))
    with pytest.raises(ValueError, match="has no goal to set"):
        controller.set_goal(torch.zeros(1, 2))
