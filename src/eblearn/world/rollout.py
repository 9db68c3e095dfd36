"""Unrolling a forward model along an action sequence, and the summed cost of the trajectory.

``s[k+1] = G(s[k], a[k], z[k])`` for ``k < H``, and
``J = Σ_{k<H} C(s[k+1], a[k]) + C_T(s[H]) + β Σ_k R(z[k])`` (the last term only when ``z`` is
optimized). Everything broadcasts over leading batch dimensions, so one call evaluates a whole
population of candidate sequences; back-propagating ``J`` through this loop is the
Kelley-Bryson adjoint method (see :mod:`eblearn.world.adjoint` for the explicit recursion).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics, check_state_action


def rollout(
    model: Dynamics, state: Tensor, actions: Tensor, latents: Tensor | None = None
) -> Tensor:
    """Predicted states ``s[0..H]`` from ``s[0]`` under ``actions``.

    Args:
        model: The forward model ``G``.
        state: Start states, shape ``(..., S)``.
        actions: Action sequences, shape ``(..., H, A)`` (the same leading dimensions).
        latents: Latent sequences ``(..., H, L)``, or ``None`` (deterministic / ``z = 0``).

    Returns:
        States, shape ``(..., H + 1, S)``; index 0 is ``state``.

    Raises:
        ValueError: If the shapes do not fit the model.

    Example:
        >>> import torch
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> rollout(model, torch.zeros(1), torch.ones(3, 1)).squeeze(-1)
        tensor([0., 1., 2., 3.])
    """
    check_state_action(model, state, actions)
    if actions.ndim < 2:
        raise ValueError(f"actions must have shape (..., H, A), got {tuple(actions.shape)}")
    states = [state]
    for k in range(actions.shape[-2]):
        z = None if latents is None else latents[..., k, :]
        states.append(model(states[-1], actions[..., k, :], z))
    return torch.stack(states, dim=-2)


def trajectory_cost(
    cost: Cost,
    states: Tensor,
    actions: Tensor,
    terminal_cost: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """``Σ_{k<H} C(s[k+1], a[k]) + C_T(s[H]) + V(s[H])`` for states ``(..., H+1, S)``.

    ``V`` is an optional extra terminal cost (a learned cost-to-go, see
    :mod:`eblearn.world.critic`) mapping states ``(..., S)`` to ``(...)``. Returns shape ``(...)``.
    """
    step_costs = cost(states[..., 1:, :], actions)  # (..., H)
    total = step_costs.sum(-1) + cost.terminal(states[..., -1, :])
    if terminal_cost is not None:
        total = total + terminal_cost(states[..., -1, :])
    return total
