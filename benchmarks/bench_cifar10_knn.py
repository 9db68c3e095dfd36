"""CIFAR-10 kNN accuracy of each eblearn method against the same method assembled from
lightly's parts, with the same recipe, on a fixed short CPU budget, over 3 seeds.

Both sides share everything but the method: the backbone (a small 3-stage ResNet, the same
initial weights for the same seed), the views (eblearn's batched augmentations drawn from the
same seed: SimCLR's recipe, multi-crop for SwAV), the training loop (SGD with momentum 0.9,
weight decay 5e-4, 10% linear warm-up then cosine) and the evaluation (weighted kNN, k=20,
T=0.07, on the frozen backbone's features of the training subset, scored on test images).

The CPU budget (defaults): views of 16 px cut from the 32-px images, 4,000 training images
(a fixed random subset), 6 epochs of batch 128 (186 steps, SGD lr 0.2), kNN bank = those
4,000 images, 2,000 random test images; one torch thread (two threads on two shared cores ran
20-50× slower here). All 7 methods × 2 implementations × 3 seeds: about 30-40 minutes on 2
shared cores (``--methods`` runs a part). The table also gives the floors: kNN on the
randomly initialized backbone and on raw pixels. With a shorter budget (2 epochs of 3,000
images) every method stayed below raw pixels, and the comparison said nothing.

    python benchmarks/bench_cifar10_knn.py                    # 7 methods, seeds 0,1,2
    python benchmarks/bench_cifar10_knn.py --methods simclr,byol --append
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _joint import (
    LIGHTLY_METHODS,
    Recipe,
    SmallResNet,
    eblearn_method,
    eval_transform,
    knn_top1,
    lightly_method,
    load_cifar10,
    train_method,
    views_recipe,
)
from _report import append_section

ROOT = Path(__file__).resolve().parent.parent


def run_one(
    name: str, side: str, seed: int, data: tuple[torch.Tensor, ...], args: argparse.Namespace
) -> tuple[float, float]:
    """kNN top-1 and training images/s of one method, one implementation, one seed."""
    torch.manual_seed(seed)
    backbone = SmallResNet()
    recipe = Recipe(hidden=args.hidden, out=args.out)
    build = eblearn_method if side == "eblearn" else lightly_method
    method = build(name, backbone, recipe)
    device = torch.device("cpu")
    train_images, train_labels, test_images, test_labels = data
    stats = train_method(
        method,
        train_images,
        views_recipe(name, args.size, 3),
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        seed=seed,
        device=device,
    )
    accuracy = knn_top1(
        method.encoder,
        train_images,
        train_labels,
        test_images,
        test_labels,
        eval_transform(args.size, 3),
        device,
    )
    return accuracy, stats.images_per_second


def table(results: dict[str, dict[str, list[float]]], speeds: dict[str, dict[str, float]]) -> str:
    lines = [
        "| method | eblearn kNN (mean ± sd) | lightly kNN (mean ± sd) | eblearn − lightly "
        "| seed spread | within spread | eblearn img/s | lightly img/s "
        "| per-seed eblearn / lightly |",
        "|---|---:|---:|---:|---:|:---:|---:|---:|---|",
    ]
    for name, sides in results.items():
        ours, theirs = sides["eblearn"], sides["lightly"]
        spread = max(max(ours) - min(ours), max(theirs) - min(theirs))
        difference = statistics.mean(ours) - statistics.mean(theirs)
        verdict = "yes" if difference >= -spread else "**no**"
        seeds = ", ".join(f"{100 * a:.1f}/{100 * b:.1f}" for a, b in zip(ours, theirs))
        lines.append(
            f"| {name} | {100 * statistics.mean(ours):.1f} ± {100 * statistics.pstdev(ours):.1f} "
            f"| {100 * statistics.mean(theirs):.1f} ± {100 * statistics.pstdev(theirs):.1f} "
            f"| {100 * difference:+.1f} | {100 * spread:.1f} | {verdict} "
            f"| {speeds[name]['eblearn']:.0f} | {speeds[name]['lightly']:.0f} | {seeds} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(LIGHTLY_METHODS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--out", type=int, default=128)
    parser.add_argument("--size", type=int, default=16, help="side of the views (16)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cifar", help="folder with train.npz/test.npz (default data/cifar10)")
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cifar = load_cifar10(args.cifar)
    subset = torch.Generator().manual_seed(1234)  # the same images for every run
    train_index = torch.randperm(len(cifar.train), generator=subset)[: args.train_images]
    test_index = torch.randperm(len(cifar.test), generator=subset)[: args.test_images]
    data = (
        cifar.train.images[train_index],
        cifar.train.labels[train_index],
        cifar.test.images[test_index],
        cifar.test.labels[test_index],
    )
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {m: {"eblearn": [], "lightly": []} for m in methods}
    speed_samples = {m: {"eblearn": [], "lightly": []} for m in methods}
    start = time.perf_counter()
    for seed in seeds:
        for name in methods:
            sides = ("eblearn", "lightly") if seed % 2 == 0 else ("lightly", "eblearn")
            for side in sides:
                accuracy, speed = run_one(name, side, seed, data, args)
                results[name][side].append(accuracy)
                speed_samples[name][side].append(speed)
                print(f"seed {seed} {name:12s} {side:8s} kNN {accuracy:.3f}  {speed:.0f} img/s")
    speeds = {m: {k: statistics.median(v) for k, v in s.items()} for m, s in speed_samples.items()}
    transform = eval_transform(args.size, 3)
    pixels = knn_top1(torch.nn.Flatten(), *data, transform, torch.device("cpu"))
    random_init = []
    for seed in seeds:  # the floor every method must beat: its backbone before training
        torch.manual_seed(seed)
        random_init.append(knn_top1(SmallResNet(), *data, transform, torch.device("cpu")))
    floors = (
        f"kNN on raw pixels: {100 * pixels:.1f}%; on the randomly initialized backbone "
        f"(seeds {args.seeds}): {', '.join(f'{100 * a:.1f}%' for a in random_init)}."
    )
    text = table(results, speeds)
    minutes = (time.perf_counter() - start) / 60
    print(text)
    print(f"{floors} Total {minutes:.1f} min.")
    if args.append:
        append_section(
            "Joint-embedding methods on CIFAR-10, CPU budget: kNN of eblearn vs the same "
            "method from lightly's parts",
            f"Total {minutes:.1f} min. Budget: CIFAR-10 (the shared JPEG copy), views of "
            f"{args.size} px, SmallResNet "
            f"(16-32-64, one basic block per stage), {args.train_images} random training "
            f"images, {args.epochs} epochs "
            f"of batch {args.batch}, SGD lr {args.lr}, heads {args.hidden} wide, embeddings "
            f"{args.out}; kNN (k=20, T=0.07) with the same {args.train_images} images as bank, "
            f"on {args.test_images} random test images. Seeds {args.seeds}; 'within spread' "
            "means eblearn's mean is not below lightly's by more than the largest seed-to-seed "
            "range of either side. images/s: wall clock, shared machine (noisy).\n\n"
            f"{text}\n\n{floors}",
        )


if __name__ == "__main__":
    main()
