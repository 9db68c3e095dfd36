"""Two SimCLR views of a batch: eblearn's batched augmentation vs torchvision v2 per image.

torchvision's v2 transforms draw their parameters per call, so per-sample randomness means one
call per image (what DataLoader workers do); eblearn draws per-sample parameters for the whole
batch and applies them in a few batched tensor operations. Same recipe on both sides: random
resized crop (8-100%), flip, color jitter 0.4/0.4/0.4/0.1 with p=0.8, grayscale p=0.2.

    python benchmarks/bench_augment.py --batch 256 --repeats 5
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch
from _report import append_section, interleaved_medians, markdown_table
from torchvision.transforms import v2

from eblearn.data import MultiViewAugment, simclr_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    for side in (32, 96):
        images = torch.randint(0, 256, (args.batch, 3, side, side), dtype=torch.uint8)
        recipes = [replace(r, blur=0.0) for r in simclr_views(side, 3)]  # no blur on either side
        ours = MultiViewAugment(recipes, (0.5,) * 3, (0.25,) * 3).to(device)
        on_device = images.to(device)
        theirs = v2.Compose(
            [
                v2.RandomResizedCrop(side, scale=(0.08, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                v2.RandomGrayscale(p=0.2),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize((0.5,) * 3, (0.25,) * 3),
            ]
        )

        def eblearn_views(ours=ours, on_device=on_device) -> None:
            ours(on_device)

        def torchvision_views(theirs=theirs, images=images) -> None:
            for _ in range(2):
                torch.stack([theirs(image) for image in images])

        medians = interleaved_medians(
            {"eblearn": eblearn_views, "torchvision": torchvision_views}, args.repeats, warmup=1
        )
        rows.append(
            [
                f"{side} px, batch {args.batch}",
                f"{2 * args.batch / medians['eblearn']:,.0f}",
                f"{2 * args.batch / medians['torchvision']:,.0f}",
                f"{medians['torchvision'] / medians['eblearn']:.1f}×",
            ]
        )
    table = markdown_table(
        [
            "images",
            f"eblearn views/s ({device})",
            "torchvision v2 views/s (CPU, per image)",
            "speed-up",
        ],
        rows,
    )
    append_section(
        "Two-view SimCLR augmentation: batched vs per image",
        f"Medians of {args.repeats} interleaved repetitions; blur is off on both sides so that "
        f"the recipes match; 96 px shows how the cost grows with the side.\n\n"
        f"{table}",
    )


if __name__ == "__main__":
    main()
