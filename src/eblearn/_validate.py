"""Input checks for the public API: clear ``ValueError``s, never a bare ``assert``."""

from __future__ import annotations

import torch
from torch import Tensor


def check_finite(tensor: Tensor, what: str) -> None:
    """Raises ``ValueError`` if ``tensor`` holds NaN or Inf, saying how many and where."""
    if tensor.is_floating_point() or tensor.is_complex():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            count = int(bad.sum())
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"{what} holds {count} NaN or Inf value(s) (first at index {first}); "
                "clean or drop those entries first"
            )


def check_ndim(tensor: Tensor, ndim: int, what: str, shape_names: str) -> None:
    """Raises ``ValueError`` unless ``tensor`` has ``ndim`` dimensions (named ``shape_names``)."""
    if tensor.ndim != ndim:
        raise ValueError(
            f"{what} must be a tensor of shape {shape_names}, got shape {tuple(tensor.shape)}"
        )


def check_same_shape(a: Tensor, b: Tensor, what_a: str, what_b: str) -> None:
    """Raises ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{what_a} and {what_b} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_batch_size(tensor: Tensor, minimum: int, what: str, why: str) -> None:
    """Raises ``ValueError`` if the batch dimension of ``tensor`` is below ``minimum``."""
    if tensor.shape[0] < minimum:
        raise ValueError(
            f"{what} needs a batch of at least {minimum} samples ({why}), "
            f"got {tensor.shape[0]}; use a larger batch size"
        )


def check_positive(value: float, name: str) -> None:
    """Raises ``ValueError`` unless ``value > 0``."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def check_choice(value: str, choices: tuple[str, ...] | list[str], name: str) -> None:
    """Raises ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")
