"""Shared pieces of the latent-model benchmarks: CIFAR-10 patches, timing, BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
SHARED = ROOT.parent.parent / "shared" / "data"
LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def shared_data_dir() -> Path:
    """``../shared/data`` from the repository (a worktree two levels down also works)."""
    for candidate in (ROOT.parent / "shared" / "data", SHARED, Path("/work/shared/data")):
        if (candidate / "cifar10.py").is_file():
            return candidate
    raise SystemExit("CIFAR-10 not found: expected ../shared/data/cifar10.py")


def cifar_arrays(split: str) -> np.ndarray:
    """CIFAR-10 images ``(N, 32, 32, 3)`` uint8, unpacked once under ``benchmarks/out``."""
    target = OUT / "cifar10" / f"{split}.npz"
    if not target.is_file():
        script = shared_data_dir() / "cifar10.py"
        subprocess.run([sys.executable, str(script), str(target.parent), "--arrays"], check=True)
    return np.load(target)["images"]


def cifar_patches(
    n: int, split: str = "train", size: int = 8, seed: int = 0, normalize: bool = True
) -> np.ndarray:
    """``n`` random gray ``size × size`` patches as float64 rows ``(n, size²)`` in [0, 1].

    With ``normalize``, each patch has its mean removed (the DC component carries no
    structure), then all are divided by one global standard deviation, so a typical patch
    has ``||y||² ≈ size²``.
    """
    images = cifar_arrays(split)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(images), n)
    rows = rng.integers(0, 32 - size + 1, n)
    cols = rng.integers(0, 32 - size + 1, n)
    gray = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0  # (N, 32, 32)
    patches = np.stack(
        [gray[i, r : r + size, c : c + size] for i, r, c in zip(which, rows, cols)]
    ).reshape(n, size * size)
    if not normalize:
        return patches
    patches -= patches.mean(1, keepdims=True)
    return patches / patches.std()


def machine() -> str:
    """A one-line description of this machine and the libraries measured."""
    return (
        f"{os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}; load average {LOAD_AT_START:.1f} at the start (shared with other work)"
    )


def interleaved_medians(
    runs: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, float], dict[str, object]]:
    """Runs each callable ``repeats`` times, interleaved; returns median seconds and the last
    result of each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def append_section(title: str, command: str, body: str) -> None:
    """Appends a section (title, command, machine, body) to ``BENCHMARKS.md`` and prints it."""
    text = (
        f"\n## {title}\n\n"
        f"Command: `{command}`\n\n"
        f"Machine: {machine()}. Measured {time.strftime('%Y-%m-%d')}.\n\n"
        f"{body.strip()}\n"
    )
    print(text)
    with open(ROOT / "BENCHMARKS.md", "a") as handle:
        handle.write(text)
