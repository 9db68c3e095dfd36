"""Every joint-embedding method on CIFAR-10 with a ResNet-18 on one GPU, within 8 minutes.

ResNet-18 with the CIFAR stem, bf16 autocast, channels-last memory, the whole training set on
the GPU as uint8 and the views drawn there by eblearn's batched augmentations (SimCLR's
recipe; multi-crop 2×32 + 6×14 px for SwAV). Each method gets an equal share of the time
budget (default 7 minutes in all) and trains for at most ``--epochs``
(LARS, warm-up then cosine over the whole epochs that 12 timed steps say fit in its share),
then its frozen backbone is scored by
weighted kNN (k=20, T=0.07) on the 10,000 test images with the 50,000 training images as
bank. The table gives images/s (training, augmentation included), epochs done and kNN top-1.

    python benchmarks/gpu_methods.py                      # on the GPU machine
    python benchmarks/gpu_methods.py --smoke              # a few steps on the CPU, any data
    python benchmarks/gpu_methods.py --methods simclr,byol --budget-minutes 3 --append

Needs CIFAR-10 as arrays (``--cifar DIR`` with train.npz/test.npz, or the shared copy, which
it unpacks into ``data/cifar10``); ``--smoke`` uses random images instead.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _joint import (
    EBLEARN_ONLY,
    LIGHTLY_METHODS,
    Recipe,
    TrainStats,
    eblearn_method,
    eval_transform,
    knn_top1,
    load_cifar10,
    train_method,
    views_recipe,
)

from eblearn.nn import ResNet

ROOT = Path(__file__).resolve().parent.parent
ALL_METHODS = LIGHTLY_METHODS + EBLEARN_ONLY


def load(args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, ...]:
    if args.smoke:
        generator = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=generator)
        labels = torch.arange(48) % 10
        parts = (images[:32], labels[:32], images[32:], labels[32:])
    else:
        cifar = load_cifar10(args.cifar)
        parts = (cifar.train.images, cifar.train.labels, cifar.test.images, cifar.test.labels)
    return tuple(p.to(device) for p in parts)


def train_once(
    name: str, images: torch.Tensor, epochs: int, limit: float | None, settings: dict
) -> tuple[torch.nn.Module, TrainStats]:
    """Builds ``name`` on a fresh ResNet-18 (seeded) and trains it: bf16, channels-last, LARS."""
    torch.manual_seed(settings["seed"])
    method = eblearn_method(name, ResNet(18, cifar_stem=True), settings["recipe"])
    stats = train_method(
        method,
        images,
        views_recipe(name, settings["size"], 3).to(settings["device"]),
        epochs=epochs,
        batch_size=settings["batch"],
        lr=settings["lr"],
        seed=settings["seed"],
        device=settings["device"],
        weight_decay=1e-4,
        optimizer="lars",
        autocast=settings["autocast"],
        channels_last=settings["autocast"] is not None,
        time_limit=limit,
    )
    return method, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(ALL_METHODS))
    parser.add_argument("--epochs", type=int, default=30, help="upper bound per method (30)")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=None, help="default 0.3 × batch / 256")
    parser.add_argument("--budget-minutes", type=float, default=7.0, help="all methods (7)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cifar", help="folder with train.npz and test.npz")
    parser.add_argument("--smoke", action="store_true", help="2 steps per method on the CPU")
    parser.add_argument(
        "--precision",
        choices=("bf16", "float32"),
        default="bf16",
        help="bf16: autocast + channels-last (default); float32: e.g. a fast CPU smoke run, "
        "where bf16 is emulated",
    )
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    start = time.perf_counter()
    device = torch.device("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    batch = 16 if args.smoke else args.batch
    size = 16 if args.smoke else 32
    lr = args.lr if args.lr is not None else 0.3 * batch / 256
    train_images, train_labels, test_images, test_labels = load(args, device)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    share = args.budget_minutes * 60 / len(methods)
    recipe = Recipe(hidden=2048, out=256, queue_size=16384, prototypes=1000)
    if args.smoke:
        recipe = Recipe(hidden=32, out=16, queue_size=64, prototypes=10)
    rows = []
    steps_per_epoch = len(train_images) // batch
    settings = {"size": size, "batch": batch, "lr": lr, "seed": args.seed, "device": device}
    settings["recipe"] = recipe
    settings["autocast"] = torch.bfloat16 if args.precision == "bf16" else None
    for name in methods:
        started = time.perf_counter()
        epochs = 1
        if not args.smoke:  # plan whole epochs that fit the share, from 12 timed steps
            # after 4 untimed ones: the first steps of new shapes pay cuDNN's autotuning and
            # lazy initialization, which made SimCLR and SwAV plan a single epoch on an H200
            train_once(name, train_images[: 4 * batch], 1, None, settings)
            _, probe = train_once(name, train_images[: 12 * batch], 1, None, settings)
            remaining = 0.8 * share - (time.perf_counter() - started)
            fitting = int(remaining / (probe.seconds / probe.steps) / steps_per_epoch)
            epochs = max(1, min(args.epochs, fitting))
        limit = None if args.smoke else max(1.0, 0.9 * share - (time.perf_counter() - started))
        method, stats = train_once(name, train_images, epochs, limit, settings)
        accuracy = knn_top1(
            method.encoder, train_images, train_labels, test_images, test_labels,
            eval_transform(size, 3), device, autocast=settings["autocast"],
        )  # fmt: skip
        epochs = stats.steps / max(1, len(train_images) // batch)
        rows.append((name, stats.images_per_second, epochs, accuracy, stats.final_loss))
        print(
            f"{name:14s} {stats.images_per_second:8.0f} img/s  {epochs:5.1f} epochs  "
            f"kNN {accuracy:.3f}  loss {stats.final_loss:.3f}  "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        del method
        if device.type == "cuda":
            torch.cuda.empty_cache()
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke)"
    lines = [
        "| method | images/s | epochs | kNN top-1 |",
        "|---|---:|---:|---:|",
        *(f"| {n} | {s:.0f} | {e:.1f} | {100 * a:.1f}% |" for n, s, e, a, _ in rows),
    ]
    text = "\n".join(lines)
    minutes = (time.perf_counter() - start) / 60
    print(text)
    print(f"{card}: {minutes:.1f} min in all")
    if args.append and not args.smoke:
        command = "python benchmarks/gpu_methods.py " + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k not in ("append", "smoke", "cifar") and v is not None
        )
        layout = "bf16 autocast, channels-last" if args.precision == "bf16" else "float32"
        with (ROOT / "BENCHMARKS.md").open("a") as file:
            file.write(
                "\n## Joint-embedding methods on one GPU: ResNet-18, CIFAR-10, "
                f"{args.precision}\n\n"
                f"Command: `{command}` ({minutes:.1f} min)\n\nCard: {card}. ResNet-18 (CIFAR "
                f"stem), {layout}, augmentation on the GPU, LARS lr {lr:g}, "
                f"batch {batch}, heads 2048 wide, embeddings 256; each method trains for at most "
                f"{args.epochs} epochs or its share of {args.budget_minutes} minutes; kNN on the "
                f"10,000 test images, bank of 50,000.\n\n{text}\n"
            )


if __name__ == "__main__":
    main()
