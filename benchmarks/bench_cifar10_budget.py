"""CIFAR-10 under a wall-time budget: ``eblearn train`` with a shipped recipe against the same
method assembled from lightly's parts with lightly's defaults, trained for the same minutes on
the same CPU, probed by the same protocol on the full 10,000-image test split.

* **eblearn**: ``eblearn train --config recipes/cifar10-cpu-30m/<method>.yaml --time-budget B
  --eval-every E`` in its own process (the product as a user runs it); its ``results.json``
  gives the probes and the split of the job's time into training and evaluation, its
  ``log.csv`` the kNN curve against minutes.
* **lightly**: lightly's example for the method (``examples/pytorch/<method>.py``: its heads,
  loss, transform per image in a ``DataLoader`` worker, optimizer; ``_lightly_methods.py``
  holds one class per method on a shared skeleton and says what was chosen where the example
  has nothing, e.g. SwAV's 32 px crops), on the **same backbone** and the **same batch** as
  the recipe, so that the comparison is about the method's recipe and the training loop, and
  so that its evaluation costs what eblearn's does (a ResNet-18's feature extraction of
  60,000 images takes over 10 minutes on 2 cores). The budget counts data preparation and
  training, as eblearn's does; training stops at the first step that ends past it.
* Floors: raw pixels (eblearn's results.json) and the randomly initialized backbone.

Both sides use eblearn's evaluation protocol: weighted cosine kNN (k=20, T=0.07) and linear
probes on the frozen backbone's features of the 50,000 training images, 10% and 1% of labels
(3 class-balanced draws each). Each lightly image is normalized as its transform does (ImageNet
statistics); eblearn's with the data's own.

    python benchmarks/bench_cifar10_budget.py --budget 30m                  # VICReg, seed 0
    python benchmarks/bench_cifar10_budget.py --method simclr --budget 30m  # SimCLR
    python benchmarks/bench_cifar10_budget.py --budget 2m --sides eblearn   # a quick look
    python benchmarks/bench_cifar10_budget.py --budget 30m --append         # also BENCHMARKS.md
    python benchmarks/bench_cifar10_budget.py --budget 30m --sides eblearn --precision 32
                                                        # the recipe in float32 (bf16 vs fp32)

``--data`` and ``--recipes`` point it at other arrays and recipe folders (the tests run it on
generated images with tiny recipes); lightly must be importable (``pip install lightly``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _children import exit_on_sigterm, launch
from _cifar10 import cifar10_arrays, holds_splits
from _lightly_methods import LIGHTLY_METHODS, describe
from _report import append_section, markdown_table
from torch import Tensor, nn

from eblearn.app.evaluation import check_features
from eblearn.data.augment import EvalTransform
from eblearn.evaluate.protocol import (
    PROBE_SEED,
    EvaluationReport,
    evaluate_encoder,
    extract_features,
)
from eblearn.nn import BACKBONES
from eblearn.train.config import PRECISIONS, TrainConfig
from eblearn.train.history import read_history

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes" / "cifar10-cpu-30m"
OUT = ROOT / "benchmarks" / "out" / "cifar10-budget"
FIGURES = ROOT / "docs" / "img"
"""``--append`` draws ``cifar10_budget_knn_<method>.png`` here (see :func:`figure_name`)."""
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
METHODS = tuple(LIGHTLY_METHODS)
"""Methods with a lightly side; each needs ``<recipes>/<method>.yaml`` too."""


def recipe_options(recipe: Path) -> dict[str, Any]:
    """The recipe's options, as ``eblearn train --config`` reads them (validated)."""
    import yaml

    options = dict(yaml.safe_load(recipe.read_text()))
    TrainConfig.from_dict(options, str(recipe))
    return options


def recipe_backbone(options: dict[str, Any], seed: int) -> nn.Module:
    """The recipe's backbone, initialized from ``seed``."""
    torch.manual_seed(seed)
    return BACKBONES.get(options.get("backbone", "convnet"))(3, **options.get("backbone_args", {}))


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def run_eblearn(
    recipe: Path,
    data: Path,
    budget: str,
    seed: int,
    eval_every: int,
    out: Path,
    threads: int,
    precision: str | None = None,
) -> dict[str, Any]:
    """``eblearn train`` with the recipe in a fresh process; its results and kNN curve.

    ``precision`` overrides the recipe's (``--precision`` on the command line), e.g. ``32`` to
    set float32 beside what ``auto`` picks on this machine."""
    run_dir = out / f"{recipe.stem}-eblearn-seed{seed}-{stamp()}"
    command = [
        sys.executable, "-m", "eblearn.cli", "train",
        "--config", str(recipe),
        "--data", f"npz:{data}",
        "--time-budget", budget, "--eval-every", str(eval_every),
        "--seed", str(seed), "--run-dir", str(run_dir), "--no-progress",
    ]  # fmt: skip
    if precision is not None:
        command += ["--precision", precision]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": str(threads),  # torch's intra-op threads in the child
    }
    launch(command, env)
    results = json.loads((run_dir / "results.json").read_text())
    curve = [
        (row["eval/minutes"], row["eval/knn"])
        for row in read_history(run_dir / "log.csv")
        if "eval/knn" in row
    ]
    return {"results": results, "curve": curve, "run_dir": str(run_dir)}


class PILViews(torch.utils.data.Dataset):
    """uint8 HWC images as PIL images through a lightly multi-view transform."""

    def __init__(self, images: np.ndarray, transform: Any) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> list[Tensor]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index]))


def train_lightly(
    method: str,
    options: dict[str, Any],
    images: np.ndarray,
    budget_seconds: float,
    seed: int,
    started: float,
    workers: int = 1,
) -> dict[str, Any]:
    """Trains lightly's ``method`` on the recipe's backbone and batch until the budget (counted
    from ``started``, a ``time.monotonic()`` reading) is spent; at least one step."""
    model = LIGHTLY_METHODS[method](recipe_backbone(options, seed))
    optimizer = model.optimizer()
    loader = torch.utils.data.DataLoader(
        PILViews(images, model.transform(images.shape[1])),
        batch_size=int(options.get("batch_size", 256)),
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
    steps, epochs, done, loss = 0, 0, False, torch.tensor(math.nan)
    while not done:
        for views in loader:
            model.before_step((time.monotonic() - started) / budget_seconds)
            loss = model.training_loss(views)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if time.monotonic() - started >= budget_seconds:
                done = True
                break
        epochs += 1
    return {"model": model, "steps": steps, "epochs": epochs, "final_loss": float(loss.detach())}


def run_lightly(
    method: str,
    recipe: Path,
    data: Path,
    budget_seconds: float,
    seed: int,
    out: Path,
    workers: int = 1,
) -> dict[str, Any]:
    """lightly's ``method`` example on the recipe's backbone for ``budget_seconds``; its
    probes, or ``report=None`` and the reason when its features are not finite."""
    from eblearn.data import load_dataset

    started = time.monotonic()
    with np.load(data / "train.npz") as arrays:
        images = arrays["images"]
    trained = train_lightly(
        method, recipe_options(recipe), images, budget_seconds, seed, started, workers
    )
    training_seconds = time.monotonic() - started
    backbone = trained["model"].backbone
    saved = out / f"{method}-lightly-seed{seed}-{stamp()}.pt"
    torch.save(backbone.state_dict(), saved)  # trained minutes are never lost to a probe
    print(f"lightly: {trained['steps']} steps, final loss {trained['final_loss']:.3f}; "
          f"saved {saved}")  # fmt: skip
    dataset = load_dataset(f"npz:{data}")
    transform = EvalTransform(images.shape[1], IMAGENET_MEAN, IMAGENET_STD)
    report, failure = None, ""
    try:
        for split, split_images in (("train", dataset.train.images), ("test", dataset.test.images)):
            check_features(extract_features(backbone, split_images[:2048], transform), split)
        report = evaluate_encoder(backbone, dataset, transform, seed=PROBE_SEED)
    except ValueError as error:  # NaN or Inf features: the run diverged
        failure = str(error)
        print(f"lightly: {failure}", flush=True)
    return {
        "report": report,
        "failure": failure,
        "steps": trained["steps"],
        "epochs": trained["epochs"],
        "training_seconds": training_seconds,
        "evaluation_seconds": time.monotonic() - started - training_seconds,
        "final_loss": trained["final_loss"],
    }


def random_init_report(options: dict[str, Any], data: Path, seed: int) -> EvaluationReport:
    """The probes on the recipe's backbone before any training (normalized as eblearn does)."""
    from eblearn.data import load_dataset

    dataset = load_dataset(f"npz:{data}")
    return evaluate_encoder(
        recipe_backbone(options, seed),
        dataset,
        EvalTransform(dataset.image_size, dataset.mean, dataset.std),
        seed=PROBE_SEED,
    )


def probe_cells(report: dict[str, Any]) -> list[str]:
    few = report["few_label"]
    return [
        f"{100 * report['knn']:.1f}",
        f"{100 * report['linear']:.1f}",
        f"{100 * few['0.1']:.1f}",
        f"{100 * few['0.01']:.1f}",
    ]


def as_json_report(report: EvaluationReport) -> dict[str, Any]:
    values = report.as_dict()
    values["few_label"] = {str(k): v for k, v in report.few_label.items()}
    return values


def figure_name(method: str, sides: set[str]) -> str:
    """``cifar10_budget_knn_<method>.png`` for a run of both eblearn and lightly; a run of one
    of them gets its name appended (``..._simclr_lightly.png``), so that re-measuring one side
    does not draw over the comparison's figure."""
    drawn = [side for side in ("eblearn", "lightly") if side in sides]
    return "_".join(["cifar10_budget_knn", method, *(drawn if len(drawn) == 1 else [])]) + ".png"


def unused_path(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``<stem>_2``, ``<stem>_3``, ...: a
    figure that an earlier BENCHMARKS.md section shows is never drawn over by a rerun (the
    same side re-measured on another machine, say)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
    return candidate


def draw_curves(
    curves: dict[str, list[tuple[float, float]]], budget_minutes: float, path: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        minutes, knn = zip(*points, strict=True)
        style = "o-" if len(points) > 1 else "s"
        axes.plot(minutes, [100 * k for k in knn], style, label=label)
    axes.axvline(budget_minutes, color="grey", lw=0.8, ls="--")
    axes.set_xlabel("wall-clock minutes (2 CPU cores; data preparation included)")
    axes.set_ylabel("kNN top-1 on the 10,000 test images (%)")
    axes.set_title("CIFAR-10 under a wall-time budget")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--method", default="vicreg", choices=METHODS)
    parser.add_argument("--budget", default="30m", help="wall budget per run, e.g. 30m")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--eval-every", type=int, default=3, help="eblearn's kNN curve (epochs)")
    parser.add_argument("--sides", default="eblearn,lightly,random")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="lightly's DataLoader workers")
    parser.add_argument("--data", type=Path, default=None, help="npz folder (default CIFAR-10)")
    parser.add_argument("--recipes", type=Path, default=RECIPES, help="folder of <method>.yaml")
    parser.add_argument("--out", type=Path, default=OUT, help="run folders and lightly weights")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="eblearn's precision instead of the recipe's (default: the recipe's, else auto)",
    )
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    from eblearn.train.budget import parse_duration

    sides = args.sides.split(",")
    unknown = sorted(set(sides) - {"eblearn", "lightly", "random"})
    if unknown or not sides:
        parser.error(f"unknown --sides {unknown}; choose from eblearn, lightly, random")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
        args.budget_seconds = parse_duration(args.budget)
    except ValueError as error:
        parser.error(str(error))
    if args.threads < 1 or args.workers < 0 or args.eval_every < 1:
        parser.error("--threads and --eval-every must be >= 1 and --workers >= 0")
    args.recipe = args.recipes / f"{args.method}.yaml"
    if not args.recipe.is_file():
        parser.error(f"no recipe {args.recipe} for --method {args.method}")
    try:
        args.options = recipe_options(args.recipe)
    except ValueError as error:
        parser.error(str(error))
    if args.options.get("method") != args.method:
        parser.error(f"{args.recipe} trains {args.options.get('method')!r}, not {args.method!r}")
    if args.data is not None and not holds_splits(args.data):
        parser.error(f"--data {args.data} must hold train.npz and test.npz")
    args.side_set = set(sides)
    return args


def main(argv: list[str] | None = None) -> None:
    with exit_on_sigterm():
        run_benchmark(parse_args(argv))


def run_benchmark(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    data = args.data or cifar10_arrays()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, curves, raw = [], {}, None
    for seed in args.seed_list:
        if "random" in args.side_set:
            started = time.monotonic()
            report = as_json_report(random_init_report(args.options, data, seed))
            rows.append(["random-init backbone", seed, *probe_cells(report), "", "", "", "", ""])
            print(f"random init: {report} ({time.monotonic() - started:.0f} s)", flush=True)
        if "eblearn" in args.side_set:
            run = run_eblearn(
                args.recipe,
                data,
                args.budget,
                seed,
                args.eval_every,
                args.out,
                args.threads,
                args.precision,
            )
            results = run["results"]
            raw = results["raw_pixels"]
            history = read_history(Path(run["run_dir"]) / "log.csv")
            steps = max(int(r["step"]) for r in history) + 1
            epochs = max(int(r["epoch"]) for r in history) + 1
            rows.append([
                "eblearn (recipe)", seed, *probe_cells(results["encoder"]), steps, epochs,
                f"{results['training_seconds'] / 60:.1f}",
                f"{results['evaluation_seconds'] / 60:.1f}", run["run_dir"].split("/")[-1],
            ])  # fmt: skip
            curves[f"eblearn recipe, seed {seed}"] = run["curve"]
            print(f"eblearn: {results}", flush=True)
        if "lightly" in args.side_set:
            out = run_lightly(
                args.method, args.recipe, data, args.budget_seconds, seed, args.out, args.workers
            )
            timing = [
                out["steps"], out["epochs"], f"{out['training_seconds'] / 60:.1f}",
                f"{out['evaluation_seconds'] / 60:.1f}", f"final loss {out['final_loss']:.2f}",
            ]  # fmt: skip
            if out["report"] is None:
                rows.append(["lightly (example defaults)", seed, "NaN features", "", "", "",
                             *timing])  # fmt: skip
            else:
                report = as_json_report(out["report"])
                rows.append(["lightly (example defaults)", seed, *probe_cells(report), *timing])
                curves[f"lightly example, seed {seed}"] = [
                    (out["training_seconds"] / 60, report["knn"])
                ]
            print(f"lightly: {out}", flush=True)
    if raw is not None:
        rows.append(["raw pixels", "", *probe_cells(raw), "", "", "", "", ""])
    header = [
        "encoder", "seed", "kNN", "linear", "10% labels", "1% labels", "steps", "epochs",
        "training min", "evaluation min", "note",
    ]  # fmt: skip
    precision_note = f" and `--precision {args.precision}`" if args.precision else ""
    body = (
        f"{args.method} on CIFAR-10 (the shared JPEG copy; 50,000 training images, all 10,000 "
        f"test images), wall budget {args.budget} per run for data preparation and training, "
        f"{args.threads} torch thread(s). eblearn: `{args.recipe.relative_to(args.recipes.parent)}`"
        f" ({args.options}) with `--eval-every {args.eval_every}`{precision_note} (the curve's "
        f"kNN evaluations count in the budget). lightly: {describe(args.method)}; on the same "
        f"backbone, batch "
        f"{args.options.get('batch_size', 256)}, its transform per image in {args.workers} "
        "DataLoader worker(s). Top-1 accuracy in %.\n\n" + markdown_table(header, rows)
    )
    if args.data is not None:
        body = body.replace("CIFAR-10 (the shared JPEG copy; 50,000 training images, all "
                            "10,000 test images)", f"npz:{args.data}")  # fmt: skip
    if curves and args.append:
        figure = unused_path(FIGURES / figure_name(args.method, args.side_set))
        draw_curves(curves, args.budget_seconds / 60, figure)
        body += f"\n\n![kNN against minutes]({figure.relative_to(ROOT)})\n"
    elif curves:
        print(f"figure: {draw_curves(curves, args.budget_seconds / 60, args.out / 'knn.png')}")
    if args.append:
        append_section(f"CIFAR-10 under a {args.budget} wall budget on the CPU", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
