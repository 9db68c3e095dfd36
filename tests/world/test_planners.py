"""Planners on linear dynamics with a quadratic cost, whose optimum is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from eblearn.world import LinearDynamics, PendulumCost, PendulumDynamics, QuadraticCost
from eblearn.world.cem import CEM, MPPI
from eblearn.world.gradient_mpc import GradientMPC
from eblearn.world.hybrid import CEMGradient
from eblearn.world.models import ForwardModel
from eblearn.world.planners import build_planner

A = torch.tensor([[1.0, 0.1], [0.0, 1.0]])  # a double integrator, dt = 0.1
B = torch.tensor([[0.005], [0.1]])
Q = torch.diag(torch.tensor([1.0, 0.1]))
R = torch.tensor([[0.01]])
HORIZON = 8
START = torch.tensor([1.0, 0.0])


def riccati_plan(A, B, Q, R, horizon, start):
    """Finite-horizon LQR for J = Σ_{k<H} s_{k+1}ᵀ Q s_{k+1} + a_kᵀ R a_k (backward Riccati)."""
    A, B, Q, R = (m.double() for m in (A, B, Q, R))
    P = Q.clone()  # cost-to-go of s_H
    gains = []
    for k in range(horizon - 1, -1, -1):
        gain = torch.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        gains.append(gain)
        closed = A - B @ gain
        P = closed.T @ P @ closed + gain.T @ R @ gain + (Q if k > 0 else 0 * Q)
    gains.reverse()
    state, actions = start.double(), []
    for gain in gains:
        action = -gain @ state
        actions.append(action)
        state = A @ state + B @ action
    return torch.stack(actions)


def least_squares_plan(A, B, Q, R, horizon, start):
    """The same optimum from the normal equations of J as a quadratic in the stacked actions."""
    A, B, Q, R = (m.double() for m in (A, B, Q, R))
    S, M = B.shape
    # s_k = F_k s0 + G_k a  (a stacked (H·M,)), loops over k and j.
    hessian = torch.kron(torch.eye(horizon, dtype=torch.float64), R).clone()
    linear = torch.zeros(horizon * M, dtype=torch.float64)
    for k in range(1, horizon + 1):
        F = torch.linalg.matrix_power(A, k)
        G = torch.zeros(S, horizon * M, dtype=torch.float64)
        for j in range(k):
            G[:, j * M : (j + 1) * M] = torch.linalg.matrix_power(A, k - 1 - j) @ B
        hessian += G.T @ Q @ G
        linear += G.T @ Q @ F @ start.double()
    return torch.linalg.solve(hessian, -linear).reshape(horizon, M)


def quadratic_cost_of(actions, bounds=None):
    model, cost = LinearDynamics(A.double(), B.double()), QuadraticCost(Q.double(), R.double())
    from eblearn.world import rollout, trajectory_cost

    actions = actions.double()
    return float(trajectory_cost(cost, rollout(model, START.double(), actions), actions))


def test_the_two_references_agree():
    torch.testing.assert_close(
        riccati_plan(A, B, Q, R, HORIZON, START), least_squares_plan(A, B, Q, R, HORIZON, START)
    )


def test_gradient_mpc_finds_the_lqr_optimum_without_active_bounds():
    optimum = riccati_plan(A, B, Q, R, HORIZON, START)
    bound = 2 * float(optimum.abs().max())
    planner = GradientMPC(
        LinearDynamics(A, B),
        QuadraticCost(Q, R),
        HORIZON,
        -bound,
        bound,
        first_iterations=1500,
        restarts=2,
        lr=0.01,
    )
    plan = planner.plan(START[None])
    torch.testing.assert_close(plan.actions[0].double(), optimum, atol=2e-3, rtol=0)
    assert quadratic_cost_of(plan.actions[0]) == pytest.approx(quadratic_cost_of(optimum), rel=1e-4)


def test_gradient_mpc_with_active_bounds_matches_a_box_constrained_solver():
    bound = 3.0  # the unconstrained optimum starts near -9: the first actions saturate
    assert float(riccati_plan(A, B, Q, R, HORIZON, START).abs().max()) > bound

    def objective(flat):
        actions = torch.tensor(flat.reshape(HORIZON, 1), requires_grad=True)
        value = torch.tensor(quadratic_cost_of(actions.detach()))
        model = LinearDynamics(A.double(), B.double())
        from eblearn.world import rollout, trajectory_cost

        total = trajectory_cost(
            QuadraticCost(Q.double(), R.double()), rollout(model, START.double(), actions), actions
        )
        (gradient,) = torch.autograd.grad(total, actions)
        return float(value), gradient.numpy().ravel()

    reference = minimize(
        objective,
        np.zeros(HORIZON),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-bound, bound)] * HORIZON,
        options={"ftol": 1e-14, "gtol": 1e-10},
    ).x
    planner = GradientMPC(
        LinearDynamics(A, B),
        QuadraticCost(Q, R),
        HORIZON,
        -bound,
        bound,
        first_iterations=1500,
        lr=0.01,
    )
    plan = planner.plan(START[None])
    assert bool((plan.actions.abs() <= bound + 1e-6).all())
    torch.testing.assert_close(
        plan.actions[0, :, 0].double(), torch.tensor(reference), atol=2e-3, rtol=0
    )
    assert quadratic_cost_of(plan.actions[0]) == pytest.approx(
        quadratic_cost_of(torch.tensor(reference)[:, None]), rel=1e-5
    )


@pytest.mark.parametrize("name", ["cem", "mppi", "hybrid"])
def test_sampling_and_hybrid_planners_get_close_to_the_optimum(name):
    optimum = riccati_plan(A, B, Q, R, HORIZON, START)
    bound = 2 * float(optimum.abs().max())
    options = {"cem": {"iterations": 20}, "mppi": {"iterations": 20}, "hybrid": {}}[name]
    planner = build_planner(
        name, LinearDynamics(A, B), QuadraticCost(Q, R), HORIZON, -bound, bound, **options
    )
    plan = planner.plan(START[None])
    assert quadratic_cost_of(plan.actions[0]) <= 1.05 * quadratic_cost_of(optimum)


def test_receding_horizon_warm_starts_from_the_shifted_plan():
    planner = GradientMPC(
        LinearDynamics(A, B), QuadraticCost(Q, R), HORIZON, -20.0, 20.0, iterations=0
    )
    action = planner.act(START)
    plan = planner.last_plan_
    assert action.shape == (1,)
    torch.testing.assert_close(action, plan.actions[0, 0])
    shifted = planner.to_action(planner.warm_)[0]
    torch.testing.assert_close(shifted[:-1], plan.actions[0, 1:])
    torch.testing.assert_close(shifted[-1], plan.actions[0, -1])
    # With zero iterations, the warm start is returned as it is when it is the best start.
    planner.restarts = 1
    torch.testing.assert_close(planner.plan(START[None]).actions[0], shifted)


def test_planners_batch_independent_problems_and_respect_bounds():
    model, cost = PendulumDynamics(), PendulumCost()
    states = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.5], [0.0, 1.0, -1.0]])
    for planner in (
        GradientMPC(model, cost, 6, -2.0, 2.0, iterations=3),
        CEM(model, cost, 6, -2.0, 2.0, population=20, elites=4, iterations=2),
        MPPI(model, cost, 6, -2.0, 2.0, population=20, iterations=2),
    ):
        actions = planner.reset().act(states)
        assert actions.shape == (3, 1)
        assert bool((actions.abs() <= 2.0).all())
        plan = planner.last_plan_
        assert plan.states.shape == (3, 7, 3)
        assert plan.cost.shape == (3,)
        assert planner.evaluations_ > 0


def test_evaluation_counts():
    model, cost = PendulumDynamics(), PendulumCost()
    cem = CEM(model, cost, 5, -2.0, 2.0, population=10, elites=2, iterations=3)
    cem.plan(torch.zeros(2, 3))
    assert cem.evaluations_ == 2 * (3 * 10 + 1) * 5  # iterations + the final rollout
    gradient = GradientMPC(model, cost, 5, -2.0, 2.0, first_iterations=4, restarts=3)
    gradient.plan(torch.zeros(1, 3))
    assert gradient.backward_evaluations_ == 4 * 3 * 5
    assert gradient.evaluations_ == (4 + 1) * 3 * 5 + 5


def test_latent_modes():
    torch.manual_seed(0)
    model = ForwardModel(3, 1, latent_dim=2, hidden_dims=(8,))
    cost = PendulumCost()
    state = torch.tensor([[0.0, 1.0, 0.0]])
    u = torch.zeros(1, 1, 4, 1)
    sampler = GradientMPC(model, cost, 4, -2.0, 2.0, latent_mode="sample", latent_samples=5)
    sampler.reset()
    latents = sampler._sampled_latents(1)
    assert latents.shape == (1, 1, 5, 4, 2)
    averaged, _ = sampler.evaluate(state, u, latents)
    from eblearn.world import rollout, trajectory_cost

    one_by_one = [
        trajectory_cost(
            cost,
            rollout(model, state[0], sampler.to_action(u)[0, 0], z),
            sampler.to_action(u)[0, 0],
        )
        for z in latents[0, 0]
    ]
    torch.testing.assert_close(averaged[0, 0], torch.stack(one_by_one).mean())

    optimizer = GradientMPC(
        model, cost, 4, -2.0, 2.0, latent_mode="optimize", latent_weight=0.5, first_iterations=3
    )
    plan = optimizer.plan(state)
    assert plan.latents is not None
    assert plan.latents.shape == (1, 4, 2)
    recomputed = (
        trajectory_cost(
            cost, rollout(model, state[0], plan.actions[0], plan.latents[0]), plan.actions[0]
        )
        + 0.5 * model.latent_penalty(plan.latents[0]).sum()
    )
    torch.testing.assert_close(plan.cost[0], recomputed, rtol=1e-5, atol=1e-5)


def test_planner_errors():
    model, cost = PendulumDynamics(), PendulumCost()
    with pytest.raises(ValueError, match="cannot optimize z"):
        CEM(model, cost, 5, -2.0, 2.0, latent_mode="optimize").reset()
    with pytest.raises(ValueError, match="unknown latent_mode 'x'; valid choices: mean"):
        GradientMPC(model, cost, 5, -2.0, 2.0, latent_mode="x").reset()
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        GradientMPC(model, cost, 0, -2.0, 2.0).reset()
    with pytest.raises(ValueError, match="low < high"):
        GradientMPC(model, cost, 5, 2.0, -2.0).reset()
    with pytest.raises(ValueError, match="elites must be in"):
        CEM(model, cost, 5, -2.0, 2.0, population=10, elites=20).reset()
    with pytest.raises(ValueError, match=r"states must have shape \(B, 3\)"):
        GradientMPC(model, cost, 5, -2.0, 2.0).act(torch.zeros(2))
    with pytest.raises(ValueError, match="unknown planner 'x'; valid planners: cem, gradient"):
        build_planner("x", model, cost, 5, -2.0, 2.0)
    with pytest.raises(
        ValueError, match="unknown option 'restarts' of planner 'cem'; valid options: alpha, elites"
    ):
        build_planner("cem", model, cost, 5, -2.0, 2.0, restarts=3)
    with pytest.raises(ValueError, match="refine must be in"):
        CEMGradient(
            CEM(model, cost, 5, -2.0, 2.0, elites=2), GradientMPC(model, cost, 5, -2.0, 2.0), 3
        ).reset()
