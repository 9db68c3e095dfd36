"""``eblearn bench``: train several methods on the same data, backbone, epochs and seed, and
compare them in one table.

For each method the job pretrains in ``OUT/<method>/`` (a normal run folder), probes the frozen
encoder (weighted kNN, linear top-1 and top-5, linear probes on 1% and 10% of the labels),
and measures the training throughput (images per second, augmentation included) and the peak
memory of training (the GPU's peak allocation, or on the CPU the peak resident memory above
the level when training started). Raw pixels are scored by the same probes as a floor.

``OUT`` receives ``results.csv``, ``results.md`` (the table) and ``bench.png`` (bar chart).

This is how the talk's comparisons are run: contrastive against non-contrastive methods
(``--methods simclr,mocov2,byol,barlowtwins,vicreg``), or one method at several embedding
sizes (``--method-arg vicreg:projector_dims=[256,256,256]``, a second run with 4096).
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import gc
import inspect
import io
import os
import resource
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from eblearn._io import atomic_write_bytes
from eblearn.data.registry import load_dataset
from eblearn.evaluate.protocol import evaluate_features, evaluate_raw_pixels, extract_features
from eblearn.methods.base import METHODS
from eblearn.plot.comparison import plot_method_comparison
from eblearn.train.config import SMALL_HEADS, TrainConfig

DEFAULT_METHODS = (
    "siamese",
    "simclr",
    "mocov2",
    "mocov3",
    "byol",
    "simsiam",
    "deepclusterv2",
    "swav",
    "barlowtwins",
    "vicreg",
)
"""The joint-embedding methods, in the order of the talk's families."""

COLUMNS = (
    ("method", "method"),
    ("knn", "kNN top-1"),
    ("linear", "linear top-1"),
    ("linear_top5", "linear top-5"),
    ("labels_1", "1% labels"),
    ("labels_10", "10% labels"),
    ("images_per_second", "images/s"),
    ("peak_memory_mib", "peak MiB"),
    ("train_seconds", "train s"),
)
ACCURACY_KEYS = ("knn", "linear", "linear_top5", "labels_1", "labels_10")


@dataclass(frozen=True)
class BenchRow:
    """One method's line of the table (accuracies in [0, 1]; ``None`` where not measured)."""

    method: str
    knn: float
    linear: float
    linear_top5: float
    labels_1: float
    labels_10: float
    images_per_second: float | None = None
    peak_memory_mib: float | None = None
    train_seconds: float | None = None


def _format(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key in ACCURACY_KEYS:
        return f"{100 * float(value):.1f}%"  # type: ignore[arg-type]
    if key == "method":
        return str(value)
    return f"{float(value):.0f}"  # type: ignore[arg-type]


def format_table(rows: Sequence[BenchRow], markdown: bool = False) -> str:
    """The rows as an aligned text table, or a Markdown table."""
    header = [title for _, title in COLUMNS]
    cells = [[_format(key, getattr(row, key)) for key, _ in COLUMNS] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(line) + " |" for line in cells])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    table = [header, *cells]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))
        )
        for line in table
    )


def write_csv(rows: Sequence[BenchRow], path: Path) -> None:
    """``results.csv``: one line per row, raw numbers (accuracies as fractions)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[key for key, _ in COLUMNS])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    atomic_write_bytes(buffer.getvalue().encode(), path)


def _rss_bytes() -> int:
    """Resident memory of this process (``/proc`` on Linux, else the lifetime peak)."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _release_free_memory() -> None:
    """Returns freed heap memory to the OS (glibc's ``malloc_trim``), so that a method's peak
    is not hidden by memory an earlier method freed but the process kept."""
    gc.collect()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict[str, float]]:
    """Measures the peak memory of the enclosed code, in MiB, into the yielded dict's ``mib``.

    On CUDA: ``torch.cuda.max_memory_allocated`` after a reset. Elsewhere: the peak resident
    memory above its level on entry (after returning freed memory to the OS), sampled every
    10 ms by a background thread.
    """
    result: dict[str, float] = {"mib": 0.0}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        result["mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        return
    _release_free_memory()
    start, peak = _rss_bytes(), [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            stop.wait(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["mib"] = max(0, max(peak[0], _rss_bytes()) - start) / 2**20


def parse_method_args(
    methods: Sequence[str], pairs: Sequence[tuple[str, Any]], heads: str
) -> dict[str, dict[str, Any]]:
    """Each method's hyper-parameters: the ``heads`` preset, then ``KEY=VALUE`` pairs.

    ``heads="small"`` starts from :data:`eblearn.train.config.SMALL_HEADS` (heads 512 wide,
    fewer prototypes, a shorter queue: for small images and CPUs), ``"paper"`` from each
    method's own defaults.

    A key ``name`` applies to every method that has a hyper-parameter of that name; a key
    ``method:name`` to that method only (and must be one of its hyper-parameters).

    Raises:
        ValueError: On an unknown method, an unknown ``heads`` preset, a ``method:`` prefix
            naming a method not benched, or a plain key that no benched method accepts.

    Example:
        >>> chosen = parse_method_args(["simclr", "byol"], [("simclr:temperature", 0.2)], "small")
        >>> chosen["simclr"]
        {'projector_dims': [512, 128], 'temperature': 0.2}
        >>> chosen["byol"]["predictor_dims"]
        [512, 128]
    """
    if heads not in ("small", "paper"):
        raise ValueError(f"unknown heads preset {heads!r}; valid choices: small, paper")
    accepted, chosen = {}, {}
    for method in methods:
        signature = inspect.signature(METHODS.get(method).__init__).parameters
        accepted[method] = set(signature) - {"self", "backbone"}
        preset = SMALL_HEADS.get(method, {})
        # "paper" names the defaults explicitly, over data sets' small-head defaults (digits)
        chosen[method] = (
            dict(preset)
            if heads == "small"
            else {k: _plain(signature[k].default) for k in preset if k in signature}
        )
    for key, value in pairs:
        target, _, name = key.rpartition(":")
        if target:
            if target not in chosen:
                raise ValueError(
                    f"--method-arg {key}: {target!r} is not among the benched methods "
                    f"({', '.join(methods)})"
                )
            chosen[target][name] = value
            continue
        takers = [m for m in methods if name in accepted[m]]
        if not takers:
            raise ValueError(
                f"--method-arg {key}: no benched method has a hyper-parameter {name!r}"
            )
        for method in takers:
            chosen[method][name] = value
    return chosen


def _plain(value: Any) -> Any:
    """Tuples as lists, so that run folders' ``config.yaml`` can hold them."""
    return list(value) if isinstance(value, tuple) else value


def bench(
    methods: Sequence[str],
    base: TrainConfig,
    method_args: dict[str, dict[str, Any]],
    out_dir: str | os.PathLike[str],
    overwrite: bool = False,
) -> list[BenchRow]:
    """Trains and probes each method with ``base``'s data, backbone, epochs and seed.

    Args:
        methods: Registered method names.
        base: The shared configuration (its ``method``, ``method_args`` and ``run_dir`` are
            replaced per method).
        method_args: Hyper-parameters per method (see :func:`parse_method_args`).
        out_dir: Folder of the per-method run folders and the results.
        overwrite: Replace run folders left by an earlier bench in ``out_dir``.

    Returns:
        One row per method, then a ``raw pixels`` row.

    Raises:
        ValueError: On an unknown method or data set, or bad configuration values.
    """
    # Lightning loads here, not when the module is imported: ``eblearn --help`` and the
    # listing commands build this parser and should not pay for it.
    from eblearn.app.train import pretrain
    from eblearn.train.callbacks import TrainingClock

    if not methods:
        raise ValueError("--methods is empty; name at least one method")
    for method in methods:
        METHODS.get(method)
    out = Path(out_dir)
    data = load_dataset(base.data, base.data_root, base.download, base.image_size)
    rows = []
    backbone = base.backbone
    for method in methods:
        config = replace(
            base, method=method, method_args=method_args.get(method, {}), run_dir=str(out / method)
        )
        clock = TrainingClock()
        device = _device(config)
        with peak_memory(device) as memory:
            run = pretrain(config, overwrite=overwrite, data=data, callbacks=[clock])
        images = clock.steps * run.config.batch_size * run.config.devices
        backbone = run.config.backbone
        encoder, transform = run.method.encoder.to(device), run.eval_transform.to(device)
        train = extract_features(encoder, data.train.images, transform, device=device)
        test = extract_features(encoder, data.test.images, transform, device=device)
        report = evaluate_features(
            train,
            data.train.labels,
            test,
            data.test.labels,
            knn_k=run.config.knn_k,
            knn_temperature=run.config.knn_temperature,
            seed=run.config.seed,
        )
        rows.append(
            BenchRow(
                method,
                report.knn,
                report.linear,
                report.linear_top5,
                report.few_label[0.01],
                report.few_label[0.1],
                images / clock.seconds if clock.seconds > 0 else None,
                memory["mib"],
                clock.seconds,
            )
        )
    pixels = evaluate_raw_pixels(
        data, knn_k=base.knn_k, knn_temperature=base.knn_temperature, seed=base.seed
    )
    rows.append(
        BenchRow(
            "raw pixels",
            pixels.knn,
            pixels.linear,
            pixels.linear_top5,
            pixels.few_label[0.01],
            pixels.few_label[0.1],
        )
    )
    write_csv(rows, out / "results.csv")
    atomic_write_bytes((format_table(rows, markdown=True) + "\n").encode(), out / "results.md")
    plot_method_comparison(
        [r.method for r in rows],
        {
            "kNN": [r.knn for r in rows],
            "linear": [r.linear for r in rows],
            "10% labels": [r.labels_10 for r in rows],
            "1% labels": [r.labels_1 for r in rows],
        },
        [r.images_per_second for r in rows],
        out / "bench.png",
        title=f"{_short(base.data)}: {base.epochs} epochs, backbone {backbone}, seed {base.seed}",
    )
    return rows


def _short(spec: str) -> str:
    """``npz:/a/long/path/x.npz`` as ``npz:x.npz``."""
    name, _, argument = spec.partition(":")
    return f"{name}:{Path(argument).name}" if argument else name


def _device(config: TrainConfig) -> torch.device:
    use_gpu = config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return torch.device("cuda" if use_gpu else "cpu")


BENCH_EPILOG = """\
examples:
  eblearn bench                                       # every joint-embedding method on digits
  eblearn bench --methods simclr,byol,vicreg --epochs 30
  eblearn bench --data npz:cifar10/ --backbone resnet18 --epochs 100 --heads paper
  eblearn bench --methods vicreg,barlowtwins --method-arg projector_dims=[2048,2048,2048]
  eblearn bench --methods simclr --method-arg simclr:temperature=0.2

OUT receives results.csv, results.md, bench.png and one run folder per method.
"""


def add_bench_parser(subparsers: Any) -> None:
    """Registers ``eblearn bench`` (called by :func:`eblearn.cli.build_parser`)."""
    from eblearn.app.options import key_value as _key_value

    parser = subparsers.add_parser(
        "bench",
        help="train several methods on the same data and compare them in one table",
        description="Pretrain each method on the same data, backbone, epochs and seed, then "
        "probe the frozen encoders (kNN, linear top-1/top-5, 1% and 10% labels) and measure "
        "images/s and peak memory.",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="comma-separated method names (default: every joint-embedding method)",
    )
    parser.add_argument("--data", default="digits", help="data set (digits)")
    parser.add_argument("--data-root", metavar="DIR", help="folder of downloadable data sets")
    parser.add_argument("--download", action="store_true", help="allow downloading the data")
    parser.add_argument("--backbone", help="backbone name (convnet up to 32 px)")
    parser.add_argument(
        "--backbone-arg", action="append", type=_key_value, metavar="KEY=VALUE", default=[]
    )
    parser.add_argument(
        "--heads",
        default="small",
        choices=("small", "paper"),
        help="head sizes: small (512 wide, CPU-friendly) or each paper's (default small)",
    )
    parser.add_argument(
        "--method-arg",
        action="append",
        type=_key_value,
        metavar="[METHOD:]KEY=VALUE",
        default=[],
        help="hyper-parameter for every method that has it, or for METHOD only (repeatable)",
    )
    parser.add_argument("--epochs", type=int, default=20, help="epochs per method (20)")
    parser.add_argument("--batch-size", type=int, default=256, help="images per step (256)")
    parser.add_argument("--optimizer", choices=("adamw", "sgd", "lars"))
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--image-size", type=int, metavar="PX")
    parser.add_argument("--seed", type=int, default=0, help="seed shared by every method (0)")
    parser.add_argument("--accelerator", default="auto", help="auto, cpu, gpu or mps")
    parser.add_argument("--precision", default="auto", help="auto, 32, bf16-mixed, 16-mixed")
    parser.add_argument("--out", metavar="DIR", help="output folder (runs/bench-<data>-<time>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier bench")
    parser.add_argument(
        "--no-progress", dest="progress_bar", action="store_false", help="hide progress bars"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``eblearn bench`` handler: bench, then print the table and where results went."""
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods:
        METHODS.get(method)
    base = TrainConfig(
        data=args.data,
        data_root=args.data_root,
        download=args.download,
        backbone=args.backbone,
        backbone_args=dict(args.backbone_arg),
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        image_size=args.image_size,
        seed=args.seed,
        accelerator=args.accelerator,
        precision=args.precision,
        progress_bar=args.progress_bar,
    )
    method_args = parse_method_args(methods, args.method_arg, args.heads)
    data_name = args.data.partition(":")[0]
    out = Path(args.out or Path("runs") / f"bench-{data_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    rows = bench(methods, base, method_args, out, overwrite=args.overwrite)
    print()
    print(format_table(rows))
    print(f"\nwritten: {out / 'results.csv'}, {out / 'results.md'}, {out / 'bench.png'}")
    return 0
