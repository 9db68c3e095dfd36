"""eblearn's SyncBatchNorm on two gloo processes equals one batch norm over the global batch.

The reference is torch's own ``BatchNorm1d/2d`` on the whole batch in one process: outputs,
input gradients (of the sum of both ranks' losses), parameter gradients (summed over ranks)
and running statistics after a step; the two ranks' running statistics agree with each other.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.nn.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from tests.gloo import spawn_gloo

SHAPES = {"1d": (8, 3), "2d": (8, 3, 2, 2)}


def reference_layer(case: str) -> nn.Module:
    layer = (nn.BatchNorm1d if case == "1d" else nn.BatchNorm2d)(3, momentum=0.3)
    with torch.no_grad():  # not the identity, so a wrong formula shows
        layer.weight.copy_(torch.tensor([0.5, 1.5, -2.0]))
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return layer.double()


def global_batch(case: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (uneven scales per channel) and loss weights of the global batch."""
    generator = torch.Generator().manual_seed(1)
    shape = SHAPES[case]
    scale = torch.tensor([1.0, 5.0, 0.2]).view(1, 3, *[1] * (len(shape) - 2))
    x = torch.randn(shape, generator=generator, dtype=torch.float64) * scale + 2.0
    return x, torch.randn(shape, generator=generator, dtype=torch.float64)


def step(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> dict[str, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    y = layer(x)
    (y * w).sum().backward()
    return {
        "y": y.detach(),
        "x_grad": x.grad,
        "weight_grad": layer.weight.grad.clone(),
        "bias_grad": layer.bias.grad.clone(),
        "running_mean": layer.running_mean.clone(),
        "running_var": layer.running_var.clone(),
    }


def rank_steps(rank: int, world_size: int) -> dict[str, dict[str, torch.Tensor]]:
    """One step of a converted layer on this rank's share of each case's global batch."""
    results = {}
    for case in SHAPES:
        x, w = global_batch(case)
        share = len(x) // world_size
        layer = convert_sync_batchnorm(reference_layer(case))
        assert isinstance(layer, SyncBatchNorm)
        part = slice(rank * share, (rank + 1) * share)
        results[case] = step(layer, x[part], w[part])
    return results


def test_two_processes_normalize_with_the_global_batch(tmp_path):
    ranks = spawn_gloo(rank_steps, 2, tmp_path)  # one spawn for both cases: it is the slow part
    for case in SHAPES:
        first, second = (r[case] for r in ranks)
        x, w = global_batch(case)
        expected = step(reference_layer(case), x, w)
        for key in ("y", "x_grad"):
            torch.testing.assert_close(torch.cat([first[key], second[key]]), expected[key])
        for key in ("weight_grad", "bias_grad"):  # DDP would average these sums over the ranks
            torch.testing.assert_close(first[key] + second[key], expected[key], msg=key)
        for key in ("running_mean", "running_var"):
            torch.testing.assert_close(first[key], second[key], rtol=0, atol=0, msg=key)
            torch.testing.assert_close(first[key], expected[key], msg=key)


def test_one_process_and_evaluation_are_plain_batch_norm():
    reference = reference_layer("2d")
    layer = convert_sync_batchnorm(reference_layer("2d"))
    x, w = global_batch("2d")
    expected = step(reference, x, w)
    for key, value in step(layer, x, w).items():
        torch.testing.assert_close(value, expected[key], msg=key)
    layer.eval(), reference.eval()
    torch.testing.assert_close(layer(x), reference(x))


def test_conversion_keeps_parameters_and_statistics():
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm2d(2)))
    net[1].running_mean.fill_(0.7)
    net[1].weight.data.fill_(3.0)
    converted = convert_sync_batchnorm(net)
    assert converted is net
    assert isinstance(net[1], SyncBatchNorm) and isinstance(net[2][0], SyncBatchNorm)
    assert float(net[1].running_mean[0]) == pytest.approx(0.7)
    assert float(net[1].weight.detach()[0]) == 3.0


def test_bad_input_names_the_shape():
    with pytest.raises(ValueError, match=r"\(B, C\).*got \(3,\)"):
        SyncBatchNorm(3)(torch.randn(3))
