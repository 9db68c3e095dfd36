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
from _vicreg_steps import (
    add_step_arguments,
    apply_smallest,
    comparison_cells,
    comparison_columns,
    training_step,
)

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
        bf16 = precision == "bf16-mixed"
        copy_ = copy.deepcopy(model)
        steps[precision] = training_step(copy_, views, bf16)  # converts copy_'s layout
        inputs = to_channels_last(views) if uses_channels_last(precision, copy_) else views
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext(),
        ):
            losses[precision] = float(copy.deepcopy(copy_)(inputs)["loss"])
    return steps, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, repeats=5)
    args = parser.parse_args()
    apply_smallest(args)
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
                    *comparison_cells(backbone, batch, args.image_size, float32, bf16),
                    auto,
                    f"{losses['32']:.4f} / {losses['bf16-mixed']:.4f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    columns = comparison_columns("float32", "bf16 + channels_last")
    table = markdown_table([*columns, "auto picks", "loss float32 / bf16"], rows)
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
