"""benchmarks/gpu_all.py, the GPU window's one script, runs every part at its smallest on the
CPU (``--smoke``), prints each part's tables under its name, and leaves BENCHMARKS.md alone."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

from tests.benchmark_scripts import benchmark_script

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("precision", "mfu", "throughput", "latent", "methods")


def _tables(section: str) -> list[list[str]]:
    """The Markdown tables of a section: runs of ``|`` lines with a ``|---`` second line."""
    tables, current = [], []
    for line in [*section.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return [t for t in tables if len(t) >= 3 and t[1].startswith("|---")]


def test_gpu_all_smoke_prints_one_table_per_part_and_writes_nothing() -> None:
    before = (ROOT / "BENCHMARKS.md").read_bytes()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_all.py"), "--smoke", "--append"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert (ROOT / "BENCHMARKS.md").read_bytes() == before
    assert "--append is ignored with --smoke" in out
    # The summary: each part's section with its command, device and status, then its tables.
    summary = out[out.index("\n### precision:") :]
    sections = re.split(r"\n(?=### )", summary.strip())
    assert [s.split(":", 1)[0].removeprefix("### ") for s in sections] == list(PARTS)
    for name, section in zip(PARTS, sections, strict=True):
        assert "Status: ok" in section, section
        assert "Command: `python benchmarks/" in section
        assert f"torch {torch.__version__}" in section
        assert _tables(section), f"{name}: no table\n{section}"
    mfu = sections[PARTS.index("mfu")]
    peak, steps = _tables(mfu)
    assert len(peak) == 2 + 4  # header, rule, (matmul, conv) × (float32, bf16)
    assert sum("(peak)" in row for row in peak) == 2  # one peak per precision
    assert len(steps) == 2 + 3  # convnet × VICReg × batch 8: float32 (2 layouts), bf16
    assert [row.split(" | ")[4] for row in steps[2:]] == [
        "float32",
        "float32 + channels_last",
        "bf16 autocast + channels_last",
    ]
    assert "1 thread(s)" in steps[2] and steps[2].endswith("% |")  # --smoke: one thread
    assert steps[0].endswith("| MFU | of float32 peak |")
    if importlib.util.find_spec("lightly") is None:
        assert "lightly is not installed here" in sections[PARTS.index("throughput")]


def test_tables_are_read_from_a_part_output() -> None:
    with benchmark_script("gpu_all") as gpu_all:
        parts, Outcome = gpu_all.PARTS, gpu_all.Outcome
    output = "noise\n| a | b |\n|---|---|\n| 1 | 2 |\ntext | not a table\n| c |\n|---|\n"
    outcome = Outcome(parts[0], "python x.py", "ok", output, 1.0)
    assert outcome.tables() == ["| a | b |\n|---|---|\n| 1 | 2 |", "| c |\n|---|"]
    assert sum(p.share_s for p in parts) <= 600


def test_the_overhead_bench_gives_each_engine_run_the_epochs_its_steps_need() -> None:
    # Digits at batch 256 have 5 full batches per epoch: one epoch stopped the engine after 5
    # steps, and with 5 warm-up steps dropped its median had no samples.
    with benchmark_script("bench_modality_overhead") as bench:
        for steps, images, batch in [(30, 1437, 256), (3, 100, 16), (30, 64, 64), (5, 60, 8)]:
            epochs = bench.epochs_for(steps, SimpleNamespace(pretrain_inputs=range(images)), batch)
            full_batches = max(1, images // batch)
            assert epochs * full_batches > steps  # room for every step and one more
            assert (epochs - 1) * full_batches <= steps  # and no epoch to spare
