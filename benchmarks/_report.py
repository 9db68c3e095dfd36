"""Shared helpers for benchmark scripts: machine description, medians, BENCHMARKS.md."""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
"""The repository root."""
BENCHMARKS_FILE = ROOT / "BENCHMARKS.md"


def load_average() -> float:
    """The one-minute load average (NaN where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


LOAD_AT_START = load_average()
"""The load when the script started: timings on a shared machine are read against it."""


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_matrix_flags() -> str:
    """The CPU's flags among those that set a step's matrix speed (``avx512_bf16``,
    ``amx_bf16``, ...): one model name, "Intel(R) Xeon(R) Processor @ 2.60GHz", has covered
    both a chip with AMX and one without bf16 on this project's machines."""
    from eblearn.train.precision import MATRIX_FLAGS, cpu_flags

    return " ".join(sorted(set(MATRIX_FLAGS) & cpu_flags())) or "no matrix flags"


def machine(load: float | None = None, device: torch.device | str | None = None) -> str:
    """One line naming the machine: the GPU, or CPU cores, torch threads and the load.

    Args:
        load: The load average to report (default: the one when the script started).
        device: The device measured (default: CUDA when available, else the CPU).
    """
    kind = torch.device(device).type if device is not None else None
    if kind == "cuda" or (kind is None and torch.cuda.is_available()):
        return f"GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    load = LOAD_AT_START if load is None else load
    return (
        f"CPU {cpu_model()} [{cpu_matrix_flags()}] ({os.cpu_count()} cores shared with other work, "
        f"{torch.get_num_threads()} torch "
        f"thread(s), load average {load:.1f} at the start), {platform.machine()}, "
        f"torch {torch.__version__}"
    )


def library_versions() -> str:
    """A paragraph naming the peer libraries measured beside eblearn (scikit-learn, numpy)."""
    import numpy
    import sklearn

    return f"Libraries: scikit-learn {sklearn.__version__}, numpy {numpy.__version__}.\n\n"


def command_line() -> str:
    """The command that ran this script, relative to the repository root."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(BENCHMARKS_FILE.parent):
        script = script.relative_to(BENCHMARKS_FILE.parent)
    return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], sync: bool = False) -> float:
    """Seconds one call of ``fn`` takes."""
    if sync:
        _synchronize()
    start = time.perf_counter()
    fn()
    if sync:
        _synchronize()
    return time.perf_counter() - start


def interleaved_runs(
    candidates: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 0,
    settle: float = 0.0,
) -> tuple[dict[str, float], dict[str, object]]:
    """Median seconds per call of each candidate, timed in alternation round after round,
    and the last result of each.

    ``settle`` seconds pass before each timed call: BLAS and OpenMP pools (numpy's OpenBLAS,
    scikit-learn's OpenMP, torch's) keep their threads spinning for a while after a call, and
    on a small machine those spinning threads would slow down whichever library runs next.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in candidates.items():
            time.sleep(settle)
            _synchronize()
            start = time.perf_counter()
            results[name] = fn()
            _synchronize()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}, results


def interleaved_medians(
    candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each candidate, timed in alternation round after round."""
    return interleaved_runs(candidates, repeats, warmup)[0]


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table from a header and rows of cells (any printable values)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def append_section(
    title: str, body: str, load: float | None = None, device: torch.device | str | None = None
) -> None:
    """Appends a section (title, command, machine, date, body) to BENCHMARKS.md."""
    text = (
        f"\n## {title}\n\n"
        f"Command: `{command_line()}`  \n"
        f"Machine: {machine(load, device)}  \n"
        f"Date: {time.strftime('%Y-%m-%d')}\n\n{body.strip()}\n"
    )
    with BENCHMARKS_FILE.open("a") as file:
        file.write(text)
    print(text, flush=True)
