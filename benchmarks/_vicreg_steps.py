"""What the step benchmarks share (``bench_precision.py``, ``bench_compile.py``): their common
options, one training step of a model on fixed views, as ``eblearn train`` runs it, and the
leading columns of their two-way tables (setting, both step times, speed-up)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import Tensor, nn

from eblearn.train.precision import to_channels_last, uses_channels_last


def add_step_arguments(parser: argparse.ArgumentParser, repeats: int) -> None:
    """Backbones, batches, image size, projector width, repeats, device and ``--smallest``."""
    parser.add_argument("--backbones", default="convnet,resnet18")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--projector", type=int, default=2048, help="projector width (×3)")
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--smallest",
        action="store_true",
        help="convnet, batch 8, 16 px, projector 64, 1 repeat: checks that the script runs",
    )
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")


def apply_smallest(args: argparse.Namespace) -> None:
    """``--smallest``: the sizes that only check that a script runs."""
    if args.smallest:
        args.backbones, args.batches, args.image_size = "convnet", "8", 16
        args.projector, args.repeats = 64, 1


def training_step(
    model: nn.Module, views: list[Tensor], bf16: bool, channels_last: bool | None = None
) -> Callable[[], float]:
    """One SGD step of ``model`` on ``views`` (its loss returned); with ``bf16`` as
    ``--precision bf16-mixed`` trains: autocast. ``channels_last`` (default: with ``bf16``,
    for a convolutional model) puts ``model`` (in place) and the views in that layout."""
    if channels_last is None:
        channels_last = bf16 and uses_channels_last("bf16-mixed", model)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
        views = to_channels_last(views)
    device = views[0].device
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext():
            loss = model(views)["loss"]
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def comparison_columns(first: str, second: str) -> list[str]:
    """The leading columns of a two-way step table: setting, both ms/step, speed-up."""
    return ["setting", f"{first} ms/step", f"{second} ms/step", "speed-up"]


def comparison_cells(
    backbone: str, batch: int, image_size: int, first_s: float, second_s: float
) -> list[str]:
    """The cells under :func:`comparison_columns` for one setting; the speed-up is
    ``first_s / second_s`` (above 1 when the second is faster)."""
    return [
        f"{backbone}, batch {batch}, {image_size} px",
        f"{1000 * first_s:.1f}",
        f"{1000 * second_s:.1f}",
        f"{first_s / second_s:.2f}×",
    ]
