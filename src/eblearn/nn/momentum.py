"""Momentum (EMA) helpers for target networks (MoCo, BYOL)."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy of ``module`` to serve as its momentum (target) network."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``θ_target ← m·θ_target + (1 - m)·θ_online`` for every parameter.

    Buffers (batch-norm statistics) are left alone: the target computes its own in forward.

    Raises:
        ValueError: If ``momentum`` is outside [0, 1].
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    target_params: list[torch.Tensor] = list(target.parameters())
    online_params: list[torch.Tensor] = list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError(
            f"target and online networks differ: {len(target_params)} vs "
            f"{len(online_params)} parameters"
        )
    torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)


def cosine_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """BYOL's schedule: ``m = final - (final - base)·(cos(π·step/total) + 1)/2``.

    Example:
        >>> cosine_momentum(0, 100), cosine_momentum(100, 100)
        (0.996, 1.0)
    """
    if total_steps <= 0:
        return final
    progress = min(max(step / total_steps, 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
