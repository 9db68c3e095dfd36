"""float32 (contiguous and channels_last) against bf16 autocast + channels_last: the step times
behind ``--precision auto``.

For each backbone and batch, one VICReg training step (forward of both views, loss, backward,
SGD step) is timed in float32 contiguous, in float32 with the model and the views in
``channels_last`` layout (for convolutional backbones) and, where bf16 is native, in bf16
autocast + ``channels_last``, in alternation. The table gives the medians, the speed-ups over
contiguous float32 and what ``auto`` picks from them (float32 ``channels_last`` at ≥ 1.05×
contiguous, bf16 at ≥ 1.15× the faster float32; bf16 is not timed where it is emulated, as
``auto`` does not time it there). The loss of float32 and bf16 on the same views is printed
too (bf16 tolerance).

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
from _vicreg_steps import add_step_arguments, apply_smallest, training_step

from eblearn.methods import VICReg
from eblearn.nn import Backbone, build_backbone
from eblearn.train.precision import (
    BF16,
    BF16_MARGIN,
    FLOAT32,
    LAYOUT_MARGIN,
    native_bf16,
    pick_setting,
    setting_name,
    to_channels_last,
    uses_channels_last,
)

FLOAT32_CL = setting_name((FLOAT32, True))
CL_OF = {FLOAT32: "contiguous", FLOAT32_CL: "channels_last", BF16: "channels_last"}
"""The memory format each setting asks for (bf16 as ``auto`` times it)."""


def make_steps(
    backbone_name: str,
    batch: int,
    side: int,
    width: int,
    device: torch.device,
    build: Callable[[Backbone], torch.nn.Module] | None = None,
    settings: tuple[str, ...] = (FLOAT32, BF16),
):
    """Steps on copies of one model and one batch, keyed by setting (``"32"``,
    ``"32+channels_last"``, ``"bf16-mixed"``, the last in ``channels_last`` for a
    convolutional model), and each setting's loss on the views: VICReg with a ``width``-wide
    projector (×3), or ``build(backbone)`` where given."""
    backbone = build_backbone(backbone_name, 3, side)
    if build is None:
        model = VICReg(backbone, projector_dims=(width, width, width)).to(device)
    else:
        model = build(backbone).to(device)
    views = [torch.randn(batch, 3, side, side, device=device) for _ in range(2)]
    steps, losses = {}, {}
    for setting in settings:
        bf16 = setting == BF16
        copy_ = copy.deepcopy(model)
        layout = uses_channels_last(setting, copy_, CL_OF[setting])
        steps[setting] = training_step(copy_, views, bf16, layout)  # converts copy_'s layout
        inputs = to_channels_last(views) if layout else views
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext(),
        ):
            losses[setting] = float(copy.deepcopy(copy_)(inputs)["loss"])
    return steps, losses


def speedup(reference_s: float, other_s: float | None) -> str:
    return "" if other_s is None else f"{reference_s / other_s:.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, repeats=5)
    args = parser.parse_args()
    apply_smallest(args)
    device = torch.device(args.device)
    native = native_bf16(device)
    settings = (FLOAT32, FLOAT32_CL, BF16) if native else (FLOAT32, FLOAT32_CL)
    torch.manual_seed(0)
    rows = []
    for backbone in args.backbones.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            steps, losses = make_steps(
                backbone, batch, args.image_size, args.projector, device, settings=settings
            )
            medians = interleaved_medians(steps, args.repeats, warmup=2)
            float32, bf16 = medians[FLOAT32], medians.get(BF16)
            probed = {(FLOAT32, False): float32, (FLOAT32, True): medians[FLOAT32_CL]}
            if bf16 is not None:
                probed[BF16, True] = bf16
            rows.append(
                [
                    f"{backbone}, batch {batch}, {args.image_size} px",
                    f"{1000 * float32:.1f}",
                    f"{1000 * medians[FLOAT32_CL]:.1f} ({speedup(float32, medians[FLOAT32_CL])})",
                    "not timed (no native bf16)"
                    if bf16 is None
                    else f"{1000 * bf16:.1f} ({speedup(float32, bf16)})",
                    setting_name(pick_setting(probed)),
                    f"{losses[FLOAT32]:.4f} / "
                    + (f"{losses[BF16]:.4f}" if BF16 in losses else "—"),
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    columns = [
        "setting",
        "float32 ms/step",
        "float32 channels_last ms/step (speed-up)",
        "bf16 + channels_last ms/step (speed-up)",
        "auto picks",
        "loss float32 / bf16",
    ]
    table = markdown_table(columns, rows)
    print()
    print(machine(device=device))
    print(
        f"native bf16: {native}; channels_last float32 is picked at ≥ {LAYOUT_MARGIN}× "
        f"contiguous, bf16 at ≥ {BF16_MARGIN}× the faster float32\n"
    )
    print(table)
    if args.append:
        append_section(
            "Precision and layout: float32, float32 channels_last, bf16 + channels_last",
            f"VICReg (projector {args.projector}×3) training step, medians of {args.repeats} "
            f"interleaved repetitions on {device}; native bf16: {native}. Speed-ups are over "
            f"contiguous float32. `--precision auto` picks float32 channels_last at ≥ "
            f"{LAYOUT_MARGIN}× contiguous and bf16 at ≥ {BF16_MARGIN}× the faster float32 "
            f"(measured by a short probe at the start of each run and cached).\n\n{table}",
            device=device,
        )


if __name__ == "__main__":
    main()
