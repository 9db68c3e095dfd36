"""Streaming vs in-memory image data: input-pipeline and training-step throughput, peak memory.

For each data size the script writes that many synthetic JPEGs (smooth random color fields,
``--side`` px, 1,000 per subfolder; kept in ``--workdir`` and reused) and, with
``--cifar10``, unpacks the 50,000 CIFAR-10 training JPEGs with ``../shared/data/cifar10.py``.
Each (data, path) pair is measured in a fresh process, so that its peak resident memory
(``getrusage``'s ``ru_maxrss``) is its own:

- **in memory** (the default): ``load_dataset`` decodes every file into one ``uint8`` tensor;
  the pipeline is then an index gather per batch.
- **streaming** (``--stream``): ``load_dataset(..., stream=True)`` lists the files and decodes
  a sample; DataLoader workers decode each batch (:mod:`eblearn.data.streaming`).

Measured per pair: the seconds to prepare the data set, images/s of the input pipeline alone
(``--batches`` batches of a shuffled epoch), images/s of a training step (VICReg on the
small ConvNet, AdamW, the run's ``MultiViewAugment`` on the batch: ``--steps`` timed steps
after 3 warm-up steps), and the peak RSS of the training process and of its largest worker.
The ratio streaming / in-memory of the step throughput is the figure to read (target >= 0.8);
absolute rates on a shared machine are noise.

    python benchmarks/bench_streaming.py                          # 50,000 and 200,000 JPEGs
    python benchmarks/bench_streaming.py --sizes 2000 --batches 5 --steps 3   # a smoke run
    python benchmarks/bench_streaming.py --cifar10 --append       # also CIFAR-10; BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _children import exit_on_sigterm
from _report import ROOT, append_section, markdown_table

SUBFOLDER_FILES = 1000
"""Synthetic JPEGs per subfolder (a flat folder of 200,000 files is slow on most filesystems)."""
CIFAR10_SCRIPT = ROOT.parent / "shared" / "data" / "cifar10.py"


def write_jpegs(folder: Path, n: int, side: int) -> Path:
    """``n`` synthetic JPEGs under ``folder`` (reused when a previous call wrote them)."""
    from PIL import Image

    done = folder / f".written-{n}-{side}"
    if done.exists():
        return folder
    rng = np.random.default_rng(0)
    for k in range(n):
        sub = folder / f"{k // SUBFOLDER_FILES:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        corners = rng.integers(0, 256, (2, 2, 3), dtype=np.uint8)  # a smooth color field
        picture = Image.fromarray(corners).resize((side, side), Image.Resampling.BILINEAR)
        picture.save(sub / f"{k:06d}.jpg", quality=90)
    done.touch()
    return folder


def unpack_cifar10(workdir: Path, script: Path) -> Path:
    """The CIFAR-10 training JPEGs as a folder (``DEST/train/<class>/*.jpg``)."""
    dest = workdir / "cifar10"
    if not (dest / "train").is_dir():
        if not script.is_file():
            raise SystemExit(f"--cifar10 needs {script}; pass --cifar10-script PATH")
        subprocess.run([sys.executable, str(script), str(dest)], check=True)
    return dest / "train"


def peak_rss_mb(who: int) -> float:
    """Peak resident memory in MB of this process (``RUSAGE_SELF``) or its largest child."""
    return resource.getrusage(who).ru_maxrss / 1024  # KB on Linux


def measure(spec: str, stream: bool, args: argparse.Namespace) -> dict[str, float]:
    """Prepares the data, times the pipeline and the training step; runs in its own process."""
    from eblearn.data import load_dataset
    from eblearn.data.streaming import stream_loader
    from eblearn.train.config import TrainConfig, resolve
    from eblearn.train.runs import build_components
    from eblearn.train.sharding import ShardedEpochSampler

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = load_dataset(spec, image_size=args.side, stream=stream)
    prepare = time.perf_counter() - start
    n = data.pretrain_count
    sampler = ShardedEpochSampler(n, 0, args.batch)
    if data.stream is not None:
        loader = stream_loader(data.stream, sampler, args.batch, args.workers)

        def batches():  # an endless supply of uint8 batches
            while True:
                for batch in loader:
                    yield batch.images
    else:
        images = data.pretrain_images

        def batches():
            while True:
                order = torch.tensor(list(sampler))
                for chunk in order.split(args.batch):
                    if len(chunk) == args.batch:
                        yield images[chunk]

    supply = batches()
    next(supply)  # workers started, first batch decoded
    start = time.perf_counter()
    for _ in range(args.batches):
        next(supply)
    pipeline = args.batches * args.batch / (time.perf_counter() - start)

    request = TrainConfig(
        method="vicreg",
        data=spec,
        batch_size=args.batch,
        backbone="convnet",
        backbone_args={"width": args.width},
        method_args={"projector_dims": [512, 512, 512]},
        image_size=args.side,
        stream=stream,
    )
    config = resolve(request, data.channels, data.image_size)
    method, augment, _ = build_components(config, data)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)

    def step() -> None:
        views = augment(next(supply))
        loss = method(views)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    training = args.steps * args.batch / (time.perf_counter() - start)
    return {
        "images": n,
        "prepare_s": prepare,
        "pipeline": pipeline,
        "step": training,
        "rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "worker_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN) if stream else 0.0,
    }


def measure_in_subprocess(spec: str, stream: bool, args: argparse.Namespace) -> dict[str, float]:
    """:func:`measure` in a fresh Python process (its own peak RSS); returns its figures."""
    command = [
        sys.executable,
        __file__,
        "--measure",
        spec,
        *(["--stream"] if stream else []),
        *("--side", str(args.side), "--batch", str(args.batch), "--width", str(args.width)),
        *("--batches", str(args.batches), "--steps", str(args.steps)),
        *("--threads", str(args.threads)),
        *(["--workers", str(args.workers)] if args.workers is not None else []),
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"measuring {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--side", type=int, default=32, help="side of the JPEGs and views")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=int, default=32, help="ConvNet width")
    parser.add_argument("--batches", type=int, default=50, help="pipeline batches timed")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--workers", type=int, default=None, help="default: the CPUs but one")
    parser.add_argument("--workdir", type=Path, default=None, help="where the JPEGs are kept")
    parser.add_argument("--cifar10", action="store_true", help="also the CIFAR-10 train JPEGs")
    parser.add_argument("--cifar10-script", type=Path, default=CIFAR10_SCRIPT)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    parser.add_argument("--measure", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # the child process: one (data, path) pair
        print(json.dumps(measure(args.measure, args.stream, args)))
        return
    workdir = args.workdir or Path(tempfile.gettempdir()) / "eblearn-bench-streaming"
    specs = [
        (
            f"{n:,} synthetic JPEGs",
            write_jpegs(workdir / f"synthetic-{n}-{args.side}", n, args.side),
        )
        for n in args.sizes
    ]
    if args.cifar10:
        specs.append(("CIFAR-10 train JPEGs", unpack_cifar10(workdir, args.cifar10_script)))
    rows = []
    for label, folder in specs:
        spec = f"imagefolder:{folder}"
        memory = measure_in_subprocess(spec, False, args)
        stream = measure_in_subprocess(spec, True, args)
        for name, figures in (("in memory", memory), ("streaming", stream)):
            rows.append(
                [
                    label,
                    name,
                    f"{figures['prepare_s']:.1f}",
                    f"{figures['pipeline']:,.0f}",
                    f"{figures['step']:,.0f}",
                    f"{figures['step'] / memory['step']:.2f}",
                    f"{figures['rss_mb']:,.0f}",
                    f"{figures['worker_rss_mb']:,.0f}" if name == "streaming" else "-",
                ]
            )
        print(markdown_table(HEADER, rows[-2:]), flush=True)
    from eblearn.data.streaming import default_workers

    workers = args.workers if args.workers is not None else default_workers()
    table = markdown_table(HEADER, rows)
    body = (
        f"VICReg on a ConvNet (width {args.width}), batch {args.batch}, {args.side} px views, "
        f"{args.threads} torch thread(s), streaming with {workers} DataLoader worker(s). "
        f"Pipeline: {args.batches} batches of a shuffled epoch; step: {args.steps} timed "
        "steps (augmentation, forward, backward, AdamW) after 3 warm-up steps. Peak RSS from "
        "getrusage, each path in its own process.\n\n" + table
    )
    print("\n" + body)
    if args.append:
        append_section("Streaming vs in-memory data (issue 14)", body)


HEADER = [
    "data",
    "path",
    "prepare (s)",
    "pipeline (img/s)",
    "train step (img/s)",
    "step ratio vs in memory",
    "peak RSS (MB)",
    "largest worker peak RSS (MB)",
]


if __name__ == "__main__":
    with exit_on_sigterm():  # a stopped benchmark stops its children
        main()
