"""float32 against bf16 autocast + channels_last: the step times behind ``--precision auto``.

For each backbone and batch, one VICReg training step (forward of both views, loss, backward,
SGD step) is timed in float32 and in bf16 autocast with the model and the views in
``channels_last`` layout (for convolutional backbones), in alternation, and the table gives
both medians, the speed-up (float32 time / bf16 time) and what ``auto`` would pick from them
(bf16 only with a speed-up ≥ 1.15 on a device with native bf16; float32 without a probe
elsewhere). The loss of both steps on the same views is printed too (bf16 tolerance).

    python benchmarks/bench_precision.py                       # CPU, several minutes
    python benchmarks/bench_precision.py --smallest            # a few seconds: checks the script
    python benchmarks/bench_precision.py --device cuda --append
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from contextlib import nullcontext

import torch
from _report import append_section, interleaved_medians, machine, markdown_table

from eblearn.methods import VICReg
from eblearn.nn import Backbone, build_backbone
from eblearn.train.precision import (
    BF16_MARGIN,
    native_bf16,
    pick,
    to_channels_last,
    uses_channels_last,
)


def make_steps(
    backbone_name: str,
    batch: int,
    side: int,
    width: int,
    device: torch.device,
    build: Callable[[Backbone], torch.nn.Module] | None = None,
):
    """The float32 and the bf16 + channels_last step on copies of one model and one batch:
    VICReg with a ``width``-wide projector (×3), or ``build(backbone)`` where given."""
    backbone = build_backbone(backbone_name, 3, side)
    if build is None:
        model = VICReg(backbone, projector_dims=(width, width, width)).to(device)
    else:
        model = build(backbone).to(device)
    views = [torch.randn(batch, 3, side, side, device=device) for _ in range(2)]
    steps, losses = {}, {}
    for precision in ("32", "bf16-mixed"):
        copy_ = copy.deepcopy(model)
        inputs = views
        if uses_channels_last(precision, copy_):
            copy_.to(memory_format=torch.channels_last)
            inputs = to_channels_last(views)
        optimizer = torch.optim.SGD(copy_.parameters(), lr=1e-4, momentum=0.9)
        bf16 = precision == "bf16-mixed"

        def step(model=copy_, inputs=inputs, optimizer=optimizer, bf16=bf16) -> float:
            optimizer.zero_grad(set_to_none=True)
            autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
            with autocast:
                loss = model(inputs)["loss"]
            loss.backward()
            optimizer.step()
            return float(loss.detach())

        steps[precision] = step
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext(),
        ):
            losses[precision] = float(copy.deepcopy(copy_)(inputs)["loss"])
    return steps, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="convnet,resnet18")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--projector", type=int, default=2048, help="projector width (×3)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--smallest",
        action="store_true",
        help="convnet, batch 8, 16 px, projector 64, 1 repeat: checks that the script runs",
    )
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    if args.smallest:
        args.backbones, args.batches, args.image_size = "convnet", "8", 16
        args.projector, args.repeats = 64, 1
    device = torch.device(args.device)
    native = native_bf16(device)
    torch.manual_seed(0)
    rows = []
    for backbone in args.backbones.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            steps, losses = make_steps(backbone, batch, args.image_size, args.projector, device)
            medians = interleaved_medians(steps, args.repeats, warmup=2)
            float32, bf16 = medians["32"], medians["bf16-mixed"]
            auto = pick(float32, bf16) if native else "32 (no native bf16)"
            rows.append(
                [
                    f"{backbone}, batch {batch}, {args.image_size} px",
                    f"{1000 * float32:.1f}",
                    f"{1000 * bf16:.1f}",
                    f"{float32 / bf16:.2f}×",
                    auto,
                    f"{losses['32']:.4f} / {losses['bf16-mixed']:.4f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(
        [
            "setting",
            "float32 ms/step",
            "bf16 + channels_last ms/step",
            "speed-up",
            "auto picks",
            "loss float32 / bf16",
        ],
        rows,
    )
    print()
    print(machine(device=device))
    print(f"native bf16: {native}; bf16 is picked at a speed-up ≥ {BF16_MARGIN}\n")
    print(table)
    if args.append:
        append_section(
            "Precision: float32 vs bf16 autocast + channels_last",
            f"VICReg (projector {args.projector}×3) training step, medians of {args.repeats} "
            f"interleaved repetitions on {device}; native bf16: {native}. `--precision auto` "
            f"picks bf16 where the speed-up is ≥ {BF16_MARGIN} (measured by a short probe at "
            f"the start of each run and cached).\n\n{table}",
            device=device,
        )


if __name__ == "__main__":
    main()
