"""A generated video data set whose next frame is ambiguous: a ball that bounces either way.

A ball (a Gaussian blob) falls straight down for ``context`` frames; in the next frame it
has hit a peg and moved ``bounce`` pixels to the left or to the right, with equal
probability. Nothing in the context tells which, so the next frame has two modes: a
deterministic predictor trained with the squared error predicts their average (two faint
half-balls), while a latent-variable model can produce either sharp outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from eblearn.latent._estimator import check_int


@dataclass(frozen=True)
class BouncingBalls:
    """Frames of the bouncing-ball data set.

    Attributes:
        context: Past frames ``(N, T, H, W)`` in [0, 1].
        target: The next frame ``(N, H, W)``.
        outcomes: Both possible next frames ``(N, 2, H, W)`` (left, right).
        branch: Which outcome is the target, ``(N,)`` in {0, 1}.
    """

    context: Tensor
    target: Tensor
    outcomes: Tensor
    branch: Tensor

    def __len__(self) -> int:
        return len(self.target)


def render_balls(rows: Tensor, cols: Tensor, size: int, radius: float) -> Tensor:
    """Images ``(..., size, size)`` of Gaussian blobs (peak 1, std ``radius``) at given
    sub-pixel centers ``rows``, ``cols`` (same shape ``(...)``)."""
    grid = torch.arange(size, dtype=torch.float32)
    dr = (grid - rows[..., None]).pow(2)  # (..., H)
    dc = (grid - cols[..., None]).pow(2)  # (..., W)
    return torch.exp(-(dr[..., :, None] + dc[..., None, :]) / (2 * radius**2))


def bouncing_balls(
    n: int,
    size: int = 16,
    context: int = 2,
    speed: float = 2.0,
    bounce: float = 3.0,
    radius: float = 1.0,
    seed: int = 0,
) -> BouncingBalls:
    """Draws ``n`` clips of a falling ball that bounces left or right in the next frame.

    The ball starts at a random sub-pixel position, falls ``speed`` pixels per frame for
    ``context`` frames, and in the next frame is ``speed`` lower and ``bounce`` pixels to the
    left or right (a fair coin).

    Args:
        n: Number of clips.
        size: Frame side in pixels.
        context: Number of past frames ``T``.
        speed: Vertical motion per frame.
        bounce: Horizontal jump at the bounce.
        radius: Standard deviation of the ball's blob.
        seed: Seed of the positions and the coin flips.

    Raises:
        ValueError: If the frame is too small for the motion.

    Example:
        >>> clips = bouncing_balls(4, size=16)
        >>> tuple(clips.context.shape), tuple(clips.outcomes.shape)
        ((4, 2, 16, 16), (4, 2, 16, 16))
    """
    check_int(n, "n")
    check_int(context, "context")
    margin = 1.5 * radius
    rows_needed = speed * context + 2 * margin
    cols_needed = 2 * bounce + 2 * margin
    if size < max(rows_needed, cols_needed) + 1:
        raise ValueError(
            f"a {size}-pixel frame cannot hold {context} frames of speed {speed} and a bounce "
            f"of {bounce}; use size >= {int(max(rows_needed, cols_needed)) + 2}"
        )
    generator = torch.Generator().manual_seed(seed)
    start_row = margin + torch.rand(n, generator=generator) * (size - 1 - rows_needed)
    col = margin + bounce + torch.rand(n, generator=generator) * (size - 1 - cols_needed)
    times = torch.arange(context, dtype=torch.float32)
    rows = start_row[:, None] + speed * times  # (N, T)
    frames = render_balls(rows, col[:, None].expand_as(rows), size, radius)  # (N, T, H, W)
    next_row = start_row + speed * context
    sides = torch.tensor([-bounce, bounce])
    outcome_cols = col[:, None] + sides  # (N, 2)
    outcomes = render_balls(next_row[:, None].expand(n, 2), outcome_cols, size, radius)
    branch = torch.randint(2, (n,), generator=generator)
    target = outcomes[torch.arange(n), branch]
    return BouncingBalls(frames, target, outcomes, branch)
