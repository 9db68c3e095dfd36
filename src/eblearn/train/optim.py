"""Optimizers (AdamW, SGD, LARS) and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling.

    For each parameter ``w`` with gradient ``g`` (weight decay ``λ`` folded in), the update
    is scaled by the trust ratio ``η·||w|| / ||g + λw||``:

    ``u ← g + λw;  u ← u·η||w||/||u||;  v ← μv + u;  w ← w - lr·v``

    Parameter groups with ``lars_adaptation=False`` (biases and normalization parameters, as
    in SimCLR and BYOL) skip the scaling and the weight decay.

    [0] You, Gitman, Ginsburg, Large Batch Training of Convolutional Networks, 2017,
        https://arxiv.org/abs/1708.03888

    Args:
        params: Parameters or parameter groups.
        lr: Learning rate.
        momentum: Momentum ``μ``.
        weight_decay: Weight decay ``λ``.
        trust_coefficient: ``η`` (0.001 in [0]).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "trust_coefficient": trust_coefficient,
            "lars_adaptation": True,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def,override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = p.grad
                if group["lars_adaptation"]:
                    update = update.add(p, alpha=group["weight_decay"])
                    weight_norm, update_norm = torch.norm(p), torch.norm(update)
                    trust = torch.where(
                        (weight_norm > 0) & (update_norm > 0),
                        group["trust_coefficient"] * weight_norm / update_norm,
                        torch.ones_like(weight_norm),
                    )
                    update = update.mul(trust)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(update).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with decay (and LARS adaptation), biases and norms without."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0, "lars_adaptation": False},
    ]


def build_optimizer(
    name: str, groups: list[dict], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """``adamw``, ``sgd`` (momentum 0.9) or ``lars`` over ``groups`` (see :func:`parameter_groups`).

    Raises:
        ValueError: On an unknown optimizer name.
    """
    if name == "lars":
        return LARS(groups, lr=lr, weight_decay=weight_decay)
    plain = [{k: v for k, v in g.items() if k != "lars_adaptation"} for g in groups]
    if name == "adamw":
        return torch.optim.AdamW(plain, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(plain, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid choices: adamw, sgd, lars")


def warmup_cosine(
    step: int, warmup_steps: int, total_steps: int, final_ratio: float = 0.0
) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to ``final_ratio``.

    Example:
        >>> [round(warmup_cosine(s, 2, 6), 3) for s in range(7)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
