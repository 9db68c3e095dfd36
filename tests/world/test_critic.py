"""The critic against the LQR cost-to-go ``sᵀ P s`` from the discrete algebraic Riccati equation."""

from __future__ import annotations

import pytest
import torch
from scipy.linalg import solve_discrete_are

from eblearn.world import LinearDynamics, QuadraticCost
from eblearn.world.cem import CEM
from eblearn.world.critic import (
    Critic,
    QuadraticCritic,
    action_grid,
    bellman_targets,
    fit_cost_to_go,
    fit_critic,
)
from eblearn.world.gradient_mpc import GradientMPC
from eblearn.world.planners import build_planner

A = torch.tensor([[1.0, 0.1], [0.0, 1.0]])  # the double integrator of test_planners.py
B = torch.tensor([[0.005], [0.1]])
Q = torch.diag(torch.tensor([1.0, 0.1]))
R = torch.tensor([[0.01]])


def lqr_cost_to_go():
    """``P`` with ``V(s) = sᵀ P s`` for ``J = Σ_k s[k+1]ᵀ Q s[k+1] + a[k]ᵀ R a[k]`` (γ = 1).

    With ``X = Q + P`` the Bellman equation ``sᵀ P s = min_a (As+Ba)ᵀ X (As+Ba) + aᵀ R a`` is
    the standard DARE ``X = Q + AᵀXA - AᵀXB (R + BᵀXB)⁻¹ BᵀXA``, which scipy solves.
    """
    X = solve_discrete_are(
        A.double().numpy(), B.double().numpy(), Q.double().numpy(), R.double().numpy()
    )
    return torch.tensor(X) - Q.double()


def lqr_action(P, state):
    """``a = -(R + Bᵀ X B)⁻¹ Bᵀ X A s`` with ``X = Q + P``: the infinite-horizon LQR action."""
    A64, B64, X = A.double(), B.double(), Q.double() + P
    gain = torch.linalg.solve(R.double() + B64.T @ X @ B64, B64.T @ X @ A64)
    return -gain @ state.double()


def test_the_cost_to_go_satisfies_its_bellman_equation_by_brute_force():
    P = lqr_cost_to_go()
    state = torch.tensor([0.7, -0.3], dtype=torch.float64)
    actions = torch.linspace(-20, 20, 400001, dtype=torch.float64)
    following = state @ A.double().T + actions[:, None] * B.double()[:, 0]
    X = Q.double() + P
    backups = ((following @ X) * following).sum(-1) + R.item() * actions**2
    assert float(backups.min()) == pytest.approx(float(state @ P @ state), rel=1e-6)


def test_bellman_targets_are_the_grid_minimum_of_a_loop():
    model, cost = LinearDynamics(A, B), QuadraticCost(Q, R)
    critic = QuadraticCritic(2)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.5], [0.1, 1.0]]))
    states = torch.tensor([[1.0, 0.0], [-0.5, 2.0]])
    actions = action_grid(torch.tensor([-1.0]), torch.tensor([1.0]), 5)
    targets = bellman_targets(critic, model, cost, states, actions, discount=0.9)
    for state, target in zip(states, targets):
        with torch.no_grad():
            best = min(
                float(cost(A @ state + B @ a, a) + 0.9 * critic(A @ state + B @ a)) for a in actions
            )
        assert float(target) == pytest.approx(best, rel=1e-6)


def test_fitted_value_iteration_approaches_the_riccati_cost_to_go():
    torch.manual_seed(0)
    states = torch.randn(64, 2)
    critic = QuadraticCritic(2)
    fit_critic(
        critic,
        LinearDynamics(A, B),
        QuadraticCost(Q, R),
        states,
        -30.0,
        30.0,
        sweeps=60,
        steps=10,
        discount=1.0,
        grid=201,
        lr=0.1,
    )
    P = lqr_cost_to_go()
    error = (critic.P.detach().double() - P).norm() / P.norm()
    assert float(error) < 0.01


def test_an_mlp_critic_fits_the_quadratic_cost_to_go_on_its_states():
    torch.manual_seed(0)
    states = torch.rand(64, 2) * 2 - 1
    critic = Critic(2, hidden=32)
    fit_critic(
        critic,
        LinearDynamics(A, B),
        QuadraticCost(Q, R),
        states,
        -30.0,
        30.0,
        sweeps=30,
        steps=30,
        discount=1.0,
        grid=101,
        lr=0.01,
    )
    P = lqr_cost_to_go().float()
    truth = ((states @ P) * states).sum(-1)
    relative = (critic(states).detach() - truth).norm() / truth.norm()
    assert float(relative) < 0.2


@pytest.mark.parametrize("name", ["gradient", "cem"])
def test_horizon_one_with_the_exact_cost_to_go_gives_the_lqr_action(name):
    P = lqr_cost_to_go().float()
    state = torch.tensor([1.0, 0.5])
    options = {
        "gradient": {"iterations": 30, "lr": 0.1, "restarts": 1},
        "cem": {"iterations": 30, "population": 200, "elites": 20, "min_std": 1e-4},
    }[name]
    planner = build_planner(
        name,
        LinearDynamics(A, B),
        QuadraticCost(Q, R),
        1,
        -50.0,
        50.0,
        terminal_cost=lambda s: ((s @ P) * s).sum(-1),
        **options,
    )
    action = planner.act(state)
    expected = lqr_action(P.double(), state)
    assert float(action) == pytest.approx(float(expected), rel=1e-2, abs=1e-2)
    # Without the terminal cost the horizon-1 plan is greedy and differs.
    greedy = build_planner(
        name, LinearDynamics(A, B), QuadraticCost(Q, R), 1, -50.0, 50.0, **options
    ).act(state)
    assert abs(float(greedy) - float(expected)) > 0.5


def test_the_terminal_cost_enters_the_planning_cost():
    model, cost = LinearDynamics(A, B), QuadraticCost(Q, R)
    state = torch.tensor([[1.0, 0.0]])
    u = torch.zeros(1, 1, 3, 1)
    plain, states = GradientMPC(model, cost, 3, -1.0, 1.0).evaluate(state, u)
    shifted, _ = GradientMPC(
        model, cost, 3, -1.0, 1.0, terminal_cost=lambda s: 10 * s[..., 0]
    ).evaluate(state, u)
    assert torch.allclose(shifted - plain, 10 * states[:, :, -1, 0])


def test_errors():
    model, cost = LinearDynamics(A, B), QuadraticCost(Q, R)
    with pytest.raises(ValueError, match="terminal_cost must be callable"):
        CEM(model, cost, 2, -1.0, 1.0, terminal_cost=3.0).reset()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="discount must be in"):
        fit_critic(QuadraticCritic(2), model, cost, torch.zeros(4, 2), -1.0, 1.0, discount=0.0)
    with pytest.raises(ValueError, match=r"states must have shape \(N, 2\)"):
        fit_critic(QuadraticCritic(2), model, cost, torch.zeros(4, 3), -1.0, 1.0)
    with pytest.raises(ValueError, match="points must be >= 2"):
        action_grid(torch.zeros(1), torch.ones(1), 1)


def discounted_scalar_riccati(gamma: float) -> float:
    """``p`` with ``V(s) = p s²`` for ``s' = s + a``, cost ``s'² + a²``, discount ``γ``.

    ``p s² = min_a c (s + a)² + a²`` with ``c = 1 + γ p``: the minimum is at ``a = -c s / (c + 1)``
    and equals ``c s² / (c + 1)``, so ``p = c / (c + 1)``, iterated to its fixed point.
    """
    p = 0.0
    for _ in range(200):
        c = 1 + gamma * p
        p = c / (c + 1)
    return p


def test_fit_cost_to_go_scales_the_critic_and_finds_the_discounted_riccati_value():
    model, cost = (
        LinearDynamics(torch.eye(1), torch.eye(1)),
        QuadraticCost(torch.eye(1), torch.eye(1)),
    )
    states = torch.linspace(-1, 1, 41)[:, None]
    gamma = 0.5
    critic = fit_cost_to_go(
        model, cost, states, torch.tensor([-2.0]), torch.tensor([2.0]), sweeps=8, discount=gamma
    )
    # the scale: the mean cost of the middle action a = 0 (s' = s), over 1 / (1 - γ) steps
    assert critic.scale == pytest.approx(float(states.pow(2).mean()) / (1 - gamma))
    p = discounted_scalar_riccati(gamma)
    with torch.no_grad():
        values = critic(states)
    torch.testing.assert_close(values, p * states[:, 0] ** 2, atol=0.03, rtol=0.0)


def test_fit_cost_to_go_refuses_a_discount_it_cannot_scale_by():
    model, cost = (
        LinearDynamics(torch.eye(1), torch.eye(1)),
        QuadraticCost(torch.eye(1), torch.eye(1)),
    )
    with pytest.raises(ValueError, match=r"discount must be in \(0, 1\)"):
        fit_cost_to_go(
            model, cost, torch.zeros(4, 1), torch.tensor([-1.0]), torch.tensor([1.0]), discount=1.0
        )
