"""Projected gradient descent on a batch of independent problems (shared by z and y inference)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Projection = Callable[[Tensor], Tensor]


def box_projection(low: float | Tensor | None, high: float | Tensor | None) -> Projection:
    """The projection onto the box ``low ≤ v ≤ high`` (either side may be ``None``)."""
    if low is not None and high is not None and bool(torch.any(torch.as_tensor(low >= high))):
        raise ValueError(f"bounds must satisfy low < high, got low={low} and high={high}")

    def project(v: Tensor) -> Tensor:
        lo = None if low is None else torch.as_tensor(low, dtype=v.dtype, device=v.device)
        hi = None if high is None else torch.as_tensor(high, dtype=v.dtype, device=v.device)
        return torch.clamp(v, lo, hi)

    return project


def make_projection(
    bounds: tuple[float | Tensor | None, float | Tensor | None] | None,
    project: Projection | None,
) -> Projection | None:
    """One projection from optional ``bounds`` and an optional user ``project``."""
    if bounds is None:
        return project
    box = box_projection(*bounds)
    if project is None:
        return box
    return lambda v: project(box(v))


def projected_descent(
    fn: Callable[[Tensor], Tensor],
    start: Tensor,
    steps: int,
    step_size: float,
    momentum: float = 0.0,
    project: Projection | None = None,
) -> Tensor:
    """Minimizes ``fn(v).sum()`` over ``v`` by (heavy-ball) projected gradient descent.

    ``v ← Π(v + u)``, ``u ← μ u - η ∇fn(v)``; each row of ``v`` is an independent problem
    because ``fn`` returns one value per row. Only ``v`` receives gradients.

    Args:
        fn: ``(N, ...) -> (N,)`` values to minimize.
        start: Starting points, shape ``(N, ...)``.
        steps: Number of steps.
        step_size: ``η``.
        momentum: ``μ`` in ``[0, 1)``.
        project: ``Π``, applied after every step (and to the start).

    Returns:
        The final points, detached, shape ``(N, ...)``.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    v = start.detach().clone()
    if project is not None:
        v = project(v)
    velocity = torch.zeros_like(v)
    for _ in range(steps):
        with torch.enable_grad():
            point = v.requires_grad_(True)
            (grad,) = torch.autograd.grad(fn(point).sum(), point)
        velocity = momentum * velocity - step_size * grad
        v = v.detach() + velocity
        if project is not None:
            v = project(v)
    return v.detach()
