"""Where one training step's time goes on this CPU: a VICReg step (the ``bench_precision``
model: backbone + 2048-wide projector ×3, two random 32-px views) under bf16 autocast +
channels_last, profiled once after two warm-up steps.

``--what ops`` prints ``torch.profiler``'s self time per aten op. ``--what onednn`` runs the
step with oneDNN's verbose log (``ONEDNN_VERBOSE=1`` must be set by the caller, since oneDNN
reads it at load) and sums the log's execution times per primitive kind, implementation
and propagation kind, which says whether a convolution ran on AMX (``..._amx``) or not. The
log covers the whole process (the model's construction and the warm-up steps too), so read
its shares, not its totals. Prints only; nothing is written.

    python benchmarks/profile_step.py --backbone resnet18 --batch 64 --what ops
    ONEDNN_VERBOSE=1 python benchmarks/profile_step.py --backbone resnet18 --batch 64 \\
        --what onednn 2>&1 | python benchmarks/profile_step.py --summarize-onednn
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Iterable

import torch
from bench_precision import make_steps


def onednn_time_by_primitive(lines: Iterable[str]) -> list[tuple[str, float, int]]:
    """``(kind | implementation | propagation, milliseconds, calls)`` summed over oneDNN's
    ``primitive,exec`` verbose lines, most time first."""
    milliseconds: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for line in lines:
        fields = line.strip().split(",")
        if (
            len(fields) < 10
            or fields[0] != "onednn_verbose"
            or fields[2:4] != ["primitive", "exec"]
        ):
            continue
        key = " | ".join(fields[5:8])
        milliseconds[key] += float(fields[-1])
        calls[key] += 1
    return [(key, ms, calls[key]) for key, ms in milliseconds.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--what", choices=("ops", "onednn"), default="ops")
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument(
        "--summarize-onednn", action="store_true", help="read a verbose log on stdin, sum it"
    )
    args = parser.parse_args()
    if args.summarize_onednn:
        rows = onednn_time_by_primitive(sys.stdin)
        total = sum(ms for _, ms, _ in rows)
        print(f"oneDNN: {total:.0f} ms in all")
        for key, ms, count in rows[: args.rows]:
            print(f"{ms:10.1f} ms {100 * ms / total:5.1f}% {count:6d} calls  {key}")
        return
    torch.manual_seed(0)
    steps, _ = make_steps(args.backbone, args.batch, 32, 2048, torch.device("cpu"))
    step = steps["bf16-mixed"]
    step()
    step()
    if args.what == "onednn":
        step()
        return
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        step()
    print(
        profiler.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=45
        )
    )


if __name__ == "__main__":
    main()
