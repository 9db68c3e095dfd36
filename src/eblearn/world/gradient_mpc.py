"""Gradient MPC: the action sequence found by back-propagation through the unrolled model.

``min_{a ∈ box} J(a) = Σ_{k<H} C(s[k+1], a[k]) + C_T(s[H])``, ``s[k+1] = G(s[k], a[k], z[k])``,
by projected Adam on the normalized actions: each iteration unrolls the model, back-propagates
``J`` (the Kelley-Bryson adjoint method: reverse-mode differentiation through time, see
:mod:`eblearn.world.adjoint`) and clips the actions back into the box. Several starting
sequences run side by side as one batch: the previous plan shifted by one step (the warm
start), an optional policy rollout, and random sequences (restarts); the best one found wins.
In ``"optimize"`` latent mode ``z`` is descended on jointly, penalized by ``R(z)``.

[0] LeCun, Deep learning and world models, lecture slides: "Optimize (a[1], ..., a[T]) =
    argmin Σ C(s[t]) through backprop (== Kelley-Bryson adjoint state method)".
[1] Bryson and Ho, Applied Optimal Control, 1969.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics
from eblearn.world.planner import Plan, Planner, best_of, policy_sequence


class GradientMPC(Planner):
    """Receding-horizon planning by gradient descent on the action sequence.

    Args:
        model, cost, horizon, action_low, action_high, latent_mode, latent_samples,
        latent_weight, seed, terminal_cost: See :class:`~eblearn.world.planner.Planner`.
        iterations: Adam steps per call when warm-started.
        first_iterations: Adam steps on a call without warm start (default ``4 × iterations``).
        restarts: Starting sequences per call, warm start and policy included.
        lr: Adam step size in normalized action units (the box is ``[-1, 1]``).
        policy: A policy ``a = P(s)`` whose rollout through the model is one starting sequence.

    Raises:
        ValueError: On the first call, if a setting is out of range.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), 0.1 * torch.eye(1))
        >>> planner = GradientMPC(model, cost, horizon=5, action_low=-1.0, action_high=1.0)
        >>> action = planner.act(torch.tensor([2.0]))  # pushes the state toward 0
        >>> bool(-1.0 <= action.item() < -0.5)
        True
    """

    supports_latent_optimization = True

    def __init__(
        self,
        model: Dynamics,
        cost: Cost,
        horizon: int,
        action_low: Tensor | float,
        action_high: Tensor | float,
        iterations: int = 10,
        first_iterations: int | None = None,
        restarts: int = 4,
        lr: float = 0.1,
        policy: nn.Module | None = None,
        latent_mode: str = "mean",
        latent_samples: int = 8,
        latent_weight: float = 1.0,
        seed: int = 0,
        terminal_cost: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__(
            model,
            cost,
            horizon,
            action_low,
            action_high,
            latent_mode=latent_mode,
            latent_samples=latent_samples,
            latent_weight=latent_weight,
            seed=seed,
            terminal_cost=terminal_cost,
        )
        self.iterations = iterations
        self.first_iterations = first_iterations
        self.restarts = restarts
        self.lr = lr
        self.policy = policy

    def _check(self) -> None:
        super()._check()
        if self.iterations < 0 or (self.first_iterations or 0) < 0:
            raise ValueError(
                f"iterations must be >= 0, got {self.iterations} and {self.first_iterations}"
            )
        if self.restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {self.restarts}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def plan(self, state: Tensor, initial: Tensor | None = None) -> Plan:
        state = self._prepare(state)
        batch = state.shape[0]
        starts = []
        if initial is not None:
            starts.append(self.to_normalized(initial).clamp(-1, 1))
        warm = self.warm_start(batch)
        if warm is not None:
            starts.append(warm)
        if self.policy is not None:
            sequence = policy_sequence(self.policy, self.model, state, self.horizon)
            starts.append(self.to_normalized(sequence).clamp(-1, 1)[:, None])
        filled = sum(s.shape[1] for s in starts)
        if filled < self.restarts:
            starts.append(self.random_sequences(batch, self.restarts - filled))
        iterations = self.iterations
        if warm is None:
            iterations = (
                4 * self.iterations if self.first_iterations is None else self.first_iterations
            )
        return self.descend(state, torch.cat(starts, dim=1), iterations)

    def descend(self, state: Tensor, u: Tensor, iterations: int) -> Plan:
        """Projected Adam from normalized sequences ``u (B, R, H, A)``; the best one found."""
        batch, count = u.shape[:2]
        u = u.detach().clone().requires_grad_(True)
        parameters = [u]
        optimize_z = self._latent_dim > 0 and self.latent_mode == "optimize"
        latents = self._sampled_latents(batch)  # (B, 1, M, H, L) in "sample" mode, else None
        if optimize_z:
            shape = (batch, count, 1, self.horizon, self._latent_dim)
            latents = torch.zeros(shape, device=u.device, requires_grad=True)
            parameters.append(latents)
        adam = _Adam(parameters, self.lr)
        best = _Best(u.detach()[:, 0], None if latents is None or not optimize_z else latents)
        draws = latents.shape[2] if latents is not None else 1
        for _ in range(iterations):
            cost, _ = self.evaluate(state, u, latents)
            best.update(cost.detach(), u.detach(), latents)
            gradients = torch.autograd.grad(cost.sum(), parameters)
            self.backward_evaluations_ += batch * count * self.horizon * draws
            with torch.no_grad():
                adam.step(gradients)
                u.clamp_(-1, 1)
        with torch.no_grad():
            cost, _ = self.evaluate(state, u, latents)
            best.update(cost, u.detach(), latents)
            chosen = best.z if optimize_z else latents
            _, states = self.evaluate(state, best.u[:, None], chosen)
        optimized = best.z[:, 0, 0] if best.z is not None else None
        return Plan(self.to_action(best.u), states[:, 0], best.cost, optimized)


class _Adam:
    """Adam [0] on a few tensors, written out (no optimizer object per planning call).

    ``m ← β₁ m + (1-β₁) g``, ``v ← β₂ v + (1-β₂) g²``, ``x ← x - lr · m̂ / (√v̂ + ε)`` with the
    bias corrections ``m̂ = m / (1-β₁ᵗ)``, ``v̂ = v / (1-β₂ᵗ)``.

    [0] Kingma and Ba, Adam: a method for stochastic optimization, 2015,
        https://arxiv.org/abs/1412.6980
    """

    def __init__(self, parameters: list[Tensor], lr: float, betas=(0.9, 0.999), eps=1e-8):
        self.parameters, self.lr, self.betas, self.eps = parameters, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in parameters]
        self.v = [torch.zeros_like(p) for p in parameters]
        self.t = 0

    def step(self, gradients: tuple[Tensor, ...]) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for parameter, gradient, m, v in zip(self.parameters, gradients, self.m, self.v):
            m.mul_(beta1).add_(gradient, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
            denominator = (v / correction2).sqrt_().add_(self.eps)
            parameter.addcdiv_(m, denominator, value=-self.lr / correction1)


class _Best:
    """The lowest-cost sequence (and optimized z) seen so far for each of B problems."""

    def __init__(self, u: Tensor, latents: Tensor | None) -> None:
        self.u = u.clone()  # (B, H, A)
        self.cost = torch.full((u.shape[0],), float("inf"), device=u.device)
        self.z = None if latents is None else latents.detach()[:, :1].clone()  # (B, 1, 1, H, L)

    def update(self, cost: Tensor, u: Tensor, latents: Tensor | None) -> None:
        candidate_u, candidate_cost = best_of(cost, u)
        better = candidate_cost < self.cost
        self.u = torch.where(better[:, None, None], candidate_u, self.u)
        if self.z is not None and latents is not None:
            rows = torch.arange(cost.shape[0], device=cost.device)
            candidate_z = latents.detach()[rows, cost.argmin(dim=1)][:, None]
            self.z = torch.where(better.view(-1, 1, 1, 1, 1), candidate_z, self.z)
        self.cost = torch.minimum(candidate_cost, self.cost)
