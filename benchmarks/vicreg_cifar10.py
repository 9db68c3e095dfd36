"""VICReg on CIFAR-10 for a short CPU budget, through the same job as ``eblearn train``.

The budget is the number of epochs (default 3 on the small ConvNet, about 25 minutes on 2
quiet CPU cores); the table compares the frozen encoder with raw pixels under the same probes.

    python benchmarks/vicreg_cifar10.py                       # ConvNet, 3 epochs
    python benchmarks/vicreg_cifar10.py --epochs 1 --backbone resnet18 --batch-size 128
"""

from __future__ import annotations

import argparse

from _cifar10 import cifar10_arrays
from _report import append_section, markdown_table

from eblearn.app import train_and_evaluate
from eblearn.train import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backbone", default="convnet")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = TrainConfig(
        method="vicreg",
        data=f"npz:{cifar10_arrays()}",
        backbone=args.backbone,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="lars",
        warmup_epochs=min(1, args.epochs - 1),
        method_args={"projector_dims": [2048, 2048, 2048]},
        seed=args.seed,
        run_dir=f"benchmarks/out/runs/vicreg-cifar10-{args.backbone}-{args.epochs}ep-s{args.seed}",
        progress_bar=False,
    )
    summary = train_and_evaluate(config, overwrite=True)
    assert summary is not None
    ours, pixels = summary.encoder, summary.pixels
    rows = [
        ["kNN top-1 (k=20)", f"{ours.knn:.1%}", f"{pixels.knn:.1%}"],
        ["linear top-1", f"{ours.linear:.1%}", f"{pixels.linear:.1%}"],
        ["linear top-5", f"{ours.linear_top5:.1%}", f"{pixels.linear_top5:.1%}"],
        ["linear, 10% labels", f"{ours.few_label[0.1]:.1%}", f"{pixels.few_label[0.1]:.1%}"],
        ["linear, 1% labels", f"{ours.few_label[0.01]:.1%}", f"{pixels.few_label[0.01]:.1%}"],
    ]
    append_section(
        f"VICReg on CIFAR-10, {args.epochs} epoch(s) on CPU ({args.backbone})",
        f"Budget: {args.epochs} epoch(s) of the 50,000 training images, batch {args.batch_size}, "
        f"LARS, SimCLR views at 32 px, projector 2048×3, seed {args.seed}; "
        f"wall time {summary.seconds / 60:.1f} min including evaluation. Test split: 10,000 "
        f"images.\n\n{markdown_table(['probe', 'VICReg encoder', 'raw pixels'], rows)}",
    )


if __name__ == "__main__":
    main()
