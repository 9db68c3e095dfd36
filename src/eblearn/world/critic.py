"""A learned cost-to-go ``V(s)`` (a critic), used as a planner's terminal cost.

Fitted value iteration [0] through a forward model ``G`` (the model's rollouts, not the
environment's): from the critic ``V_k`` of the previous sweep, the targets on a set of states are
the one-step Bellman backups

    ``y(s) = min_{a ∈ 𝒜} C(G(s, a), a) + γ V_k(G(s, a))``

with the minimum over a fixed grid ``𝒜`` of actions in the box, and ``V_{k+1}`` is the
regression of ``y`` on ``s`` (mean squared error, Adam). With ``γ = 1`` on a linear system with a
quadratic cost and a quadratic critic, the sweeps are exactly the Riccati recursion (up to the
action grid), so ``V`` tends to the infinite-horizon LQR cost-to-go ``sᵀ P s``. A planner with
horizon ``H`` and terminal cost ``V`` then minimizes ``Σ_{k<H} C + V(s[H])``: a short horizon
that plans as if it saw the whole future [1].

[0] Bellman, Dynamic Programming, 1957; Ernst et al., Tree-based batch mode reinforcement
    learning (fitted Q iteration), JMLR 2005.
[1] Lowrey et al., Plan online, learn offline (POLO), 2019, https://arxiv.org/abs/1811.01848
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim
from eblearn.world.costs import Cost
from eblearn.world.dynamics import Dynamics


class Critic(nn.Module):
    """A cost-to-go ``V(s) = c · f(s)``, ``f`` a perceptron from ``(..., S)`` to ``(...)``.

    Args:
        state_dim: S.
        hidden: Width of the two hidden layers.
        scale: The fixed output scale ``c``, about the size of the costs-to-go (so ``f`` stays
            of order one).

    Example:
        >>> Critic(3)(torch.zeros(5, 3)).shape
        torch.Size([5])
    """

    def __init__(self, state_dim: int, hidden: int = 64, scale: float = 1.0) -> None:
        super().__init__()
        self.state_dim, self.hidden, self.scale = state_dim, hidden, scale
        self.net = nn.Sequential(
            nn.Linear(state_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def config(self) -> dict[str, object]:
        """The constructor arguments (to rebuild the critic before loading its state)."""
        return {"state_dim": self.state_dim, "hidden": self.hidden, "scale": self.scale}

    def forward(self, state: Tensor) -> Tensor:
        return self.scale * self.net(state).squeeze(-1)


class QuadraticCritic(nn.Module):
    """``V(s) = sᵀ P s`` with a learned symmetric ``P`` (the form of the LQR cost-to-go).

    Example:
        >>> QuadraticCritic(2)(torch.ones(2)).item()
        0.0
    """

    def __init__(self, state_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(state_dim, state_dim))

    @property
    def P(self) -> Tensor:
        """The symmetric matrix ``P = (W + Wᵀ) / 2``, shape ``(S, S)``."""
        return (self.weight + self.weight.T) / 2

    def forward(self, state: Tensor) -> Tensor:
        return ((state @ self.P) * state).sum(-1)


def action_grid(low: Tensor, high: Tensor, points: int) -> Tensor:
    """The Cartesian grid of ``points`` values per action dimension, shape ``(points^A, A)``.

    Example:
        >>> action_grid(torch.tensor([-1.0]), torch.tensor([1.0]), 3).squeeze(-1)
        tensor([-1.,  0.,  1.])
    """
    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    axes = [torch.linspace(float(lo), float(hi), points) for lo, hi in zip(low, high)]
    return torch.tensor(list(itertools.product(*[axis.tolist() for axis in axes])))


def bellman_targets(
    critic: nn.Module,
    model: Dynamics,
    cost: Cost,
    states: Tensor,
    actions: Tensor,
    discount: float,
) -> Tensor:
    """``y(s) = min_{a ∈ actions} C(G(s, a), a) + γ V(G(s, a))`` for states ``(N, S)``; ``(N,)``.

    Args:
        actions: The candidate actions ``(M, A)``.
    """
    count, candidates = states.shape[0], actions.shape[0]
    with torch.no_grad():
        starts = states[:, None].expand(count, candidates, states.shape[-1])  # (N, M, S)
        chosen = actions[None].expand(count, candidates, actions.shape[-1])  # (N, M, A)
        following = model(starts, chosen)  # (N, M, S)
        backup = cost(following, chosen) + discount * critic(following)  # (N, M)
        return backup.min(dim=1).values


def fit_critic(
    critic: nn.Module,
    model: Dynamics,
    cost: Cost,
    states: Tensor,
    action_low: Tensor | float,
    action_high: Tensor | float,
    sweeps: int = 30,
    steps: int = 100,
    discount: float = 0.95,
    grid: int = 21,
    lr: float = 1e-2,
) -> nn.Module:
    """Fits ``critic`` to the cost-to-go by fitted value iteration (see the module docstring).

    Args:
        critic: The critic ``V`` to fit (in place), e.g. :class:`Critic`.
        model: The forward model ``G`` the backups go through.
        cost: The step cost ``C(s', a)``.
        states: The states the value is fitted on, shape ``(N, S)`` (collected or sampled).
        action_low, action_high: The action box, ``(A,)`` or a float.
        sweeps: Bellman backups (value-iteration sweeps).
        steps: Adam steps of regression per sweep.
        discount: ``γ`` in ``(0, 1]``.
        grid: Actions per dimension of the grid the minimum is taken over.
        lr: Adam step size.

    Returns:
        ``critic``, fitted.

    Raises:
        ValueError: On a setting out of range or states of the wrong shape.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), torch.eye(1))
        >>> critic = fit_critic(QuadraticCritic(1), model, cost, torch.linspace(-1, 1, 9)[:, None],
        ...                     -2.0, 2.0, sweeps=20, discount=1.0, grid=101)
        >>> round(critic.P.item(), 2)  # the Riccati solution p = (p+1)/(p+2): p = 0.618
        0.62
    """
    check_ndim(states, 2, "states", "(N, S)")
    if states.shape[-1] != model.state_dim:
        raise ValueError(
            f"states must have shape (N, {model.state_dim}), got {tuple(states.shape)}"
        )
    if sweeps < 1 or steps < 1:
        raise ValueError(f"sweeps and steps must be >= 1, got {sweeps} and {steps}")
    if not 0 < discount <= 1:
        raise ValueError(f"discount must be in (0, 1], got {discount}")
    dim = model.action_dim
    low = torch.as_tensor(action_low, dtype=torch.float32).expand(dim)
    high = torch.as_tensor(action_high, dtype=torch.float32).expand(dim)
    actions = action_grid(low, high, grid).to(states)
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr)
    for _ in range(sweeps):
        targets = bellman_targets(critic, model, cost, states, actions, discount)
        for _ in range(steps):
            loss = (critic(states) - targets).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return critic


def fit_cost_to_go(
    model: Dynamics,
    cost: Cost,
    states: Tensor,
    action_low: Tensor,
    action_high: Tensor,
    sweeps: int = 30,
    discount: float = 0.97,
    seed: int = 0,
) -> Critic:
    """A :class:`Critic` of the discounted cost-to-go of ``cost`` under ``model``, fitted.

    The settings the command line uses (``eblearn world plan --critic``): an MLP of 2 × 64
    units whose output scale is the size of a cost-to-go, ``c = mean_s C(G(s, ā), ā) / (1 - γ)``
    (``ā`` the middle of the action box: the cost of staying about where the states are, summed
    over the discount's horizon ``1 / (1 - γ)``), fitted by :func:`fit_critic` with 60 Adam
    steps (lr 3e-3) per sweep and 21 grid actions per dimension (9 when there are several).

    Args:
        model: The forward model ``G`` the backups go through.
        cost: The step cost ``C(s', a)``.
        states: The states the value is fitted on, ``(N, S)``.
        action_low, action_high: The action box, ``(A,)``.
        sweeps: Value-iteration sweeps.
        discount: ``γ`` in ``(0, 1)``.
        seed: Seed of the critic's initial weights.

    Raises:
        ValueError: On a setting out of range or states of the wrong shape.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> from eblearn.world.costs import QuadraticCost
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> cost = QuadraticCost(torch.eye(1), torch.eye(1))
        >>> critic = fit_cost_to_go(model, cost, torch.linspace(-1, 1, 9)[:, None],
        ...                         torch.tensor([-2.0]), torch.tensor([2.0]), sweeps=2)
        >>> critic(torch.zeros(3, 1)).shape
        torch.Size([3])
    """
    check_ndim(states, 2, "states", "(N, S)")
    if not 0 < discount < 1:
        raise ValueError(f"discount must be in (0, 1) to scale the critic, got {discount}")
    middle = ((action_low + action_high) / 2).to(states).expand(len(states), -1)
    with torch.no_grad():
        step_cost = float(cost(model(states, middle), middle).abs().mean())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = Critic(states.shape[-1], hidden=64, scale=max(step_cost, 1e-3) / (1 - discount))
    grid = 21 if model.action_dim == 1 else 9
    fit_critic(
        critic,
        model,
        cost,
        states,
        action_low,
        action_high,
        sweeps=sweeps,
        steps=60,
        discount=discount,
        grid=grid,
        lr=3e-3,
    )
    return critic
