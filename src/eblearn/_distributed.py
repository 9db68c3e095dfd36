"""Gathering batch-wide statistics across processes, with gradients.

Only called when a loss is built with ``gather_distributed=True``: no collective runs unless
asked for.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Number of processes in the default group, 1 when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenates ``x`` (shape ``(B, ...)``) from every process along dim 0, rank order.

    The backward pass sums the gradients that every process sends to each slice, so that
    after data-parallel gradient averaging each process holds the gradient of the loss on the
    global batch. Without an initialized process group, returns ``x``.
    """
    if world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def all_reduce_with_grad(x: Tensor) -> Tensor:
    """The sum of ``x`` over every process; its backward sums the gradients likewise.

    Each process's loss depends on the sum, so the gradient of the sum of the losses with
    respect to one process's ``x`` is the sum of every process's gradient with respect to the
    sum. Without an initialized process group, returns ``x``.
    """
    if world_size() == 1:
        return x
    return _SumOverProcesses.apply(x)


class _SumOverProcesses(torch.autograd.Function):
    """``y = Σ_p x_p`` in the forward pass and ``∂L/∂x_p = Σ_q ∂L_q/∂y`` in the backward.

    Written on ``dist.all_reduce`` (blocking) rather than torch's deprecated
    ``torch.distributed.nn.functional.all_reduce``, after which a gloo process sometimes
    aborted at exit ("terminate called without an active exception").
    """

    @staticmethod
    def forward(ctx: object, x: Tensor) -> Tensor:
        total = x.detach().clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total


def rank() -> int:
    """This process's rank in the default group, 0 when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def gather_uneven(x: Tensor) -> list[Tensor]:
    """Every process's ``x`` (shape ``(B_p, ...)``, ``B_p`` may differ), in rank order.

    All-gathers need tensors of one shape, so each process pads its rows to the largest
    ``B_p`` (its length gathered first) and the padding is cut off again. No gradient flows.
    Without an initialized process group, returns ``[x]``.
    """
    size = world_size()
    if size == 1:
        return [x]
    length = torch.tensor([len(x)], device=x.device)
    lengths = [torch.zeros_like(length) for _ in range(size)]
    dist.all_gather(lengths, length)
    longest = int(max(int(n) for n in lengths))
    padded = torch.zeros((longest, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: len(x)] = x
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded.contiguous())
    return [part[: int(n)] for part, n in zip(parts, lengths, strict=True)]
