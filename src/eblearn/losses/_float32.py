"""Loss reductions in float32 under mixed precision.

Under ``torch.autocast`` (bf16 or fp16 training) a projector's outputs arrive in 16 bits, and
autocast would also run a loss's own matrix products in 16 bits: a ``(D, D)`` covariance or
cross-correlation summed over the batch, NT-Xent's ``(2B, 2B)`` logits, the logits against a
MoCo queue, the prototype scores behind a Sinkhorn assignment. bfloat16 keeps 8 significant
bits (relative error ``2⁻⁹ ≈ 2e-3`` per product), so such sums lose the small off-diagonal
correlations the losses are made of. :func:`float32_loss` wraps a loss so that it sees its
16-bit tensor arguments cast to float32 and runs with autocast switched off: the loss is the
float32 loss of the (already rounded) embeddings, and the gradient flows back to the 16-bit
tensors through the cast. float64 inputs stay float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, ParamSpec, TypeVar

import torch
from torch import Tensor

LOW_PRECISION = (torch.float16, torch.bfloat16)
AUTOCAST_DEVICES = ("cpu", "cuda")

P = ParamSpec("P")
R = TypeVar("R")


def to_float32(value: Any) -> Any:
    """``value`` with 16-bit floating tensors (alone or in a list or tuple) cast to float32."""
    if isinstance(value, Tensor):
        return value.float() if value.dtype in LOW_PRECISION else value
    if isinstance(value, list | tuple):
        return type(value)(to_float32(v) for v in value)
    return value


@contextmanager
def autocast_disabled() -> Iterator[None]:
    """Switches autocast off on every device type where it is on (and back on after)."""
    with ExitStack() as stack:
        for device in AUTOCAST_DEVICES:
            if torch.is_autocast_enabled(device):
                stack.enter_context(torch.autocast(device, enabled=False))
        yield


def float32_loss(function: Callable[P, R]) -> Callable[P, R]:
    """Runs ``function`` (a loss or a method of a loss module) in float32, autocast off."""

    @functools.wraps(function)
    def in_float32(*args: P.args, **kwargs: P.kwargs) -> R:
        with autocast_disabled():
            return function(
                *to_float32(args),  # type: ignore[arg-type]
                **{k: to_float32(v) for k, v in kwargs.items()},  # type: ignore[arg-type]
            )

    return in_float32
