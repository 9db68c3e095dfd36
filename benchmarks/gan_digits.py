"""Trains EBGAN and WGAN-GP on the 8×8 digits for about a minute each and draws their samples.

Both are MLPs on the 64 flattened pixels in ``[0, 1]`` (sigmoid generator output). The figure
``docs/img/latent/gan_digits.png`` shows real training digits in the first row and each
model's samples below. The printed table gives, for each model, the steps and seconds it
trained and the mean distance from its samples to their nearest training digit, beside the
same distance for held-out test digits (what a model that draws new, realistic digits
reaches) and for the untrained generator.

    PYTHONPATH=src python benchmarks/gan_digits.py [--steps-scale 0.01]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, markdown_table

from eblearn.data import load_dataset
from eblearn.latent import GAN, fit_gan, mlp_ebgan, mlp_wgan_gp
from eblearn.plot import plot_reconstructions

FIGURE = ROOT / "docs" / "img" / "latent" / "gan_digits.png"


def nearest_distance(points: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean Euclidean distance from each row of ``points`` to its nearest ``reference`` row."""
    return float(torch.cdist(points, reference).min(dim=1).values.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-scale", type=float, default=1.0, help="shorten for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args()
    torch.set_num_threads(1)
    splits = load_dataset("digits")
    train = splits.train.images.float().div(255).flatten(1)  # (1347, 64)
    test = splits.test.images.float().div(255).flatten(1)  # (450, 64)
    builders: dict[str, tuple[GAN, dict[str, object]]] = {}
    torch.manual_seed(args.seed)
    builders["EBGAN"] = (
        mlp_ebgan(64, noise_dim=16, hidden=128, code_dim=16, margin=2.0, output="sigmoid"),
        {"steps": 3000, "lr": 5e-4, "betas": (0.5, 0.999)},
    )
    builders["WGAN-GP"] = (
        mlp_wgan_gp(64, noise_dim=16, hidden=128, output="sigmoid"),
        {"steps": 1500, "lr": 1e-4, "betas": (0.0, 0.9)},
    )
    samples, rows = {}, []
    generator = torch.Generator().manual_seed(args.seed + 1)
    for name, (model, settings) in builders.items():
        steps = max(1, round(int(settings.pop("steps")) * args.steps_scale))  # type: ignore[call-overload]
        untrained = nearest_distance(model.sample(450, generator=generator), train)
        start = time.perf_counter()
        fit_gan(model, train, steps=steps, batch_size=64, seed=args.seed, **settings)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
        model.eval()
        drawn = model.sample(450, generator=generator)
        samples[name] = drawn[:16]
        rows.append(
            [
                name,
                steps,
                f"{seconds:.0f}",
                f"{untrained:.2f}",
                f"{nearest_distance(drawn, train):.2f}",
            ]
        )
    rows.append(["test digits", "", "", "", f"{nearest_distance(test, train):.2f}"])
    header = ["model", "generator steps", "seconds", "untrained: NN distance", "NN distance"]
    print(markdown_table(header, rows))
    path = plot_reconstructions(
        train[:16], samples, args.figure, shape=(8, 8), title="digits (top) and GAN samples"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
