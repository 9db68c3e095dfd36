"""CEM → gradient: a coarse sampling search, then gradient descent from its best sequences.

CEM is good at escaping the poor local minima a gradient planner may start in (a pendulum
hanging still has no gradient telling it which way to swing); gradient descent is good at the
last digits, which sampling reaches only with many draws. The hybrid runs a few CEM
iterations, then :meth:`GradientMPC.descend` from the ``refine`` best elites, and keeps the
better of the two answers. Its warm start feeds the CEM mean.

[0] Bharadhwaj, Xie, Shkurti, Model-predictive control via cross-entropy and gradient-based
    optimization, 2020, https://arxiv.org/abs/2004.08763
"""

from __future__ import annotations

import torch
from torch import Tensor

from eblearn.world.cem import CEM
from eblearn.world.gradient_mpc import GradientMPC
from eblearn.world.planner import Plan, Planner


class CEMGradient(Planner):
    """CEM search refined by gradient MPC (see the module docstring).

    Args:
        cem: The sampling stage (its model, cost, horizon and bounds are used).
        gradient: The refinement stage (same model, cost, horizon and bounds);
            ``gradient.iterations`` Adam steps are taken per call.
        refine: Number of CEM elites refined by gradient descent.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), 0.1 * torch.eye(1))
        >>> cem = CEM(model, cost, 5, -1.0, 1.0, population=50, elites=5, iterations=2)
        >>> planner = CEMGradient(cem, GradientMPC(model, cost, 5, -1.0, 1.0, iterations=5))
        >>> bool(planner.act(torch.tensor([2.0])).item() < -0.5)
        True
    """

    supports_latent_optimization = True

    def __init__(self, cem: CEM, gradient: GradientMPC, refine: int = 4) -> None:
        super().__init__(
            cem.model,
            cem.cost,
            cem.horizon,
            cem.action_low,
            cem.action_high,
            latent_mode=gradient.latent_mode,
            latent_samples=gradient.latent_samples,
            latent_weight=gradient.latent_weight,
            seed=cem.seed,
            terminal_cost=cem.terminal_cost,
        )
        self.cem = cem
        self.gradient = gradient
        self.refine = refine

    def _check(self) -> None:
        if self.cem.horizon != self.gradient.horizon or self.cem.model is not self.gradient.model:
            raise ValueError("the CEM and gradient stages must share the model and the horizon")
        if not 1 <= self.refine <= self.cem.elites:
            raise ValueError(f"refine must be in [1, elites={self.cem.elites}], got {self.refine}")
        super()._check()

    def reset(self) -> CEMGradient:
        super().reset()
        self.cem.reset()
        self.gradient.reset()
        return self

    def plan(self, state: Tensor, initial: Tensor | None = None) -> Plan:
        state = self._prepare(state)
        self.cem.warm_ = self.warm_
        with torch.no_grad():
            mean = self.cem._start_mean(state.shape[0], initial)
            best_u, best_cost, elites, _, _ = self.cem.search(state, mean)
        refined = self.gradient.descend(state, elites[:, : self.refine], self.gradient.iterations)
        use_cem = best_cost < refined.cost
        if bool(use_cem.any()):
            with torch.no_grad():
                _, states = self.cem.evaluate(state, best_u[:, None])
            refined.actions = torch.where(
                use_cem[:, None, None], self.to_action(best_u), refined.actions
            )
            refined.states = torch.where(use_cem[:, None, None], states[:, 0], refined.states)
            refined.cost = torch.minimum(best_cost, refined.cost)
        self.evaluations_ = self.cem.evaluations_ + self.gradient.evaluations_
        self.backward_evaluations_ = self.gradient.backward_evaluations_
        return refined
