"""``eblearn bench``: train several methods on the same data, backbone, epochs and seed, and
compare them in one table.

Every method name and option is checked for all methods (each method built once, its run
folder checked) before the first one trains; then the bench's run folder (``--run-dir``,
default ``runs/bench-<data>-<time>``; kind ``bench``) is claimed. For each method the job
pretrains in ``RUN_DIR/<method>/`` (a normal ``train`` run folder, through
:func:`eblearn.app.train.pretrain`), probes the frozen
encoder (weighted kNN, linear top-1 and top-5, linear probes on 1% and 10% of the labels),
and measures the training throughput (images per second, augmentation included) and the peak
memory of training (the GPU's peak allocation, or on the CPU the peak resident memory above
the level when training started). Raw pixels are scored by the same probes as a floor.

``RUN_DIR`` receives ``results.csv``, ``results.md`` (the table) and ``bench.png`` (bar chart);
a folder holding them is refused unless ``--overwrite``, which replaces the per-method runs too.
The options shared with ``eblearn train`` (data, backbone, epochs, optimizer, ``--precision``,
...) are the same definitions (:func:`eblearn.app.train.add_training_options`).

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from eblearn._io import atomic_write_bytes
from eblearn.app.interrupt import interruptible
from eblearn.app.options import HelpFormatter, key_value, name_list
from eblearn.app.run_folder import Mode, RunFolder, default_run_path
from eblearn.data.images import DatasetSplits
from eblearn.data.registry import load_dataset
from eblearn.evaluate.protocol import (
    PROBE_SEED,
    evaluate_features,
    evaluate_raw_pixels,
    extract_features,
)
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


BENCH_FILES = ("results.csv", "results.md", "bench.png")
"""What a bench writes in its own folder (beside one run folder per method)."""


def bench_folder(path: str | os.PathLike[str]) -> RunFolder:
    """The run folder of a bench (its results are what must not be lost)."""
    return RunFolder(path, kind="bench", precious=BENCH_FILES)


@dataclass
class BenchPlan:
    """A validated bench: every method's request checked, nothing on disk touched yet."""

    requests: dict[str, TrainConfig]
    base: TrainConfig
    data: DatasetSplits
    folder: RunFolder
    mode: Mode
    overwrite: bool


def prepare_bench(
    methods: Sequence[str],
    base: TrainConfig,
    method_args: dict[str, dict[str, Any]],
    run_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    data: DatasetSplits | None = None,
) -> BenchPlan:
    """Validates a bench completely, for every method, reading the disk only.

    Each method's request goes through :func:`eblearn.app.train.prepare_training` (the same
    checks as ``eblearn train``: names, values, the method built with its hyper-parameters,
    the batch, the method's run folder), so a mistake in the last method is reported before
    the first one trains.

    Raises:
        ValueError: On an empty or repeated method list, an unknown method, a bad option or
            hyper-parameter of any method, ``devices > 1`` or ``num_nodes > 1``, or a run
            folder that may not be used; nothing is written then.
    """
    from eblearn.app.train import prepare_training

    if not methods:
        raise ValueError("--methods is empty; name at least one method")
    repeated = sorted({m for m in methods if list(methods).count(m) > 1})
    if repeated:
        raise ValueError(f"--methods names {', '.join(map(repr, repeated))} more than once")
    for method in methods:
        METHODS.get(method)
    if base.devices != 1 or base.num_nodes != 1:
        raise ValueError(
            f"eblearn bench trains each method on one device, got --devices {base.devices} "
            f"--num-nodes {base.num_nodes}; train a method on several devices with eblearn "
            "train --devices (and --num-nodes)"
        )
    folder = bench_folder(run_dir or default_run_path("bench", base.data.partition(":")[0]))
    mode = Mode.OVERWRITE if overwrite else Mode.NEW
    folder.check(mode)
    if data is None:
        data = load_dataset(
            base.data, base.data_root, base.download, base.image_size, strict=base.strict
        )
    if not data.has_labels:
        raise ValueError(
            f"eblearn bench compares the methods' probe accuracies, which need labels, and "
            f"{base.data!r} has none; bench on a labeled data set, or pretrain one method on "
            "this data with eblearn train --eval-data SPEC"
        )
    requests = {}
    for method in methods:
        request = replace(
            base,
            method=method,
            method_args=method_args.get(method, {}),
            run_dir=str(folder.path / method),
        )
        try:  # builds and checks everything; the plan is dropped to free its model
            prepare_training(request, overwrite=overwrite, data=data)
        except ValueError as error:
            raise ValueError(f"{method}: {error}") from None
        requests[method] = request
    gc.collect()
    return BenchPlan(requests, base, data, folder, mode, overwrite)


def bench(
    methods: Sequence[str],
    base: TrainConfig,
    method_args: dict[str, dict[str, Any]],
    run_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    data: DatasetSplits | None = None,
) -> tuple[Path, list[BenchRow]]:
    """Trains and probes each method with ``base``'s data, backbone, epochs and seed.

    Args:
        methods: Registered method names.
        base: The shared configuration (its ``method``, ``method_args`` and ``run_dir`` are
            set per method).
        method_args: Hyper-parameters per method (see :func:`parse_method_args`).
        run_dir: The bench's run folder (default ``runs/bench-<data>-<time>``): the results,
            and one run folder per method.
        overwrite: Replace an earlier bench in ``run_dir`` (the files eblearn wrote only).
        data: Data to bench on instead of loading ``base.data``.

    Returns:
        The run folder, and one row per method, then a ``raw pixels`` row.

    Raises:
        ValueError: As :func:`prepare_bench`, before anything is written.
        Interrupted: On SIGINT or SIGTERM.
    """
    plan = prepare_bench(methods, base, method_args, run_dir, overwrite, data)
    return plan.folder.path, run_bench(plan)


def run_bench(plan: BenchPlan) -> list[BenchRow]:
    """Runs a validated bench (see :func:`bench`); returns its rows."""
    # Lightning loads here, not when the module is imported: ``eblearn --help`` and the
    # listing commands build this parser and should not pay for it.
    from eblearn.app.train import pretrain
    from eblearn.train.callbacks import TrainingClock
    from eblearn.train.precision import inference_setting

    base, data, folder = plan.base, plan.data, plan.folder
    rows = []
    backbone = base.backbone
    hint = f"finished methods keep their run folders under {str(folder.path)!r}; "
    hint += "rerun with --overwrite"
    with folder.claimed(plan.mode, command="eblearn bench"), interruptible(hint):
        for method, config in plan.requests.items():
            clock = TrainingClock()
            device = _device(config)
            with peak_memory(device) as memory:
                run = pretrain(config, overwrite=plan.overwrite, data=data, callbacks=[clock])
            images = clock.steps * run.config.batch_size * run.config.devices
            backbone = run.config.backbone
            encoder, transform = run.method.encoder.to(device), run.eval_transform.to(device)
            inference = inference_setting(  # as the run trained, where native here
                run.config.precision, run.config.memory_format, encoder, device
            )
            train = extract_features(
                encoder, data.train.images, transform, device=device, inference=inference
            )
            test = extract_features(
                encoder, data.test.images, transform, device=device, inference=inference
            )
            report = evaluate_features(
                train,
                data.train.labels,
                test,
                data.test.labels,
                knn_k=run.config.knn_k,
                knn_temperature=run.config.knn_temperature,
                seed=PROBE_SEED,
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
            data, knn_k=base.knn_k, knn_temperature=base.knn_temperature, seed=PROBE_SEED
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
        write_csv(rows, folder.file("results.csv"))
        markdown = format_table(rows, markdown=True) + "\n"
        atomic_write_bytes(markdown.encode(), folder.file("results.md"))
        epochs = run.config.epochs
        plot_method_comparison(
            [r.method for r in rows],
            {
                "kNN": [r.knn for r in rows],
                "linear": [r.linear for r in rows],
                "10% labels": [r.labels_10 for r in rows],
                "1% labels": [r.labels_1 for r in rows],
            },
            [r.images_per_second for r in rows],
            folder.file("bench.png"),
            title=f"{_short(base.data)}: {epochs} epochs, backbone {backbone}, seed {base.seed}",
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
  eblearn bench --run-dir runs/my-bench --overwrite   # replace an earlier bench

The options shared with 'eblearn train' mean the same there, except --epochs (20 per method
here). Every method and option is checked before the first method trains. RUN_DIR receives
results.csv, results.md, bench.png and one run folder per method (RUN_DIR/<method>/); a folder
holding a bench is refused unless --overwrite.
"""
BENCH_DEFAULTS = {"epochs": 20}
"""Where the bench's defaults differ from ``eblearn train``'s (20 epochs for each method)."""


def add_bench_parser(subparsers: Any) -> None:
    """Registers ``eblearn bench`` (called by :func:`eblearn.cli.build_parser`)."""
    from eblearn.app.train import add_training_options

    parser = subparsers.add_parser(
        "bench",
        help="train several methods on the same data and compare them in one table",
        description="Pretrain each method on the same data, backbone, epochs and seed, then "
        "probe the frozen encoders (kNN, linear top-1/top-5, 1% and 10% labels) and measure "
        "images/s and peak memory.",
        epilog=BENCH_EPILOG,
        formatter_class=HelpFormatter,
        argument_default=argparse.SUPPRESS,  # only the options given reach the config
    )
    what, _ = add_training_options(parser, single_method=False)
    what.add_argument(
        "--methods",
        type=name_list,
        default=",".join(DEFAULT_METHODS),
        metavar="NAMES",
        help="comma-separated method names",
    )
    what.add_argument(
        "--method-arg",
        action="append",
        type=key_value,
        metavar="[METHOD:]KEY=VALUE",
        help="hyper-parameter for every method that has it, or for METHOD only (repeatable; "
        "default: the heads' settings)",
    )
    what.add_argument(
        "--heads",
        default="small",
        choices=("small", "paper"),
        help="head sizes: small (512 wide, CPU-friendly) or each paper's",
    )
    parser.set_defaults(**BENCH_DEFAULTS)
    for action in parser._actions:  # the help of an option whose default the bench changes
        if action.dest in BENCH_DEFAULTS:
            action.help = "passes over the data, per method"

    where = parser.add_argument_group("where results go")
    where.add_argument(
        "--run-dir", metavar="DIR", help="bench folder (default: runs/bench-<data>-<time>)"
    )
    where.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the bench in --run-dir (the files eblearn wrote only)",
    )
    where.add_argument(
        "--no-progress", dest="progress_bar", action="store_false", help="hide progress bars"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``eblearn bench`` handler: validate every method, bench, then print the table."""
    from eblearn.app.train import build_config

    options = argparse.Namespace(
        **{k: v for k, v in vars(args).items() if k not in BENCH_ONLY_OPTIONS}
    )
    base, given = build_config(options)
    for key in ("method", "method_args", "run_dir"):
        if key in given:
            raise ValueError(
                f"--config sets {key}, which the bench sets per method: remove it and pass "
                "--methods, --method-arg and --run-dir instead"
            )
    method_args = parse_method_args(args.methods, getattr(args, "method_arg", []), args.heads)
    run_dir, rows = bench(
        args.methods,
        base,
        method_args,
        getattr(args, "run_dir", None),
        overwrite=getattr(args, "overwrite", False),
    )
    print()
    print(format_table(rows))
    print(f"\nwritten: {', '.join(str(run_dir / name) for name in BENCH_FILES)}")
    return 0


BENCH_ONLY_OPTIONS = ("methods", "method_arg", "heads", "run_dir", "overwrite", "handler")
"""Options of ``eblearn bench`` that are not :class:`TrainConfig` fields set for every method."""
