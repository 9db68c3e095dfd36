"""Eager against ``--compile``: what TorchInductor's kernels save per step, and what compiling
costs, for a VICReg training step.

For each backbone and batch, one VICReg training step (forward of both views, loss, backward,
SGD step) is timed on two copies of one model: eager, and with the encoder compiled as
``eblearn train --compile`` compiles it (:func:`eblearn.train.compiling.compile_encoders`,
TorchInductor). The first compiled step is timed on its own: it holds the compilation. Then
the two are timed in alternation and the table gives their medians, the speed-up (eager time /
compiled time), the compilation's seconds and the steps after which compiling has paid for
itself (compilation / time saved per step; "never" where no time is saved), with the first
step's loss of both (the same up to floating-point reassociation).

    python benchmarks/bench_compile.py                 # CPU: convnet and resnet18, minutes
    python benchmarks/bench_compile.py --smallest      # a few tens of seconds: checks the script
    python benchmarks/bench_compile.py --append        # also BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import copy
import time

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
from eblearn.nn import build_backbone
from eblearn.train.compiling import compile_encoders


def make_steps(
    backbone_name: str, batch: int, side: int, width: int, device: torch.device, bf16: bool
):
    """The eager and the compiled training step on copies of one model and one batch; with
    ``bf16`` as ``--precision bf16-mixed`` trains (autocast, ``channels_last``)."""
    torch.manual_seed(0)
    model = VICReg(build_backbone(backbone_name, 3, side), projector_dims=(width,) * 3)
    model = model.to(device)
    views = [torch.randn(batch, 3, side, side, device=device) for _ in range(2)]
    steps = {}
    for name in ("eager", "compiled"):
        copy_ = copy.deepcopy(model)
        if name == "compiled":
            compile_encoders(copy_)
        steps[name] = training_step(copy_, views, bf16)
    return steps


def first_step(step) -> tuple[float, float]:
    """Seconds and loss of one call (the compiled model's first holds its compilation)."""
    start = time.perf_counter()
    loss = step()
    return time.perf_counter() - start, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, repeats=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("32", "bf16-mixed"), default="32")
    args = parser.parse_args()
    apply_smallest(args)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = args.precision == "bf16-mixed"
    rows = []
    for backbone in args.backbones.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            steps = make_steps(backbone, batch, args.image_size, args.projector, device, bf16=bf16)
            eager_first, eager_loss = first_step(steps["eager"])
            compiled_first, compiled_loss = first_step(steps["compiled"])
            medians = interleaved_medians(steps, args.repeats, warmup=2)
            eager, compiled = medians["eager"], medians["compiled"]
            compilation = compiled_first - eager_first
            saved = eager - compiled
            rows.append(
                [
                    *comparison_cells(backbone, batch, args.image_size, eager, compiled),
                    f"{compilation:.1f}",
                    f"{compilation / saved:.0f}" if saved > 0 else "never",
                    f"{eager_loss:.4f} / {compiled_loss:.4f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    columns = comparison_columns("eager", "compiled")
    columns += ["compilation s", "steps to pay it back", "first loss eager / compiled"]
    table = markdown_table(columns, rows)
    print()
    print(machine(device=device))
    print(table)
    if args.append:
        append_section(
            "Compiling the encoder: eager vs `--compile` (TorchInductor)",
            f"VICReg (projector {args.projector}×3) training step in "
            f"{'bf16 autocast + channels_last' if bf16 else 'float32'} on {device} with "
            f"{args.threads} threads; medians of {args.repeats} interleaved repetitions after "
            "2 warm-up steps each; the compilation is the compiled model's first step less "
            f"the eager model's first step; torch {torch.__version__}.\n\n{table}",
            device=device,
        )


if __name__ == "__main__":
    main()
