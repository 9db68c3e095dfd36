"""Training forward models on transitions, and measuring their error where it matters.

:func:`fit_forward_model` minimizes the model's loss (standardized one-step prediction error
plus ``β R(z)`` for a latent model) with Adam on mini-batches. :func:`model_error_report`
measures the error of open-loop predictions of ``k`` steps along trajectories, typically the
ones a planner visited: a model can be accurate on its training data and wrong where the
planner takes it, and this report is how to tell.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from eblearn.world.dynamics import Dynamics, device_of
from eblearn.world.models import ForwardModel
from eblearn.world.rollout import rollout
from eblearn.world.transitions import Transitions


def fit_forward_model(
    model: ForwardModel,
    data: Transitions,
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Fits ``model`` to ``data`` (standardization first, then Adam); returns the history.

    For ``"norm"`` latent models, ``model.latent_std`` is set afterwards to the standard
    deviation of the encoder's codes on the data (the planning prior).

    Args:
        model: The model to train (in place).
        data: Training transitions.
        epochs: Passes over the data.
        batch_size: Transitions per step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        seed: Seed of the shuffling and of the latent draws.

    Returns:
        One row per epoch: ``epoch``, ``loss``, ``prediction``, ``penalty`` (means).

    Raises:
        ValueError: If the data do not fit the model or a setting is out of range.

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> states = torch.randn(256, 2)
        >>> actions = torch.rand(256, 1)
        >>> A = torch.tensor([[0.9, 0.2], [-0.1, 0.8]])
        >>> next_states = LinearDynamics(A, torch.ones(2, 1))(states, actions)
        >>> data = Transitions(states, actions, next_states, torch.zeros(256),
        ...                    torch.zeros(256, dtype=torch.long))
        >>> model = ForwardModel(2, 1, hidden_dims=(32,))
        >>> history = fit_forward_model(model, data, epochs=30, batch_size=64, lr=1e-2)
        >>> history[-1]["prediction"] < 0.02
        True
    """
    if data.states.shape[1] != model.state_dim or data.actions.shape[1] != model.action_dim:
        raise ValueError(
            f"transitions of states {data.states.shape[1]} and actions "
            f"{data.actions.shape[1]} do not fit a model of state_dim {model.state_dim} and "
            f"action_dim {model.action_dim}"
        )
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"epochs, batch_size and lr must be > 0, got {epochs}, {batch_size}, {lr}")
    device = device_of(model)
    states, actions, next_states = (
        data.states.to(device),
        data.actions.to(device),
        data.next_states.to(device),
    )
    model.set_statistics(states, actions, next_states)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator).to(device)
        sums = {"loss": 0.0, "prediction": 0.0, "penalty": 0.0}
        for start in range(0, len(data), batch_size):
            index = order[start : start + batch_size]
            terms = model.loss(states[index], actions[index], next_states[index])
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for key in sums:
                sums[key] += float(terms[key].detach()) * len(index)
        history.append({"epoch": epoch, **{k: v / len(data) for k, v in sums.items()}})
    model.eval()
    if model.latent_dim and model.penalty == "norm":
        with torch.no_grad():
            codes, _ = model.encode(states, actions, next_states)
            model.latent_std.copy_(codes.std(0).clamp_min(1e-3))
    return history


def open_loop_errors(model: Dynamics, states: Tensor, actions: Tensor, horizon: int) -> Tensor:
    """Errors of the ``k``-step open-loop predictions along one trajectory.

    From each visited ``s[t]``, the model is unrolled on the executed actions ``a[t..t+k-1]``
    and compared with the visited ``s[t+k]``.

    Args:
        model: The forward model (``z = 0`` for latent models).
        states: Visited states ``(T + 1, S)``.
        actions: Executed actions ``(T, A)``.
        horizon: Largest ``k``.

    Returns:
        Squared errors ``(T - horizon + 1, horizon, S)``: ``[t, k-1]`` is ``(ŝ[t+k] - s[t+k])²``.
    """
    steps = actions.shape[0]
    if horizon < 1 or steps < horizon:
        raise ValueError(f"need 1 <= horizon <= T={steps}, got horizon {horizon}")
    starts = torch.arange(steps - horizon + 1)
    offsets = torch.arange(horizon)
    windows = actions[starts[:, None] + offsets]  # (W, k, A)
    with torch.no_grad():
        predicted = rollout(model, states[starts], windows)[:, 1:]  # (W, k, S)
    actual = states[starts[:, None] + offsets + 1]
    return (predicted - actual).pow(2)


def model_error_report(
    model: Dynamics,
    trajectories: Sequence[tuple[Tensor, Tensor]],
    horizons: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Root-mean-square open-loop error after ``k`` steps along visited trajectories.

    Args:
        model: The forward model.
        trajectories: ``(states (T+1, S), actions (T, A))`` pairs, e.g. executed episodes.
        horizons: The ``k`` to report.

    Returns:
        ``{"rmse@k": value}`` for each ``k`` (RMSE over steps, trajectories and state
        dimensions).

    Example:
        >>> from eblearn.world.dynamics import LinearDynamics
        >>> model = LinearDynamics(torch.eye(1), torch.eye(1))
        >>> states = torch.arange(6.0)[:, None]
        >>> model_error_report(model, [(states, torch.ones(5, 1))], horizons=(1, 3))
        {'rmse@1': 0.0, 'rmse@3': 0.0}
    """
    report = {}
    longest = max(horizons)
    for k in horizons:
        errors = [
            open_loop_errors(model, states, actions, longest)[:, k - 1]
            for states, actions in trajectories
            if actions.shape[0] >= longest
        ]
        if not errors:
            raise ValueError(f"no trajectory is at least {longest} steps long")
        report[f"rmse@{k}"] = round(float(torch.cat(errors).mean().sqrt()), 6)
    return report
