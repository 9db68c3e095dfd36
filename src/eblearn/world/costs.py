"""Costs ``C(s[t+1], a[t])`` that planners and policies minimize, summed along a trajectory.

A cost maps a predicted state and the action that led to it to a scalar per trajectory:
``J(a[0..H-1]) = Σ_{k<H} C(s[k+1], a[k]) + C_T(s[H])`` with ``s[k+1] = G(s[k], a[k], z[k])``.
It works on any leading batch dimensions ``(..., S)``, so planners evaluate populations of
action sequences in one call.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim


class Cost(nn.Module):
    """A step cost ``C(s', a)`` and a terminal cost ``C_T(s)`` (zero unless overridden)."""

    def forward(self, next_state: Tensor, action: Tensor) -> Tensor:
        """Step cost of reaching ``next_state (..., S)`` by ``action (..., A)``; shape ``(...)``."""
        raise NotImplementedError

    def terminal(self, state: Tensor) -> Tensor:
        """Cost of the last predicted state ``(..., S)``; shape ``(...)``."""
        return state.new_zeros(state.shape[:-1])


class PendulumCost(Cost):
    """Pendulum-v1's negative reward on ``s = (cos θ, sin θ, θ̇)``: ``θ² + 0.1 θ̇² + 0.001 u²``.

    ``θ = atan2(sin θ, cos θ)`` lies in ``(-π, π]``, as gymnasium's ``angle_normalize``.

    Example:
        >>> PendulumCost()(torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([1.0]))
        tensor(9.9706)
    """

    def forward(self, next_state: Tensor, action: Tensor) -> Tensor:
        theta = torch.atan2(next_state[..., 1], next_state[..., 0])
        return theta.pow(2) + 0.1 * next_state[..., 2].pow(2) + 0.001 * action[..., 0].pow(2)


class MountainCarCost(Cost):
    """A shaped cost for MountainCarContinuous-v0: pump energy, reach the flag, spend little.

    ``C(s', a) = -k E(s') - b σ((x' - 0.45) / 0.01) + 0.1 u²`` with the mechanical energy
    ``E = ½ v² + 0.0025/3 sin 3x`` of the car (the environment's own gravity term), ``k = 1000``
    and a smooth goal bonus ``b = 100``. The true reward is sparse (+100 at the flag), which a
    short planning horizon cannot see; the energy term makes every swing count.

    Example:
        >>> cost = MountainCarCost()
        >>> bool(cost(torch.tensor([0.5, 0.0]), torch.zeros(1)) < -90)
        True
    """

    def __init__(self, energy_weight: float = 1000.0, goal_bonus: float = 100.0) -> None:
        super().__init__()
        self.energy_weight, self.goal_bonus = energy_weight, goal_bonus

    def forward(self, next_state: Tensor, action: Tensor) -> Tensor:
        position, speed = next_state[..., 0], next_state[..., 1]
        energy = 0.5 * speed.pow(2) + 0.0025 / 3 * torch.sin(3 * position)
        goal = torch.sigmoid((position - 0.45) / 0.01)
        return (
            -self.energy_weight * energy
            - self.goal_bonus * goal
            + 0.1 * action[..., 0].clamp(-1, 1).pow(2)
        )


class QuadraticCost(Cost):
    """``C(s', a) = s'ᵀ Q s' + aᵀ R a`` and ``C_T(s) = sᵀ Q_T s``: the LQR cost.

    Args:
        Q: State weight ``(S, S)``, symmetric positive semi-definite.
        R: Action weight ``(A, A)``, symmetric positive definite.
        Q_terminal: Extra weight on the last state ``(S, S)`` (default: none).

    Example:
        >>> QuadraticCost(torch.eye(2), torch.eye(1))(torch.ones(2), torch.ones(1))
        tensor(3.)
    """

    Q: Tensor
    R: Tensor
    Q_terminal: Tensor

    def __init__(self, Q: Tensor, R: Tensor, Q_terminal: Tensor | None = None) -> None:
        super().__init__()
        check_ndim(Q, 2, "Q", "(S, S)")
        check_ndim(R, 2, "R", "(A, A)")
        self.register_buffer("Q", Q.clone())
        self.register_buffer("R", R.clone())
        self.register_buffer(
            "Q_terminal", torch.zeros_like(Q) if Q_terminal is None else Q_terminal
        )

    def forward(self, next_state: Tensor, action: Tensor) -> Tensor:
        return ((next_state @ self.Q) * next_state).sum(-1) + ((action @ self.R) * action).sum(-1)

    def terminal(self, state: Tensor) -> Tensor:
        return ((state @ self.Q_terminal) * state).sum(-1)


class GoalCost(Cost):
    """Squared distance to a goal (state or embedding): ``w_k ||s' - g||²`` + ``w_T ||s_H - g||²``.

    The goal is one state ``(S,)`` or one per planning problem ``(B, S)``; planners evaluate
    states of shape ``(B, N, ..., S)``, so a per-problem goal is broadcast over the trailing
    population dimensions. Set it with :meth:`set_goal`.

    Args:
        step_weight: Weight ``w_k`` of the distance at every step.
        terminal_weight: Weight ``w_T`` of the distance at the last step.
        action_weight: Weight of ``||a||²``.

    Example:
        >>> cost = GoalCost(step_weight=0.0, terminal_weight=1.0).set_goal(torch.zeros(2))
        >>> cost.terminal(torch.tensor([3.0, 4.0]))
        tensor(25.)
    """

    goal: Tensor

    def __init__(
        self, step_weight: float = 0.0, terminal_weight: float = 1.0, action_weight: float = 0.0
    ) -> None:
        super().__init__()
        self.step_weight = step_weight
        self.terminal_weight = terminal_weight
        self.action_weight = action_weight
        self.register_buffer("goal", torch.zeros(0))

    def set_goal(self, goal: Tensor) -> GoalCost:
        """Sets the goal ``(S,)`` or ``(B, S)``; returns ``self``."""
        if goal.ndim not in (1, 2):
            raise ValueError(f"goal must have shape (S,) or (B, S), got {tuple(goal.shape)}")
        self.goal = goal.detach()
        return self

    def _distance(self, state: Tensor) -> Tensor:
        if self.goal.numel() == 0:
            raise ValueError("GoalCost has no goal; call set_goal(goal) first")
        goal = self.goal
        if goal.ndim == 2:  # (B, S) against states (B, N, ..., S)
            goal = goal.reshape(goal.shape[0], *([1] * (state.ndim - 2)), goal.shape[1])
        return (state - goal).pow(2).sum(-1)

    def forward(self, next_state: Tensor, action: Tensor) -> Tensor:
        cost = self.step_weight * self._distance(next_state)
        return cost + self.action_weight * action.pow(2).sum(-1)

    def terminal(self, state: Tensor) -> Tensor:
        return self.terminal_weight * self._distance(state)
