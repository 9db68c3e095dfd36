"""Shared helpers for benchmark scripts: machine description, medians, BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

BENCHMARKS_FILE = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    """One line naming the machine: CPU count and torch threads, or the GPU."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"load average {load:.1f} at the start), {platform.machine()}, torch {torch.__version__}"
    )


def command_line() -> str:
    """The command that ran this script, relative to the repository root."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(BENCHMARKS_FILE.parent):
        script = script.relative_to(BENCHMARKS_FILE.parent)
    return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


def timed(fn: Callable[[], object], sync: bool = False) -> float:
    """Seconds one call of ``fn`` takes."""
    if sync and torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if sync and torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def interleaved_medians(
    candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each candidate, timed in alternation round after round."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            samples[name].append(timed(fn, sync=True))
    return {name: statistics.median(values) for name, values in samples.items()}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def append_section(title: str, body: str) -> None:
    """Appends a section (title, command, machine, date, body) to BENCHMARKS.md."""
    text = (
        f"\n## {title}\n\n"
        f"Command: `{command_line()}`  \n"
        f"Machine: {machine()}  \n"
        f"Date: {time.strftime('%Y-%m-%d')}\n\n{body.strip()}\n"
    )
    with BENCHMARKS_FILE.open("a") as file:
        file.write(text)
    print(text)
