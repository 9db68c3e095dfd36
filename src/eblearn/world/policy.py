"""A policy ``a = P(s)`` learned by back-propagating the summed cost through the forward model.

``min_θ E_{s[0]} [ Σ_{k<H} C(s[k+1], a[k]) + C_T(s[H]) ]`` with ``a[k] = P_θ(s[k])`` and
``s[k+1] = G(s[k], a[k], z[k])``: the model is frozen, and the gradient with respect to ``θ``
flows back through every step of the unrolled model (the Kelley-Bryson adjoint method applied
to the policy's parameters, as in the talk's "gradient-based policy learning"). Start states
are drawn from collected data. With a latent model, ``z`` is drawn from the prior at each step
(``latent_mode="sample"``) or set to 0.

The learned policy acts alone (one forward pass per action) or warm-starts gradient MPC
(``GradientMPC(policy=...)``).

[0] Nguyen and Widrow, Neural networks for self-learning control systems, 1990.
[1] Henaff, Canziani, LeCun, Model-predictive policy learning with uncertainty
    regularization, ICLR 2019, https://arxiv.org/abs/1901.02705
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice
from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics, device_of
from eblearn.world.models import mlp
from eblearn.world.rollout import trajectory_cost


class Policy(nn.Module):
    """``P(s) = mid + half · tanh(f(ŝ))``: an MLP whose actions stay inside the box.

    Args:
        state_dim: State size S.
        action_low: Lower action bounds ``(A,)``.
        action_high: Upper action bounds ``(A,)``.
        hidden_dims: Hidden layer sizes.

    Example:
        >>> policy = Policy(3, torch.tensor([-2.0]), torch.tensor([2.0]))
        >>> bool(policy(torch.randn(5, 3)).abs().max() <= 2.0)
        True
    """

    action_low: Tensor
    action_high: Tensor
    state_mean: Tensor
    state_std: Tensor

    def __init__(
        self,
        state_dim: int,
        action_low: Tensor,
        action_high: Tensor,
        hidden_dims: Sequence[int] = (64, 64),
    ) -> None:
        super().__init__()
        action_low = torch.as_tensor(action_low, dtype=torch.float32).reshape(-1)
        action_high = torch.as_tensor(action_high, dtype=torch.float32).reshape(-1)
        if action_low.shape != action_high.shape or bool((action_low >= action_high).any()):
            raise ValueError(
                f"action bounds must have one shape with low < high, got {action_low.tolist()} "
                f"and {action_high.tolist()}"
            )
        self.state_dim, self.action_dim = state_dim, action_low.shape[0]
        self.hidden_dims = tuple(hidden_dims)
        self.net = mlp([state_dim, *hidden_dims, self.action_dim])
        self.register_buffer("action_low", action_low)
        self.register_buffer("action_high", action_high)
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))

    def config(self) -> dict[str, object]:
        """The constructor arguments (to rebuild the policy before loading its state)."""
        return {
            "state_dim": self.state_dim,
            "action_low": self.action_low.tolist(),
            "action_high": self.action_high.tolist(),
            "hidden_dims": list(self.hidden_dims),
        }

    def forward(self, state: Tensor) -> Tensor:
        """Actions ``(..., A)`` for states ``(..., S)``."""
        if state.shape[-1] != self.state_dim:
            raise ValueError(
                f"the policy takes states (..., {self.state_dim}), got {tuple(state.shape)}"
            )
        u = torch.tanh(self.net((state - self.state_mean) / self.state_std))
        mid = (self.action_high + self.action_low) / 2
        return mid + (self.action_high - self.action_low) / 2 * u


def fit_policy(
    policy: Policy,
    model: Dynamics,
    cost: Cost,
    start_states: Tensor,
    horizon: int = 30,
    iterations: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    grad_clip: float = 1.0,
    latent_mode: str = "mean",
    seed: int = 0,
) -> list[dict[str, float]]:
    """Trains ``policy`` by back-propagating the summed cost through ``model`` (frozen).

    Args:
        policy: The policy (trained in place; its state standardization is set from
            ``start_states``).
        model: The forward model.
        cost: The cost.
        start_states: States ``(N, S)`` to start the unrolls from.
        horizon: Steps unrolled per start H.
        iterations: Gradient steps.
        batch_size: Start states per step.
        lr: Adam learning rate.
        grad_clip: Largest gradient norm (0: no clipping).
        latent_mode: ``"mean"`` (z = 0) or ``"sample"`` (z from the prior at every step).
        seed: Seed of the start-state draws and of ``z``.

    Returns:
        Rows ``{"iteration", "cost"}`` every 10 iterations (cost per step, averaged).

    Raises:
        ValueError: If the shapes do not fit or a setting is out of range.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), 0.1 * torch.eye(1))
        >>> policy = Policy(1, torch.tensor([-1.0]), torch.tensor([1.0]), hidden_dims=(16,))
        >>> history = fit_policy(policy, model, cost, torch.randn(64, 1), horizon=5,
        ...                      iterations=100, batch_size=32, lr=1e-2)
        >>> history[-1]["cost"] < history[0]["cost"]
        True
    """
    check_choice(latent_mode, ("mean", "sample"), "latent_mode")
    if start_states.ndim != 2 or start_states.shape[1] != model.state_dim:
        raise ValueError(
            f"start_states must have shape (N, {model.state_dim}), got {tuple(start_states.shape)}"
        )
    if policy.state_dim != model.state_dim or policy.action_dim != model.action_dim:
        raise ValueError("the policy's state and action sizes differ from the model's")
    if horizon < 1 or iterations < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(
            f"horizon, iterations, batch_size and lr must be > 0, got {horizon}, "
            f"{iterations}, {batch_size}, {lr}"
        )
    device = device_of(model)
    start_states = start_states.to(device)
    policy.state_mean.copy_(start_states.mean(0))
    policy.state_std.copy_(start_states.std(0).clamp_min(1e-6))
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for parameter in frozen:
        parameter.requires_grad_(False)
    history = []
    try:
        policy.train()
        for iteration in range(iterations):
            index = torch.randint(
                len(start_states), (batch_size,), generator=generator, device=device
            )
            state = start_states[index]
            states, actions = [state], []
            for _ in range(horizon):
                action = policy(state)
                z = None
                if model.latent_dim and latent_mode == "sample":
                    z = model.sample_latent((batch_size,), generator=generator)
                state = model(state, action, z)
                states.append(state)
                actions.append(action)
            total = trajectory_cost(cost, torch.stack(states, 1), torch.stack(actions, 1))
            loss = total.mean() / horizon
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
            optimizer.step()
            if iteration % 10 == 0 or iteration == iterations - 1:
                history.append({"iteration": iteration, "cost": float(loss.detach())})
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
        policy.eval()
    return history


class PolicyController:
    """Acts with a policy: ``act(s) = P(s)``, no planning.

    Example:
        >>> policy = Policy(3, torch.tensor([-2.0]), torch.tensor([2.0]))
        >>> PolicyController(policy).act(torch.zeros(2, 3)).shape
        torch.Size([2, 1])
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def reset(self) -> PolicyController:
        return self

    def act(self, observations: Tensor) -> Tensor:
        with torch.no_grad():
            return self.policy(observations)
