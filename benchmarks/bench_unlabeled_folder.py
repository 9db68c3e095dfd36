"""Pretraining on an unlabeled folder, probed with --eval-data, vs the labeled path (issue 14).

The same CIFAR-10 training images are pretrained on twice with the same method and seed:

- **labeled**: ``--data npz:LABELED`` (``train.npz`` the images with their labels, ``test.npz``
  the labeled test split), probed on its own train/test splits;
- **unlabeled folder**: the same images written as PNG files (lossless: the same pixels) to a
  flat folder, in the same order (file names sort as the array does), pretrained on with
  ``--data imagefolder:FOLDER --eval-data npz:LABELED``, so the probes see the same labeled
  splits.

Both runs normalize with the same statistics (the same pixels), read the images in the same
order, draw the same augmentations and run at the same precision (``--precision 32``; ``auto``
measures step times, which could choose differently). The one difference by design is the
online linear probe, which only the labeled run can train; the script trains the labeled path
with and without it (``--no-online-probe``). Measured (BENCHMARKS.md): all three runs end
with equal encoder weights, tensor for tensor, and so the same kNN and linear accuracies; the
online probe leaves the encoder untouched because it trains on detached features
(``out["features"]``), so no gradient of its loss reaches the backbone.

CIFAR-10 comes from ../shared/data (see its README). By default a class-balanced subset of
10,000 training images (1,000 per class, drawn with seed 0) is pretrained on for 2 epochs,
one torch thread, so that the three runs fit in about 10 minutes on one core; the probes use
those 10,000 images and the full 10,000-image test split.

    python benchmarks/bench_unlabeled_folder.py                 # prints the table
    python benchmarks/bench_unlabeled_folder.py --append        # and appends it to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _children import exit_on_sigterm
from _cifar10 import cifar10_arrays
from _report import ROOT, append_section, markdown_table

HEADER = ["run", "data", "kNN", "linear", "encoder weights", "seconds"]


def labeled_subset(folder: Path, n: int, seed: int) -> Path:
    """``folder/train.npz`` (``n`` training images, class-balanced) and ``folder/test.npz``
    (the whole labeled test split)."""
    source = cifar10_arrays()
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(source / "train.npz") as arrays:
        images, labels, classes = arrays["images"], arrays["labels"], arrays["classes"]
    rng = np.random.default_rng(seed)
    per_class = n // len(classes)
    chosen = np.sort(
        np.concatenate(
            [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(len(classes))]
        )
    )
    np.savez(folder / "train.npz", images=images[chosen], labels=labels[chosen], classes=classes)
    with np.load(source / "test.npz") as arrays:
        np.savez(folder / "test.npz", **{k: arrays[k] for k in ("images", "labels", "classes")})
    return folder


def png_folder(labeled: Path, folder: Path) -> Path:
    """The training images of ``labeled`` as PNG files ``00000.png``, ... in array order."""
    from PIL import Image

    with np.load(labeled / "train.npz") as arrays:
        images = arrays["images"]
    folder.mkdir(parents=True, exist_ok=True)
    for index, pixels in enumerate(images):
        Image.fromarray(pixels).save(folder / f"{index:05d}.png")
    return folder


def train(run_dir: Path, data: str, options: list[str]) -> tuple[dict, float]:
    """Runs ``eblearn train`` in a child process on one thread; its results.json and seconds."""
    command = [sys.executable, "-m", "eblearn.cli", "train", "--data", data]
    command += ["--run-dir", str(run_dir), "--overwrite", "--no-progress", *options]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    environment["PYTHONPATH"] = str(ROOT / "src")
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=environment)
    seconds = time.perf_counter() - start
    return json.loads((run_dir / "results.json").read_text()), seconds


def same_weights(a: Path, b: Path) -> bool:
    """Whether two runs' encoder.pt hold equal tensors, bit for bit."""
    first = torch.load(a / "encoder.pt", weights_only=True)
    second = torch.load(b / "encoder.pt", weights_only=True)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--method", default="vicreg")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.gettempdir()) / "eblearn-bench-unlabeled"
    labeled = labeled_subset(workdir / "labeled", args.train_images, args.seed)
    folder = png_folder(labeled, workdir / "png")
    common = ["--method", args.method, "--seed", str(args.seed), "--epochs", str(args.epochs)]
    common += ["--batch-size", str(args.batch_size), "--precision", "32"]
    runs = {  # name: (run folder, data, options)
        "labeled, no online probe": ("labeled-no-probe", f"npz:{labeled}", ["--no-online-probe"]),
        "labeled": ("labeled", f"npz:{labeled}", []),
        "unlabeled folder + --eval-data": (
            "folder",
            f"imagefolder:{folder}",
            ["--eval-data", f"npz:{labeled}"],
        ),
    }
    reference = workdir / "runs" / "labeled-no-probe"
    rows = []
    for name, (run_name, data, options) in runs.items():
        run = workdir / "runs" / run_name
        summary, seconds = train(run, data, common + options)
        encoder = summary["encoder"]
        weights = (
            "(reference)"
            if run == reference
            else ("equal" if same_weights(run, reference) else "differ")
        )
        rows.append(
            [
                name,
                data.split(":")[0],
                f"{encoder['knn']:.2%}",
                f"{encoder['linear']:.2%}",
                weights,
                f"{seconds:.0f}",
            ]
        )
    table = markdown_table(HEADER, rows)
    body = (
        f"{args.method} on {args.train_images:,} CIFAR-10 training images (class-balanced, "
        f"seed {args.seed}), {args.epochs} epoch(s), batch {args.batch_size}, precision 32, "
        "one torch thread; probes (kNN, linear) on the same images and the 10,000 test images. "
        "Encoder weights compared tensor for tensor with the labeled run without the online "
        "probe.\n\n" + table
    )
    print("\n" + body)
    if args.append:
        append_section("Unlabeled folder + --eval-data vs the labeled path (issue 14)", body)


if __name__ == "__main__":
    with exit_on_sigterm():  # a stopped benchmark stops its children
        main()
