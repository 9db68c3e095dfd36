"""Policy learning through the model: it recovers the LQR gain; it warm-starts the planner."""

from __future__ import annotations

import pytest
import torch

from eblearn.world import LinearDynamics, PendulumCost, PendulumDynamics, QuadraticCost
from eblearn.world.gradient_mpc import GradientMPC
from eblearn.world.planner import policy_sequence
from eblearn.world.policy import Policy, PolicyController, fit_policy


def lqr_gain(q: float, r: float, iterations: int = 500) -> float:
    """Stationary gain of s' = s + a with cost q s'² + r a², by value iteration on V = P s²."""
    p = 0.0
    for _ in range(iterations):
        m = q + p
        p = m * r / (m + r)
    return (q + p) / (q + p + r)


def test_policy_through_the_model_learns_the_lqr_gain():
    gain = lqr_gain(1.0, 0.1)
    assert gain == pytest.approx(((1 + 1.4**0.5) / 2) / ((1 + 1.4**0.5) / 2 + 0.1))
    model = LinearDynamics(torch.eye(1), torch.eye(1))
    cost = QuadraticCost(torch.eye(1), 0.1 * torch.eye(1))
    policy = Policy(1, torch.tensor([-3.0]), torch.tensor([3.0]), hidden_dims=(16,))
    starts = torch.linspace(-1, 1, 101)[:, None]
    history = fit_policy(
        policy, model, cost, starts, horizon=12, iterations=200, batch_size=64, lr=1e-2
    )
    assert history[-1]["cost"] < history[0]["cost"]
    states = torch.linspace(-0.8, 0.8, 9)[:, None]
    with torch.no_grad():
        actions = policy(states)
    torch.testing.assert_close(actions, -gain * states, atol=0.03, rtol=0)


def test_policy_stays_in_the_box_and_checks_its_input():
    policy = Policy(3, torch.tensor([-2.0]), torch.tensor([1.0]))
    with torch.no_grad():
        for layer in policy.net:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(100)
        actions = policy(torch.randn(500, 3))
    assert float(actions.min()) >= -2.0
    assert float(actions.max()) <= 1.0
    assert float(actions.min()) < -1.9
    assert float(actions.max()) > 0.9
    with pytest.raises(ValueError, match=r"the policy takes states \(\.\.\., 3\)"):
        policy(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="low < high"):
        Policy(3, torch.tensor([1.0]), torch.tensor([-1.0]))


def test_fit_policy_freezes_the_model_and_restores_it():
    from eblearn.world.models import ForwardModel

    model = ForwardModel(3, 1, hidden_dims=(8,))
    before = [p.clone() for p in model.parameters()]
    policy = Policy(3, torch.tensor([-2.0]), torch.tensor([2.0]), hidden_dims=(8,))
    fit_policy(policy, model, PendulumCost(), torch.randn(32, 3), horizon=3, iterations=5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match=r"start_states must have shape \(N, 3\)"):
        fit_policy(policy, model, PendulumCost(), torch.randn(32, 2))
    with pytest.raises(ValueError, match="unknown latent_mode 'optimize'"):
        fit_policy(policy, model, PendulumCost(), torch.randn(32, 3), latent_mode="optimize")


def test_policy_warm_starts_gradient_mpc():
    model, cost = PendulumDynamics(), PendulumCost()
    policy = Policy(3, torch.tensor([-2.0]), torch.tensor([2.0]), hidden_dims=(8,))
    state = torch.tensor([[0.0, 1.0, 0.5]])
    planner = GradientMPC(model, cost, 6, -2.0, 2.0, first_iterations=0, restarts=1, policy=policy)
    plan = planner.plan(state)
    torch.testing.assert_close(plan.actions, policy_sequence(policy, model, state, 6))
    with torch.no_grad():
        torch.testing.assert_close(PolicyController(policy).act(state), policy(state))
