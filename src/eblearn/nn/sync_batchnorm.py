"""Batch normalization with the statistics of the global batch, on any device.

With ``P`` processes each holding ``B_p`` samples, every channel ``c`` is normalized by the
mean and biased variance of all ``N = Σ_p B_p · (spatial size)`` values of the global batch::

    μ_c = Σ_p Σ_i x_pic / N          σ²_c = Σ_p Σ_i (x_pic − μ_c)² / N
    y = γ_c (x − μ_c) / sqrt(σ²_c + ε) + β_c

The two sums are all-reduced (two collectives, the first with the count, the second around
the global mean, which is stabler than ``E[x²] − μ²``; in float32 under mixed precision)
through autograd, so gradients flow to every process's inputs as
they would through one batch norm over the global batch. The running statistics take the
global ``μ`` and the unbiased ``σ² · N / (N − 1)``, hence agree on every process after each
step. torch's ``SyncBatchNorm`` computes the same but refuses tensors outside the GPU; this
one runs on the CPU too (gloo), for the runs and tests that have no GPU.

[0] Ioffe & Szegedy, Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift, ICML 2015, https://arxiv.org/abs/1502.03167
[1] Peng et al., MegDet: A Large Mini-Batch Object Detector (cross-GPU batch norm), CVPR 2018,
    https://arxiv.org/abs/1711.07240
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from eblearn._distributed import all_reduce_with_grad, world_size


class SyncBatchNorm(_BatchNorm):
    """Batch norm over all processes' samples (see the module docstring for the formula).

    Takes inputs of shape ``(B, C)`` or ``(B, C, *)``. Outside training, or with one
    process, it is plain batch norm. Build it from an existing layer with
    :func:`convert_sync_batchnorm`.

    Example:
        >>> layer = SyncBatchNorm(3)
        >>> x = torch.randn(8, 3, 4, 4)
        >>> torch.allclose(layer(x), nn.BatchNorm2d(3)(x), atol=1e-6)  # one process
        True
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(
                f"SyncBatchNorm expects input of shape (B, C) or (B, C, *), got "
                f"{tuple(input.shape)}"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if not self.training or world_size() == 1:
            return super().forward(input)
        x = input if input.dtype in (torch.float32, torch.float64) else input.float()
        dims = [0, *range(2, x.dim())]  # every axis but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # (1, C, 1, ...) to broadcast
        local_count = x.new_tensor([float(x.numel() // x.shape[1])])
        sums = all_reduce_with_grad(torch.cat([x.sum(dims), local_count]))  # (C + 1,)
        count = sums[-1]  # N, the global batch's values per channel
        mean = sums[:-1] / count  # (C,)
        centred = x - mean.view(shape)
        variance = all_reduce_with_grad(centred.square().sum(dims)) / count  # (C,), biased
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), variance.detach(), count.detach())
        output = centred * torch.rsqrt(variance + self.eps).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, variance: Tensor, count: Tensor) -> None:
        """Exponential (or, with ``momentum=None``, cumulative) averages of the global stats."""
        if self.running_mean is None or self.running_var is None:
            return
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        factor = (
            1.0 / float(self.num_batches_tracked)
            if self.momentum is None and self.num_batches_tracked is not None
            else float(self.momentum or 0.0)
        )
        unbiased = variance * count / (count - 1).clamp_min(1.0)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replaces every ``BatchNorm1d/2d/3d`` inside ``module`` by a :class:`SyncBatchNorm`
    holding the same parameters and running statistics; returns ``module`` (changed in place,
    or the new layer if ``module`` itself is a batch norm).

    Example:
        >>> net = convert_sync_batchnorm(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)))
        >>> type(net[1]).__name__
        'SyncBatchNorm'
    """
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        layer = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            **_placement(module),
        )
        layer.load_state_dict(module.state_dict())
        layer.train(module.training)
        return layer
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module


def _placement(module: nn.Module) -> dict[str, Any]:
    """The ``device`` and floating ``dtype`` of ``module``'s tensors (empty if it has none)."""
    tensor = next(
        (t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()), None
    )
    return {} if tensor is None else {"device": tensor.device, "dtype": tensor.dtype}
