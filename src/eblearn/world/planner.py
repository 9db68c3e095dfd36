"""What every planner shares: action bounds, receding horizon, warm starts, latent handling.

A planner minimizes ``J(a[0..H-1]) = Σ_k C(s[k+1], a[k]) + C_T(s[H])`` through a forward model
from the current state, then (receding horizon) executes only ``a[0]`` and keeps the rest of the
plan, shifted by one step, to warm-start the next call. Planners work on a batch of independent
problems ``(B, S)`` at once; actions live in the box ``[low, high]`` and are searched in the
normalized box ``u ∈ [-1, 1]`` (``a = mid + half · u``), so step sizes and noise levels mean the
same on every task.

With a latent-variable model, ``latent_mode`` says what to do with ``z``:

    "mean"      use ``z = 0``, the mode of ``q(z) ∝ exp(-R(z))``;
    "sample"    average the cost over ``latent_samples`` draws of ``z ~ q(z)`` (the same draws
                for every candidate in a call: common random numbers);
    "optimize"  minimize over ``z`` too, adding ``latent_weight · Σ_k R(z[k])`` to the cost
                (gradient planners only).

``terminal_cost`` (optional) adds ``V(s[H])`` to ``J``: a cost-to-go beyond the horizon, such
as a learned critic (:class:`eblearn.world.critic.Critic`), so a short horizon plans as if it
saw the whole future.

Counters: ``evaluations_`` counts forward model evaluations (one state, one step) and
``backward_evaluations_`` the same through the backward pass, since a planner start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice, check_finite
from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics, device_of
from eblearn.world.rollout import rollout, trajectory_cost

LATENT_MODES = ("mean", "sample", "optimize")


@dataclass
class Plan:
    """A plan for ``B`` problems.

    Attributes:
        actions: The action sequences, shape ``(B, H, A)``.
        states: The predicted states, shape ``(B, H + 1, S)`` (averaged over ``z`` samples).
        cost: The planning cost ``J`` of each sequence, shape ``(B,)``.
        latents: The optimized ``z`` ``(B, H, L)`` in ``"optimize"`` mode, else ``None``.
    """

    actions: Tensor
    states: Tensor
    cost: Tensor
    latents: Tensor | None = None


class Planner:
    """Base class of the planners (see the module docstring).

    Args:
        model: The forward model.
        cost: The cost to minimize.
        horizon: Planning horizon H.
        action_low: Lower action bounds ``(A,)`` (or a float for every dimension).
        action_high: Upper action bounds ``(A,)``.
        latent_mode: ``"mean"``, ``"sample"`` or ``"optimize"`` (for models with ``z``).
        latent_samples: Draws of ``z`` per candidate in ``"sample"`` mode.
        latent_weight: Weight of ``R(z)`` in ``"optimize"`` mode.
        seed: Seed of the planner's random draws (restarts, populations, ``z``).
        terminal_cost: A cost-to-go ``V``: states ``(..., S)`` to costs ``(...)``, added at
            ``s[H]`` (default: none).

    Attributes (after :meth:`reset` or the first call):
        warm_: The shifted previous plan in normalized units ``(B, H, A)``, or ``None``.
        last_plan_: The last :class:`Plan` returned by :meth:`act`.
        evaluations_: Forward model evaluations so far.
        backward_evaluations_: Model evaluations back-propagated through so far.
    """

    supports_latent_optimization = False

    def __init__(
        self,
        model: Dynamics,
        cost: Cost,
        horizon: int,
        action_low: Tensor | float,
        action_high: Tensor | float,
        latent_mode: str = "mean",
        latent_samples: int = 8,
        latent_weight: float = 1.0,
        seed: int = 0,
        terminal_cost: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.model = model
        self.cost = cost
        self.horizon = horizon
        self.action_low = action_low
        self.action_high = action_high
        self.latent_mode = latent_mode
        self.latent_samples = latent_samples
        self.latent_weight = latent_weight
        self.seed = seed
        self.terminal_cost = terminal_cost
        self.warm_: Tensor | None = None
        self.last_plan_: Plan | None = None
        self.evaluations_ = 0
        self.backward_evaluations_ = 0
        self.generator_: torch.Generator | None = None

    # --- checks and conversions -------------------------------------------------------------

    def _check(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        check_choice(self.latent_mode, LATENT_MODES, "latent_mode")
        if self.latent_mode == "optimize" and not self.supports_latent_optimization:
            raise ValueError(
                f"{type(self).__name__} cannot optimize z; use latent_mode 'mean' or 'sample', "
                "or a gradient planner"
            )
        if self.terminal_cost is not None and not callable(self.terminal_cost):
            raise ValueError(
                f"terminal_cost must be callable (states -> costs), got {self.terminal_cost!r}"
            )
        if self.latent_samples < 1:
            raise ValueError(f"latent_samples must be >= 1, got {self.latent_samples}")
        low, high = self._bounds()
        if low.shape != (self.model.action_dim,) or bool((low >= high).any()):
            raise ValueError(
                f"action bounds must be ({self.model.action_dim},) with low < high, got "
                f"{low.tolist()} and {high.tolist()}"
            )

    def _bounds(self) -> tuple[Tensor, Tensor]:
        dim = self.model.action_dim
        low = torch.as_tensor(self.action_low, dtype=torch.float32).expand(dim).clone()
        high = torch.as_tensor(self.action_high, dtype=torch.float32).expand(dim).clone()
        device = device_of(self.model)
        return low.to(device), high.to(device)

    def to_action(self, u: Tensor) -> Tensor:
        """Actions ``a = mid + half · u`` from normalized ``u ∈ [-1, 1]``."""
        low, high = self._bounds()
        return (high + low) / 2 + (high - low) / 2 * u

    def to_normalized(self, action: Tensor) -> Tensor:
        """The inverse of :meth:`to_action`."""
        low, high = self._bounds()
        return (action - (high + low) / 2) / ((high - low) / 2)

    @property
    def _latent_dim(self) -> int:
        return self.model.latent_dim

    def _sampled_latents(self, batch: int) -> Tensor | None:
        """``z`` draws ``(B, 1, M, H, L)`` for ``"sample"`` mode, else ``None``."""
        if self._latent_dim == 0 or self.latent_mode != "sample":
            return None
        shape = (batch, 1, self.latent_samples, self.horizon)
        return self.model.sample_latent(shape, generator=self.generator())

    # --- evaluation -------------------------------------------------------------------------

    def evaluate(
        self, state: Tensor, u: Tensor, latents: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Costs ``(B, N)`` and predicted states ``(B, N, H+1, S)`` of sequences ``u (B, N, H, A)``.

        ``latents`` is ``(B, N or 1, M, H, L)`` (averaged over the M draws) or ``None``.
        """
        batch, count = u.shape[:2]
        actions = self.to_action(u)
        if latents is None:
            starts = state[:, None, :].expand(batch, count, state.shape[-1])
            states = rollout(self.model, starts, actions)
            cost = trajectory_cost(self.cost, states, actions, self.terminal_cost)
            draws = 1
        else:
            draws = latents.shape[2]
            actions = actions[:, :, None].expand(batch, count, draws, *actions.shape[2:])
            latents = latents.expand(batch, count, *latents.shape[2:])
            starts = state[:, None, None, :].expand(batch, count, draws, state.shape[-1])
            states = rollout(self.model, starts, actions, latents)
            cost = trajectory_cost(self.cost, states, actions, self.terminal_cost)
            if self.latent_mode == "optimize":
                cost = cost + self.latent_weight * self.model.latent_penalty(latents).sum(-1)
            cost, states = cost.mean(2), states.mean(2)
        self.evaluations_ += batch * count * draws * self.horizon
        return cost, states

    # --- receding horizon -------------------------------------------------------------------

    def reset(self) -> Planner:
        """Forgets the warm start and the counters, and reseeds; returns ``self``."""
        self._check()
        self.warm_, self.last_plan_ = None, None
        self.evaluations_ = self.backward_evaluations_ = 0
        self.generator_ = torch.Generator(device=device_of(self.model)).manual_seed(self.seed)
        return self

    def generator(self) -> torch.Generator:
        """The planner's random generator (created by :meth:`reset`)."""
        if self.generator_ is None:
            self.reset()
        return self.generator_  # type: ignore[return-value]

    def _prepare(self, state: Tensor) -> Tensor:
        if self.generator_ is None:
            self.reset()
        if state.ndim != 2 or state.shape[-1] != self.model.state_dim:
            raise ValueError(
                f"states must have shape (B, {self.model.state_dim}) or "
                f"({self.model.state_dim},), got {tuple(state.shape)}"
            )
        check_finite(state, "planner state")
        return state.to(device_of(self.model), torch.float32)

    def warm_start(self, batch: int) -> Tensor | None:
        """The shifted previous plan ``(B, 1, H, A)`` when its batch matches, else ``None``."""
        if self.warm_ is None or self.warm_.shape[0] != batch:
            return None
        return self.warm_[:, None]

    def random_sequences(self, batch: int, count: int) -> Tensor:
        """``count`` uniform random normalized sequences per problem, ``(B, count, H, A)``."""
        shape = (batch, count, self.horizon, self.model.action_dim)
        u = torch.rand(shape, generator=self.generator(), device=device_of(self.model))
        return 2 * u - 1

    def plan(self, state: Tensor, initial: Tensor | None = None) -> Plan:
        """Plans from ``state (B, S)``; ``initial`` adds candidate actions ``(B, K, H, A)``."""
        raise NotImplementedError

    def act(self, state: Tensor) -> Tensor:
        """Plans from ``state`` (``(S,)`` or ``(B, S)``), keeps the shifted plan, returns ``a[0]``.

        Returns:
            The first planned action, shape ``(A,)`` or ``(B, A)``.
        """
        single = state.ndim == 1
        plan = self.plan(state[None] if single else state)
        self.last_plan_ = plan
        u = self.to_normalized(plan.actions)
        self.warm_ = torch.cat((u[:, 1:], u[:, -1:]), dim=1).detach()
        action = plan.actions[:, 0]
        return action[0] if single else action


def best_of(cost: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """The lowest-cost sequence per problem: ``(B, H, A)`` and its cost ``(B,)``."""
    index = cost.argmin(dim=1)
    rows = torch.arange(u.shape[0], device=u.device)
    return u[rows, index], cost[rows, index]


def policy_sequence(policy: nn.Module, model: Dynamics, state: Tensor, horizon: int) -> Tensor:
    """The actions ``(B, H, A)`` of ``a[k] = P(s[k])`` unrolled through ``model`` from ``state``."""
    actions = []
    with torch.no_grad():
        for _ in range(horizon):
            action = policy(state)
            actions.append(action)
            state = model(state, action)
    return torch.stack(actions, dim=1)
