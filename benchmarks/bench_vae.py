"""VAE negative log-likelihood on the digits test split (importance-sampled), with baselines.

The 8×8 digits are binarized (pixel > 0.5), a VAE with a Bernoulli decoder is trained on the
1,347 training digits, and on the 450 test digits the table gives the negative ELBO and the
importance-sampled NLL (``S`` samples from the encoder, Burda et al. 2016) in nats per
digit, beside a model of independent pixels (per-pixel frequencies, Laplace-smoothed).

    PYTHONPATH=src python benchmarks/bench_vae.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, library_versions, markdown_table

from eblearn.data import load_dataset
from eblearn.latent import fit_model, mlp_vae


def binarized(images: torch.Tensor) -> torch.Tensor:
    """``(N, 1, 8, 8)`` uint8 digits to ``(N, 64)`` binary rows."""
    return (images.float().div(255.0) > 0.5).float().flatten(1)


def vae_nll(
    train: torch.Tensor, test: torch.Tensor, code_dim: int, epochs: int, samples: int, seed: int
) -> tuple[float, torch.Tensor, float]:
    """Trains the MLP VAE on binary rows; returns −ELBO on ``test`` (100 draws), the
    importance-sampled NLL per test row (``samples`` draws), both in nats, and train seconds."""
    torch.manual_seed(seed)
    vae = mlp_vae(train.shape[1], code_dim=code_dim, hidden=(256, 128))
    start = time.perf_counter()
    fit_model(vae, vae.loss, train, epochs=epochs, batch_size=64, lr=1e-3, seed=seed)
    seconds = time.perf_counter() - start
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        negative_elbo = float(vae.free_energy(test, n_samples=100).mean())
        nll = vae.importance_nll(test, n_samples=samples, generator=generator)
    return negative_elbo, nll, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--samples", type=int, default=5000, help="importance samples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    digits = load_dataset("digits")
    train, test = binarized(digits.train.images), binarized(digits.test.images)
    frequencies = (train.sum(0) + 1) / (len(train) + 2)
    independent = -(test * frequencies.log() + (1 - test) * (1 - frequencies).log()).sum(1).mean()
    rows = [
        ["independent pixels (Bernoulli per pixel)", "–", f"{float(independent):.2f}", "–", "–"]
    ]
    for code_dim in (2, 8):
        negative_elbo, nll, seconds = vae_nll(
            train, test, code_dim, args.epochs, args.samples, args.seed
        )
        rows.append(
            [
                f"VAE, MLP 64-256-128-{code_dim} (Bernoulli decoder)",
                f"{negative_elbo:.2f}",
                f"{float(nll.mean()):.2f} ± {float(nll.std() / len(nll) ** 0.5):.2f}",
                f"{args.epochs}",
                f"{seconds:.0f}",
            ]
        )
    table = markdown_table(
        [
            "model",
            "−ELBO (nats)",
            f"NLL, {args.samples} importance samples (nats)",
            "epochs",
            "train s",
        ],
        rows,
    )
    body = (
        "Binarized 8×8 digits (pixel > 0.5), 1,347 train / 450 test (the fixed stratified "
        f"split), Adam lr 1e-3, batch 64, seed {args.seed}. NLL ≤ −ELBO as it must; ± is the "
        f"standard error over the test digits.\n\n{table}\n"
    )
    append_section(
        "VAE negative log-likelihood on the digits test split",
        library_versions() + body,
    )


if __name__ == "__main__":
    main()
