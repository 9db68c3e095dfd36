"""One process with 2 threads against 2 DDP processes with 1 thread each, on this machine.

A correctness run of the multi-process path, not a scaling claim: both configurations share
the same 2 CPU cores, train the same method with the same global batch, seed and epochs
through ``eblearn train`` (a subprocess each, so each gets its own threads), and are timed
in alternation. The 2-process run pays what any data-parallel run pays (process start-up,
a gradient all-reduce per step, the embeddings all-gathered for a batch-wide loss) without
gaining cores, so a ratio below 1 is expected here; on a machine with a core (or a GPU) per
process the same code splits the work. The kNN and linear-probe accuracies show that both
train the same kind of encoder (their weights differ: one process's batch norm sees the
global batch, each of two processes sees its half).

    python benchmarks/bench_process_threads.py                  # print the table
    python benchmarks/bench_process_threads.py --reps 3 --append

``training s`` is the job's time before its evaluation (data preparation and, for 2
processes, their start-up included); ``images/s`` = epochs × images seen per epoch ÷ that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _children import exit_on_sigterm
from _report import append_section, machine, markdown_table

CONFIGURATIONS = {
    "1 process × 2 threads": {"devices": 1, "threads": 2},
    "2 processes × 1 thread": {"devices": 2, "threads": 1},
}


def train_once(folder: Path, devices: int, threads: int, args: argparse.Namespace) -> dict:
    """Runs ``eblearn train`` once and returns its ``results.json``."""
    command = [
        sys.executable, "-m", "eblearn.cli", "train",
        "--data", args.data, "--method", args.method, "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size // devices), "--devices", str(devices),
        "--accelerator", "cpu", "--seed", "0", "--no-progress",
        "--run-dir", str(folder), "--overwrite",
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads((folder / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--method", default="vicreg")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256, help="global batch")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--append", action="store_true", help="also append to BENCHMARKS.md")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    last: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rep in range(args.reps):
            names = list(CONFIGURATIONS)
            for name in names[rep % 2 :] + names[: rep % 2]:  # alternate which runs first
                settings = CONFIGURATIONS[name]
                folder = Path(scratch) / f"{settings['devices']}"
                results = train_once(folder, settings["devices"], settings["threads"], args)
                seconds[name].append(results["training_seconds"])
                last[name] = results
                print(f"rep {rep}: {name}: {results['training_seconds']:.1f} s", flush=True)
    n_train = {"digits": 1347}.get(args.data)
    reference = statistics.median(seconds[next(iter(CONFIGURATIONS))])
    rows = []
    for name, values in seconds.items():
        median = statistics.median(values)
        per_epoch = None if n_train is None else (n_train // args.batch_size) * args.batch_size
        seen = None if per_epoch is None else args.epochs * per_epoch
        encoder = last[name]["encoder"]
        rows.append([
            name,
            f"{median:.1f} ({min(values):.1f}–{max(values):.1f})",
            "n/a" if seen is None else f"{seen / median:.0f}",
            f"{reference / median:.2f}",
            f"{100 * encoder['knn']:.1f}",
            f"{100 * encoder['linear']:.1f}",
        ])  # fmt: skip
    header = ["configuration", "training s, median (range)", "images/s", "speed vs 1 process",
              "kNN %", "linear %"]  # fmt: skip
    body = (
        f"{args.method} on {args.data}, ConvNet, global batch {args.batch_size}, {args.epochs} "
        f"epochs, seed 0, {args.reps} alternated runs each through `eblearn train` (gloo DDP "
        "for 2 processes). A correctness run on 2 shared cores, not a scaling claim.\n\n"
        + markdown_table(header, rows)
    )
    if args.append:  # the section names the machine
        append_section("One process × 2 threads vs 2 processes × 1 thread (CPU)", body)
    else:
        print(f"{body}\n\n{machine()}")


if __name__ == "__main__":
    with exit_on_sigterm():  # a stopped benchmark stops its children
        main()
