"""The explicit adjoint recursion λ_k = λ_{k+1} ∂G/∂s + ∂C/∂s against autograd and finite
differences."""

from __future__ import annotations

import pytest
import torch

from eblearn.world import (
    GoalCost,
    LinearDynamics,
    MountainCarCost,
    MountainCarDynamics,
    PendulumCost,
    PendulumDynamics,
    QuadraticCost,
    adjoint_gradient,
    rollout,
    trajectory_cost,
)
from eblearn.world.models import ForwardModel


def autograd_gradient(model, cost, state, actions):
    actions = actions.clone().requires_grad_(True)
    total = trajectory_cost(cost, rollout(model, state, actions), actions)
    (gradient,) = torch.autograd.grad(total, actions)
    return gradient


def finite_difference_gradient(model, cost, state, actions, eps=1e-6):
    """Central differences in float64, one action coordinate at a time (loops, no autograd)."""
    state, actions = state.double(), actions.double()
    gradient = torch.zeros_like(actions)
    for k in range(actions.shape[0]):
        for j in range(actions.shape[1]):
            plus, minus = actions.clone(), actions.clone()
            plus[k, j] += eps
            minus[k, j] -= eps
            up = trajectory_cost(cost, rollout(model, state, plus), plus)
            down = trajectory_cost(cost, rollout(model, state, minus), minus)
            gradient[k, j] = (up - down) / (2 * eps)
    return gradient


def test_adjoint_matches_autograd_on_the_pendulum():
    state = torch.tensor([-0.8, 0.6, 0.3])
    actions = torch.rand(12, 1) * 3.0 - 1.5  # inside the torque box: no clip binds
    explicit = adjoint_gradient(PendulumDynamics(), PendulumCost(), state, actions)
    automatic = autograd_gradient(PendulumDynamics(), PendulumCost(), state, actions)
    torch.testing.assert_close(explicit, automatic, rtol=1e-4, atol=1e-5)


def test_adjoint_matches_autograd_on_a_learned_latent_free_model_and_mountain_car():
    model = ForwardModel(3, 1, hidden_dims=(16, 16))
    state, actions = torch.randn(3), torch.randn(6, 1)
    torch.testing.assert_close(
        adjoint_gradient(model, PendulumCost(), state, actions),
        autograd_gradient(model, PendulumCost(), state, actions),
        rtol=1e-4,
        atol=1e-5,
    )
    car_state, car_actions = torch.tensor([-0.5, 0.01]), torch.rand(8, 1) * 1.6 - 0.8
    torch.testing.assert_close(
        adjoint_gradient(MountainCarDynamics(), MountainCarCost(), car_state, car_actions),
        autograd_gradient(MountainCarDynamics(), MountainCarCost(), car_state, car_actions),
        rtol=1e-4,
        atol=1e-4,
    )


def test_adjoint_includes_the_terminal_cost_and_matches_finite_differences():
    torch.manual_seed(1)
    A = torch.randn(3, 3, dtype=torch.float64) * 0.5
    B = torch.randn(3, 2, dtype=torch.float64)
    model = LinearDynamics(A, B)
    cost = GoalCost(step_weight=0.3, terminal_weight=2.0, action_weight=0.1).set_goal(
        torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    )
    state = torch.randn(3, dtype=torch.float64)
    actions = torch.randn(5, 2, dtype=torch.float64)
    explicit = adjoint_gradient(model, cost, state, actions)
    torch.testing.assert_close(explicit, finite_difference_gradient(model, cost, state, actions))
    torch.testing.assert_close(explicit, autograd_gradient(model, cost, state, actions))


def test_adjoint_on_linear_quadratic_equals_the_closed_form():
    # J = Σ_k s_{k+1}ᵀ Q s_{k+1} + a_kᵀ R a_k with s_k = A^k s0 + Σ_{j<k} A^{k-1-j} B a_j:
    # ∂J/∂a_j = 2 R a_j + Σ_{k>j} 2 (A^{k-1-j} B)ᵀ Q s_k.
    A = torch.tensor([[1.0, 0.1], [0.0, 1.0]], dtype=torch.float64)
    B = torch.tensor([[0.0], [0.1]], dtype=torch.float64)
    Q = torch.diag(torch.tensor([1.0, 0.5], dtype=torch.float64))
    R = torch.tensor([[0.2]], dtype=torch.float64)
    state = torch.tensor([1.0, -0.5], dtype=torch.float64)
    actions = torch.tensor([[0.3], [-0.2], [0.7], [0.1]], dtype=torch.float64)
    states = [state]
    for a in actions:
        states.append(A @ states[-1] + B @ a)
    expected = torch.zeros_like(actions)
    for j in range(len(actions)):
        expected[j] = 2 * R @ actions[j]
        for k in range(j + 1, len(actions) + 1):
            expected[j] += 2 * (torch.linalg.matrix_power(A, k - 1 - j) @ B).T @ Q @ states[k]
    gradient = adjoint_gradient(LinearDynamics(A, B), QuadraticCost(Q, R), state, actions)
    torch.testing.assert_close(gradient, expected)


def test_adjoint_rejects_batched_inputs():
    with pytest.raises(ValueError, match=r"state must be a tensor of shape \(S,\)"):
        adjoint_gradient(PendulumDynamics(), PendulumCost(), torch.zeros(2, 3), torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"actions must be a tensor of shape \(H, A\)"):
        adjoint_gradient(PendulumDynamics(), PendulumCost(), torch.zeros(3), torch.zeros(4))
