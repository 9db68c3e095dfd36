"""CIFAR-10 under a wall-time budget: ``eblearn train`` with a shipped recipe against the same
method assembled from lightly's parts with lightly's defaults, trained for the same minutes on
the same CPU, probed by the same protocol on the full 10,000-image test split.

* **eblearn**: ``eblearn train --config recipes/cifar10-cpu-30m/<method>.yaml --time-budget B
  --eval-every E`` in its own process (the product as a user runs it); its ``results.json``
  gives the probes and the split of the job's time into training and evaluation, its
  ``log.csv`` the kNN curve against minutes.
* **lightly**: lightly's example for the method (VICReg: ``BarlowTwinsProjectionHead(F, 2048,
  2048)``, ``VICRegLoss()``, ``SGD(lr=0.06)`` at a constant rate, ``VICRegTransform`` per
  image in a ``DataLoader`` worker, batch 256), on the **same backbone** as the recipe, so that
  the comparison is about the method's recipe and the training loop, and so that its
  evaluation costs what eblearn's does (a ResNet-18's feature extraction of 60,000 images
  takes over 10 minutes on 2 cores). The budget counts data preparation and training, as
  eblearn's does; training stops at the first step that ends past it.
* Floors: raw pixels (eblearn's results.json) and the randomly initialized backbone.

Both sides use eblearn's evaluation protocol: weighted cosine kNN (k=20, T=0.07) and linear
probes on the frozen backbone's features of the 50,000 training images, 10% and 1% of labels
(3 class-balanced draws each). Each lightly image is normalized as its transform does (ImageNet
statistics); eblearn's with the data's own.

    python benchmarks/bench_cifar10_budget.py --budget 30m                 # VICReg, seed 0
    python benchmarks/bench_cifar10_budget.py --budget 2m --sides eblearn  # a quick look
    python benchmarks/bench_cifar10_budget.py --budget 30m --append        # also BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _cifar10 import cifar10_arrays
from _report import append_section, markdown_table
from torch import Tensor, nn

from eblearn.app.evaluation import check_features
from eblearn.data.augment import EvalTransform
from eblearn.evaluate.protocol import EvaluationReport, evaluate_encoder, extract_features
from eblearn.nn import BACKBONES
from eblearn.train.config import TrainConfig
from eblearn.train.history import read_history

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes" / "cifar10-cpu-30m"
OUT = ROOT / "benchmarks" / "out" / "cifar10-budget"
FIGURE = ROOT / "docs" / "img" / "cifar10_budget_knn.png"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def recipe_options(method: str) -> dict[str, Any]:
    """The recipe's options, as ``eblearn train --config`` reads them."""
    import yaml

    return dict(yaml.safe_load((RECIPES / f"{method}.yaml").read_text()))


def recipe_backbone(method: str, seed: int) -> nn.Module:
    """The recipe's backbone, initialized from ``seed``."""
    options = recipe_options(method)
    torch.manual_seed(seed)
    return BACKBONES.get(options.get("backbone", "convnet"))(3, **options.get("backbone_args", {}))


def run_eblearn(method: str, budget: str, seed: int, eval_every: int) -> dict[str, Any]:
    """``eblearn train`` with the recipe in a fresh process; its results and kNN curve."""
    run_dir = OUT / f"{method}-eblearn-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [
        sys.executable, "-m", "eblearn.cli", "train",
        "--config", str(RECIPES / f"{method}.yaml"),
        "--data", f"npz:{cifar10_arrays()}",
        "--time-budget", budget, "--eval-every", str(eval_every),
        "--seed", str(seed), "--run-dir", str(run_dir), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(command, check=True, env=env)
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


def run_lightly_vicreg(method: str, budget_seconds: float, seed: int) -> dict[str, Any]:
    """lightly's VICReg example on the recipe's backbone for ``budget_seconds``; its probes."""
    from lightly.loss import VICRegLoss
    from lightly.models.modules import BarlowTwinsProjectionHead
    from lightly.transforms.vicreg_transform import VICRegTransform

    from eblearn.data import load_dataset

    started = time.monotonic()
    with np.load(cifar10_arrays() / "train.npz") as arrays:
        images = arrays["images"]
    backbone = recipe_backbone(method, seed)
    head = BarlowTwinsProjectionHead(backbone.feature_dim, 2048, 2048)
    criterion = VICRegLoss()
    optimizer = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.06)
    loader = torch.utils.data.DataLoader(
        PILViews(images, VICRegTransform(input_size=32)),
        batch_size=256,
        shuffle=True,
        drop_last=True,
        num_workers=1,
        persistent_workers=True,
        generator=torch.Generator().manual_seed(seed),
    )
    steps, epochs, done = 0, 0, False
    while not done:
        for x0, x1 in loader:
            z0, z1 = head(backbone(x0)), head(backbone(x1))
            loss = criterion(z0, z1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if time.monotonic() - started >= budget_seconds:
                done = True
                break
        epochs += 1
    training_seconds = time.monotonic() - started
    saved = OUT / f"{method}-lightly-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}.pt"
    torch.save(backbone.state_dict(), saved)  # trained minutes are never lost to a probe
    print(f"lightly: {steps} steps, final loss {float(loss.detach()):.3f}; saved {saved}")
    data = load_dataset(f"npz:{cifar10_arrays()}")
    transform = EvalTransform(32, IMAGENET_MEAN, IMAGENET_STD)
    for split, images in (("train", data.train.images), ("test", data.test.images)):
        check_features(extract_features(backbone, images[:2048], transform), split)
    report = evaluate_encoder(backbone, data, transform)
    return {
        "report": report,
        "steps": steps,
        "epochs": epochs,
        "training_seconds": training_seconds,
        "evaluation_seconds": time.monotonic() - started - training_seconds,
        "final_loss": float(loss.detach()),
    }


def random_init_report(method: str, seed: int) -> EvaluationReport:
    """The probes on the recipe's backbone before any training (normalized as eblearn does)."""
    from eblearn.data import load_dataset

    data = load_dataset(f"npz:{cifar10_arrays()}")
    return evaluate_encoder(
        recipe_backbone(method, seed), data, EvalTransform(32, data.mean, data.std)
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


def draw_curves(curves: dict[str, list[tuple[float, float]]], budget_minutes: float) -> Path:
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
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(FIGURE, dpi=120)
    plt.close(figure)
    return FIGURE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="vicreg", choices=["vicreg"])
    parser.add_argument("--budget", default="30m", help="wall budget per run, e.g. 30m")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--eval-every", type=int, default=3, help="eblearn's kNN curve (epochs)")
    parser.add_argument("--sides", default="eblearn,lightly,random")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from eblearn.train.budget import parse_duration

    budget_seconds = parse_duration(args.budget)
    TrainConfig.from_dict(recipe_options(args.method), str(RECIPES / f"{args.method}.yaml"))
    sides = set(args.sides.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    rows, curves, raw = [], {}, None
    for seed in seeds:
        if "random" in sides:
            started = time.monotonic()
            report = as_json_report(random_init_report(args.method, seed))
            rows.append(["random-init backbone", seed, *probe_cells(report), "", "", "", "", ""])
            print(f"random init: {report} ({time.monotonic() - started:.0f} s)", flush=True)
        if "eblearn" in sides:
            run = run_eblearn(args.method, args.budget, seed, args.eval_every)
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
        if "lightly" in sides:
            out = run_lightly_vicreg(args.method, budget_seconds, seed)
            report = as_json_report(out["report"])
            rows.append([
                "lightly (example defaults)", seed, *probe_cells(report), out["steps"],
                out["epochs"], f"{out['training_seconds'] / 60:.1f}",
                f"{out['evaluation_seconds'] / 60:.1f}", f"final loss {out['final_loss']:.2f}",
            ])  # fmt: skip
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
    options = recipe_options(args.method)
    body = (
        f"{args.method} on CIFAR-10 (the shared JPEG copy; 50,000 training images, all 10,000 "
        f"test images), wall budget {args.budget} per run for data preparation and training, "
        f"{args.threads} torch thread(s). eblearn: `recipes/cifar10-cpu-30m/{args.method}.yaml` "
        f"({options}) with `--eval-every {args.eval_every}` (the curve's kNN evaluations count "
        "in the budget). lightly: its example's heads, loss, optimizer (SGD 0.06, constant), "
        "per-image VICRegTransform and batch 256, on the same backbone. Top-1 accuracy in %.\n\n"
        + markdown_table(header, rows)
    )
    if curves:
        body += f"\n\n![kNN against minutes]({FIGURE.relative_to(ROOT / 'docs')})\n"
        draw_curves(curves, budget_seconds / 60)
    if args.append:
        append_section(f"CIFAR-10 under a {args.budget} wall budget on the CPU", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
