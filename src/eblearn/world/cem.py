"""Sampling planners: the cross-entropy method (CEM) and model-predictive path integral (MPPI).

Both search the normalized action box with a Gaussian over whole sequences, evaluated through
the model in one batched rollout per iteration, and need no gradient:

- CEM: draw ``N`` sequences ``u ~ clip(N(μ, σ²), -1, 1)``, keep the ``K`` of lowest cost,
  refit ``μ, σ`` to them (smoothed by ``α``: ``μ ← α μ + (1-α) μ_elite``), repeat; the best
  sequence ever drawn is returned. The warm start is the previous mean shifted by one step.
- MPPI: ``μ ← Σ_i w_i u_i`` with ``w_i ∝ exp(-(J_i - min J) / (λ · std J))`` (the temperature
  ``λ`` is in units of the population's cost spread, so it means the same on every task).

[0] Rubinstein, The cross-entropy method for combinatorial and continuous optimization, 1999;
    Chua et al., Deep RL in a handful of trials using probabilistic dynamics models (PETS),
    2018, https://arxiv.org/abs/1805.12114
[1] Williams et al., Information theoretic MPC for model-based reinforcement learning, 2017.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics, device_of
from eblearn.world.planner import Plan, Planner, best_of


class _SamplingPlanner(Planner):
    def __init__(
        self,
        model: Dynamics,
        cost: Cost,
        horizon: int,
        action_low: Tensor | float,
        action_high: Tensor | float,
        population: int,
        iterations: int,
        init_std: float,
        latent_mode: str,
        latent_samples: int,
        seed: int,
        terminal_cost: Callable[[Tensor], Tensor] | None,
    ) -> None:
        super().__init__(
            model,
            cost,
            horizon,
            action_low,
            action_high,
            latent_mode=latent_mode,
            latent_samples=latent_samples,
            seed=seed,
            terminal_cost=terminal_cost,
        )
        self.population = population
        self.iterations = iterations
        self.init_std = init_std

    def _check(self) -> None:
        super()._check()
        if self.population < 2 or self.iterations < 1:
            raise ValueError(
                f"population must be >= 2 and iterations >= 1, got {self.population} and "
                f"{self.iterations}"
            )
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")

    def _draw(self, mean: Tensor, std: Tensor | float) -> Tensor:
        """``N`` clipped Gaussian sequences ``(B, N, H, A)``; the mean itself is the first."""
        noise = torch.randn(
            (mean.shape[0], self.population - 1, *mean.shape[1:]),
            generator=self.generator(),
            device=mean.device,
        )
        samples = mean[:, None] + noise * (std[:, None] if isinstance(std, Tensor) else std)
        return torch.cat((mean[:, None], samples), dim=1).clamp(-1, 1)

    def _start_mean(self, batch: int, initial: Tensor | None) -> Tensor:
        if initial is not None:
            return self.to_normalized(initial[:, 0]).clamp(-1, 1)
        warm = self.warm_start(batch)
        if warm is not None:
            return warm[:, 0]
        return torch.zeros(batch, self.horizon, self.model.action_dim, device=device_of(self.model))

    def _finish(self, state: Tensor, u: Tensor, cost: Tensor, latents: Tensor | None) -> Plan:
        _, states = self.evaluate(state, u[:, None], latents)
        return Plan(self.to_action(u), states[:, 0], cost)


class CEM(_SamplingPlanner):
    """Cross-entropy method planner (see the module docstring).

    Args:
        model, cost, horizon, action_low, action_high, latent_mode, latent_samples, seed,
        terminal_cost: See :class:`~eblearn.world.planner.Planner` (``latent_mode``
            ``"optimize"`` is refused: CEM averages over sampled ``z``).
        population: Sequences drawn per iteration N.
        elites: Sequences kept to refit the Gaussian K.
        iterations: Refits per call.
        init_std: Standard deviation of the first Gaussian, in normalized units.
        min_std: Floor on the refitted standard deviation.
        alpha: Smoothing of the refit (0: replace by the elites' statistics).

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), 0.1 * torch.eye(1))
        >>> planner = CEM(model, cost, horizon=5, action_low=-1.0, action_high=1.0)
        >>> bool(planner.act(torch.tensor([2.0])).item() < -0.5)
        True
    """

    def __init__(
        self,
        model: Dynamics,
        cost: Cost,
        horizon: int,
        action_low: Tensor | float,
        action_high: Tensor | float,
        population: int = 400,
        elites: int = 40,
        iterations: int = 5,
        init_std: float = 0.5,
        min_std: float = 0.05,
        alpha: float = 0.1,
        latent_mode: str = "mean",
        latent_samples: int = 8,
        seed: int = 0,
        terminal_cost: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__(
            model,
            cost,
            horizon,
            action_low,
            action_high,
            population,
            iterations,
            init_std,
            latent_mode,
            latent_samples,
            seed,
            terminal_cost,
        )
        self.elites = elites
        self.min_std = min_std
        self.alpha = alpha

    def _check(self) -> None:
        super()._check()
        if not 1 <= self.elites <= self.population:
            raise ValueError(
                f"elites must be in [1, population={self.population}], got {self.elites}"
            )
        if not 0 <= self.alpha < 1:
            raise ValueError(f"alpha must be in [0, 1), got {self.alpha}")

    def search(
        self, state: Tensor, mean: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """Runs the CEM iterations from ``mean (B, H, A)``.

        Returns:
            The best sequence ``(B, H, A)``, its cost ``(B,)``, the last elites
            ``(B, K, H, A)`` with their costs ``(B, K)``, and the ``z`` draws used.
        """
        batch = state.shape[0]
        latents = self._sampled_latents(batch)
        std = torch.full_like(mean, self.init_std)
        best_u, best_cost = mean, torch.full((batch,), float("inf"), device=mean.device)
        for _ in range(self.iterations):
            samples = self._draw(mean, std)
            cost, _ = self.evaluate(state, samples, latents)
            elite_cost, index = cost.topk(self.elites, dim=1, largest=False)
            elites = samples.gather(
                1, index[:, :, None, None].expand(-1, -1, *samples.shape[2:])
            )  # (B, K, H, A)
            better = elite_cost[:, 0] < best_cost
            best_u = torch.where(better[:, None, None], elites[:, 0], best_u)
            best_cost = torch.minimum(elite_cost[:, 0], best_cost)
            mean = self.alpha * mean + (1 - self.alpha) * elites.mean(1)
            std = self.alpha * std + (1 - self.alpha) * elites.std(1, unbiased=False)
            std = std.clamp_min(self.min_std)
        return best_u, best_cost, elites, elite_cost, latents

    def plan(self, state: Tensor, initial: Tensor | None = None) -> Plan:
        state = self._prepare(state)
        with torch.no_grad():
            mean = self._start_mean(state.shape[0], initial)
            best_u, best_cost, _, _, latents = self.search(state, mean)
            return self._finish(state, best_u, best_cost, latents)


class MPPI(_SamplingPlanner):
    """Model-predictive path integral planner (see the module docstring).

    Args:
        model, cost, horizon, action_low, action_high, latent_mode, latent_samples, seed,
        terminal_cost: See :class:`~eblearn.world.planner.Planner`.
        population: Sequences drawn per iteration.
        iterations: Weighted updates per call.
        init_std: Standard deviation of the exploration noise, in normalized units.
        temperature: ``λ``, in units of the standard deviation of the population's costs.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), 0.1 * torch.eye(1))
        >>> planner = MPPI(model, cost, horizon=5, action_low=-1.0, action_high=1.0)
        >>> bool(planner.act(torch.tensor([2.0])).item() < -0.5)
        True
    """

    def __init__(
        self,
        model: Dynamics,
        cost: Cost,
        horizon: int,
        action_low: Tensor | float,
        action_high: Tensor | float,
        population: int = 400,
        iterations: int = 3,
        init_std: float = 0.5,
        temperature: float = 0.1,
        latent_mode: str = "mean",
        latent_samples: int = 8,
        seed: int = 0,
        terminal_cost: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__(
            model,
            cost,
            horizon,
            action_low,
            action_high,
            population,
            iterations,
            init_std,
            latent_mode,
            latent_samples,
            seed,
            terminal_cost,
        )
        self.temperature = temperature

    def _check(self) -> None:
        super()._check()
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    def plan(self, state: Tensor, initial: Tensor | None = None) -> Plan:
        state = self._prepare(state)
        with torch.no_grad():
            mean = self._start_mean(state.shape[0], initial)
            latents = self._sampled_latents(state.shape[0])
            best_u = mean
            best_cost = torch.full((state.shape[0],), float("inf"), device=mean.device)
            for _ in range(self.iterations):
                samples = self._draw(mean, self.init_std)
                cost, _ = self.evaluate(state, samples, latents)
                candidate_u, candidate_cost = best_of(cost, samples)
                better = candidate_cost < best_cost
                best_u = torch.where(better[:, None, None], candidate_u, best_u)
                best_cost = torch.minimum(candidate_cost, best_cost)
                spread = cost.std(dim=1, keepdim=True).clamp_min(1e-8)
                weights = torch.softmax(
                    -(cost - cost.min(1, keepdim=True).values) / (self.temperature * spread), 1
                )
                mean = (weights[:, :, None, None] * samples).sum(1)
            # The weighted mean is MPPI's answer; keep the best draw if it beats it.
            mean_cost, _ = self.evaluate(state, mean[:, None], latents)
            use_mean = mean_cost[:, 0] <= best_cost
            u = torch.where(use_mean[:, None, None], mean, best_u)
            return self._finish(state, u, torch.minimum(mean_cost[:, 0], best_cost), latents)
