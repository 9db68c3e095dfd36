"""Every GPU check in one short device window (at most 10 minutes), each with its tables.

Runs, one after another, each in its own subprocess with its own time share (a failure or a
timeout loses only that part's tables):

| part | script | share |
|---|---|---:|
| precision | ``bench_precision.py``: float32 vs bf16 + channels_last step times | 50 s |
| mfu | ``bench_mfu.py``: model-FLOP utilization against the matmul peak | 60 s |
| throughput | ``bench_step_throughput.py``: ResNet-18 step throughput, eblearn vs lightly | 60 s |
| latent | ``gpu_latent.py``: PCA, K-means, GMM, ADMM on the GPU vs the CPU | 65 s |
| methods | ``gpu_methods.py``: every joint-embedding method, CIFAR-10, ResNet-18 | 345 s |

580 s in all (``--total-minutes`` scales the shares; the methods' training budget is their
share less 130 s for data, heads, probes and kNN). lightly is not installed on the GPU
machine: carry its wheel (pure Python; the parts used need none of its other requirements)
and put it on ``PYTHONPATH``, or the throughput part gives eblearn against the backbone
alone, and says so.
Each part's output is printed as it comes; at the end every part's tables are printed again
under its name, with the card, the torch version and the command that made them, and
``--append`` writes the same to BENCHMARKS.md.

    python benchmarks/gpu_all.py                       # on the GPU machine
    python benchmarks/gpu_all.py --append --cifar DIR  # DIR with train.npz and test.npz

Without ``--cifar`` the methods part reads ``benchmarks/out/cifar10``, unpacking it first from
``shared/data/cifar10.py`` inside the checkout (a copy of the shared data folder carried to
the GPU machine) or, as ``gpu_methods.py`` does, from ``../shared/data``.
    python benchmarks/gpu_all.py --smoke               # every part at its smallest, on the CPU

``--smoke`` runs each part at its smallest size on the CPU with one thread (it checks that
the scripts run; its figures mean nothing, and ``--append`` is then ignored). The methods
part runs SwAV only (multi-crop views, prototypes), not every method, and in float32 (bf16 is
emulated on most CPUs, 10× slower; every method's bf16 autocast is tested in tests/methods).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _children import exit_on_sigterm
from _report import BENCHMARKS_FILE, command_line, cpu_model

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
METHODS_RESERVE_S = 130.0
"""Seconds of the methods' share kept for data loading, heads, timing probes and kNN."""


@dataclass
class Part:
    """One check: its script, its arguments on the GPU and in ``--smoke``, its seconds."""

    name: str
    title: str
    script: str
    gpu_args: list[str]
    smoke_args: list[str]
    share_s: float


PARTS = [
    Part(
        "precision",
        "Precision: float32 vs bf16 autocast + channels_last",
        "bench_precision.py",
        ["--device", "cuda", "--repeats", "5"],
        ["--smallest"],
        50,
    ),
    Part(
        "mfu",
        "Model-FLOP utilization against the measured matmul peak",
        "bench_mfu.py",
        ["--device", "cuda", "--matmul-sizes", "4096,8192", "--repeats", "5", "--warmup", "2"],
        ["--smoke"],
        60,
    ),
    Part(
        "throughput",
        "Joint-embedding training-step throughput (eblearn vs backbone only; lightly if present)",
        "bench_step_throughput.py",
        ["--device", "cuda", "--backbones", "resnet18", "--batch", "256", "--reps", "9"],
        shlex.split(
            "--methods simclr --batch 8 --size 16 --width 4 --hidden 16 --out 8 --reps 1 "
            "--rounds 1 --steps 1"
        ),
        60,
    ),
    Part(
        "latent",
        "Latent estimators on a GPU vs the CPU",
        "gpu_latent.py",
        ["--device", "cuda", "--n", "100000", "--repeats", "2"],
        ["--device", "cpu", "--n", "2000", "--repeats", "1"],
        65,
    ),
    Part(
        "methods",
        "Joint-embedding methods on one GPU: ResNet-18, CIFAR-10, bf16",
        "gpu_methods.py",
        [],  # --budget-minutes from the share, below
        ["--smoke", "--methods", "swav", "--precision", "float32"],
        345,
    ),
]


@dataclass
class Outcome:
    part: Part
    command: str
    status: str
    output: str
    seconds: float

    def tables(self) -> list[str]:
        """The Markdown tables (runs of lines starting with ``|``) the part printed."""
        tables, current = [], []
        for line in [*self.output.splitlines(), ""]:
            if line.startswith("|"):
                current.append(line)
            elif current:
                tables.append("\n".join(current))
                current = []
        return tables


def kill_group(process: subprocess.Popen) -> None:
    """Kills the process group ``process`` leads, and reaps ``process``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_part(part: Part, args: list[str], timeout: float, threads: int | None = None) -> Outcome:
    """Runs ``part`` in a subprocess (its own process group), echoing its output as it comes;
    kills the group after ``timeout`` seconds. ``threads`` sets ``OMP_NUM_THREADS``."""
    command = [sys.executable, str(HERE / part.script), *args]
    shown = " ".join(["python", f"benchmarks/{part.script}", *map(shlex.quote, args)])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )  # the GPU machine has no installed eblearn
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    print(f"\n=== {part.name}: {shown} (at most {timeout:.0f} s)", flush=True)
    lines: list[str] = []
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )

    def echo() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=echo, daemon=True)
    try:
        reader.start()
        code = process.wait(timeout=timeout)
        status = "ok" if code == 0 else f"failed (exit code {code})"
    except subprocess.TimeoutExpired:
        kill_group(process)
        status = f"stopped at its time limit ({timeout:.0f} s)"
    except BaseException:  # gpu_all stopped: its part (in a session of its own) stops too
        kill_group(process)
        raise
    reader.join(timeout=5)
    seconds = time.perf_counter() - start
    return Outcome(part, shown, status, "\n".join(lines), seconds)


def cifar_arrays() -> str | None:
    """The folder of CIFAR-10 arrays for the methods part when ``--cifar`` is not given:
    ``benchmarks/out/cifar10``, unpacked first from a ``shared/data`` copy inside the checkout
    (how the data reach the GPU machine); ``None`` leaves the search to ``gpu_methods.py``."""
    out = HERE / "out" / "cifar10"
    script = ROOT / "shared" / "data" / "cifar10.py"
    if not ((out / "train.npz").is_file() and (out / "test.npz").is_file()):
        if not script.is_file():
            return None
        print(f"unpacking CIFAR-10 from {script.parent} into {out}", flush=True)
        command = [sys.executable, str(script), str(out), "--arrays"]
        try:
            subprocess.run(command, check=True, timeout=120)
        except (subprocess.SubprocessError, OSError) as error:  # the other parts' tables stay
            print(f"could not unpack CIFAR-10: {error}", flush=True)
            return None
    return str(out)


def device_line(smoke: bool) -> str:
    """The card (or the CPU in ``--smoke``) and the torch version."""
    if not smoke and torch.cuda.is_available():
        return f"card {torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"CPU {cpu_model()} ({os.cpu_count()} cores, smoke run), torch {torch.__version__}"


def report(outcome: Outcome, device: str) -> str:
    """A part's section: title, command, device, status, and its tables."""
    tables = outcome.tables()
    body = "\n\n".join(tables) if tables else "(no table: see the output above)"
    if outcome.part.name == "throughput" and not _lightly():
        body = "lightly is not installed here: its columns read n/a.\n\n" + body
    return (
        f"### {outcome.part.name}: {outcome.part.title}\n\n"
        f"Command: `{outcome.command}`  \n"
        f"Device: {device}  \n"
        f"Status: {outcome.status} after {outcome.seconds:.0f} s\n\n{body}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(p.name for p in PARTS))
    parser.add_argument("--total-minutes", type=float, default=10.0, help="all parts (10)")
    parser.add_argument("--cifar", help="folder with train.npz and test.npz (for methods)")
    parser.add_argument("--smoke", action="store_true", help="every part at its smallest, CPU")
    parser.add_argument("--append", action="store_true", help="append the tables to BENCHMARKS.md")
    args = parser.parse_args()
    names = [n.strip() for n in args.parts.split(",") if n.strip()]
    known = {p.name: p for p in PARTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA device: run on the GPU machine, or use --smoke")
    scale = args.total_minutes / 10.0
    deadline = time.perf_counter() + 580.0 * scale
    device = device_line(args.smoke)
    print(f"{device}; lightly installed: {_lightly()}", flush=True)
    outcomes = []
    for name in names:
        part = known[name]
        cifar = args.cifar
        if name == "methods" and not args.smoke and not cifar:
            cifar = cifar_arrays()  # its time comes out of the total, not of the share
        timeout = min(part.share_s * scale, deadline - time.perf_counter())
        if timeout < 10:
            print(f"\n=== {name}: skipped, the time is spent", flush=True)
            continue
        part_args = list(part.smoke_args if args.smoke else part.gpu_args)
        if name == "methods" and not args.smoke:
            budget = max(0.5, (timeout - METHODS_RESERVE_S) / 60)
            part_args += ["--budget-minutes", f"{budget:.1f}"]
            part_args += ["--cifar", cifar] if cifar else []
        outcomes.append(run_part(part, part_args, timeout, threads=1 if args.smoke else None))
    sections = [report(o, device) for o in outcomes]
    total = sum(o.seconds for o in outcomes)
    summary = (
        f"{len(outcomes)} part(s) in {total / 60:.1f} min; "
        + ", ".join(f"{o.part.name} {o.status}" for o in outcomes)
        + ("" if _lightly() else "; lightly is not installed here: its rows are n/a")
    )
    text = "\n".join(sections)
    print(f"\n\n{text}\n{summary}", flush=True)
    if args.append and args.smoke:
        print("--append is ignored with --smoke (smoke figures are not measurements)")
    elif args.append:
        with BENCHMARKS_FILE.open("a") as file:
            file.write(
                f"\n## GPU checks in one window (`benchmarks/gpu_all.py`)\n\n"
                f"Command: `{command_line()}`  \nDevice: {device}  \n"
                f"Date: {time.strftime('%Y-%m-%d')}  \n{summary}\n\n{text}"
            )


def _lightly() -> bool:
    import importlib.util

    return importlib.util.find_spec("lightly") is not None


if __name__ == "__main__":
    with exit_on_sigterm():  # a stopped benchmark stops its children
        main()
