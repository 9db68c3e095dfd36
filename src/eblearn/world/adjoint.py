"""The Kelley-Bryson adjoint method, written out: the gradient of a planning cost by hand.

For ``s[k+1] = G(s[k], a[k])`` and ``J = Σ_{k=1}^{H} C_k(s[k]) + C_T(s[H])`` with
``C_k(s) = C(s, a[k-1])``, the adjoint (co-state) row vectors run backwards in time:

    λ[H] = ∂C_H/∂s + ∂C_T/∂s                     at s[H]
    λ[k] = λ[k+1] ∂G/∂s(s[k], a[k]) + ∂C_k/∂s     at s[k],  k = H-1, ..., 1

and the gradient with respect to each action is

    ∂J/∂a[k] = λ[k+1] ∂G/∂a(s[k], a[k]) + ∂C/∂a(s[k+1], a[k]).

Back-propagation through the unrolled model computes exactly this (it is reverse-mode
differentiation of the same chain); :func:`adjoint_gradient` forms the Jacobians explicitly,
one step at a time, to show the equivalence and to test it. Planners use autograd, which does
the same products without building the matrices.

[0] Bryson and Ho, Applied Optimal Control, 1969; Kelley, Method of gradients, 1962.
[1] LeCun, A theoretical framework for back-propagation, 1988.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.functional import jacobian

from eblearn._validate import check_ndim
from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics, check_state_action
from eblearn.world.rollout import rollout


def adjoint_gradient(model: Dynamics, cost: Cost, state: Tensor, actions: Tensor) -> Tensor:
    """``∂J/∂a`` for one trajectory by the explicit backward adjoint recursion.

    Args:
        model: A forward model without latent variable (or with ``z = 0``).
        cost: The step and terminal cost.
        state: The start state ``s[0]``, shape ``(S,)``.
        actions: The action sequence, shape ``(H, A)``.

    Returns:
        The gradient, shape ``(H, A)``.

    Raises:
        ValueError: If ``state`` is not ``(S,)`` or ``actions`` not ``(H, A)``.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), torch.zeros(1, 1))
        >>> adjoint_gradient(model, cost, torch.zeros(1), torch.ones(2, 1)).squeeze(-1)
        tensor([6., 4.])
    """
    check_ndim(state, 1, "state", "(S,)")
    check_ndim(actions, 2, "actions", "(H, A)")
    check_state_action(model, state, actions)
    with torch.no_grad():
        states = rollout(model, state, actions)  # (H + 1, S)
    horizon = actions.shape[0]

    def step_cost_state(k: int) -> Tensor:  # ∂C(s[k], a[k-1])/∂s at s[k]
        return jacobian(lambda s: cost(s, actions[k - 1]), states[k])

    def step_cost_action(k: int) -> Tensor:  # ∂C(s[k+1], a[k])/∂a at a[k]
        return jacobian(lambda a: cost(states[k + 1], a), actions[k])

    terminal = jacobian(lambda s: cost.terminal(s), states[horizon])
    adjoint = step_cost_state(horizon) + terminal  # λ[H], shape (S,)
    gradient = torch.zeros_like(actions)
    for k in range(horizon - 1, -1, -1):
        dG_ds, dG_da = jacobian(lambda s, a: model(s, a), (states[k], actions[k]))  # (S,S), (S,A)
        gradient[k] = adjoint @ dG_da + step_cost_action(k)
        if k > 0:
            adjoint = adjoint @ dG_ds + step_cost_state(k)  # λ[k]
    return gradient
