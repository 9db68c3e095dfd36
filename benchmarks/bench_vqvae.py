"""VQ-VAE against the bottleneck autoencoder at an equal number of code bits, on digits.

A VQ-VAE with ``P`` code positions and ``K`` codes carries ``P log2 K`` bits per digit. The
bottleneck autoencoder's code is continuous, so its bits are counted by quantizing it: each of
its ``c`` code units is rounded, after training, to one of ``L`` evenly spaced levels between
that unit's minimum and maximum on the training digits, and decoded from there; it then
carries ``c log2 L`` bits. Pairs of rows carry the same bits (16 by default: VQ-VAE 16 codes ×
4 positions and 256 codes × 2 positions; bottleneck 4 units × 16 levels and 2 units × 256
levels). The table gives the test reconstruction error ``||y - ŷ||²`` per digit (pixels in
[0, 1], 64 per digit), and how the symbols are used: the perplexity of the symbol per position
(code index, or level of a unit) over the test digits against the alphabet size, and the
fraction of the alphabet used. The unquantized bottleneck (32-bit floats) is a reference row.

    PYTHONPATH=src python benchmarks/bench_vqvae.py             # under a minute of one core
    PYTHONPATH=src python benchmarks/bench_vqvae.py --epochs 2  # tiny: seconds
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table

from eblearn.data import load_dataset
from eblearn.latent import VQVAE, BottleneckAutoencoder, codebook_usage, fit_model

HIDDEN = (128,)


def rows_of(images: Tensor) -> Tensor:
    """``(N, 1, 8, 8)`` uint8 digits to ``(N, 64)`` rows in [0, 1]."""
    return images.float().div(255.0).flatten(1)


def quantize_levels(codes: Tensor, low: Tensor, high: Tensor, levels: int) -> Tensor:
    """Level indices ``(N, c)`` of ``L`` evenly spaced levels in ``[low, high]`` per unit."""
    scaled = (codes - low) / (high - low).clamp_min(1e-12) * (levels - 1)
    return scaled.round().clamp(0, levels - 1).long()


def usage_per_position(symbols: Tensor, alphabet: int) -> tuple[float, float]:
    """Mean perplexity and fraction used of each column's symbols ``(N, P)``."""
    stats = [codebook_usage(symbols[:, p], alphabet) for p in range(symbols.shape[1])]
    return (
        sum(s[0] for s in stats) / len(stats),
        sum(s[1] for s in stats) / len(stats),
    )


def vqvae_row(train: Tensor, test: Tensor, codes: int, positions: int, args) -> list[object]:
    torch.manual_seed(args.seed)
    model = VQVAE(64, n_codes=codes, code_dim=args.code_dim, n_positions=positions, hidden=HIDDEN)
    fit_model(model, model.loss, train, epochs=args.epochs, batch_size=64, lr=1e-3, seed=args.seed)
    with torch.no_grad():
        indices = model.encode_indices(test)  # (N, P)
        error = float(model.code_energy(test, indices).mean())
    perplexity, used = usage_per_position(indices, codes)
    return [
        f"VQ-VAE, {codes} codes × {positions} positions (D = {args.code_dim})",
        f"{model.bits:g}",
        f"{error:.2f}",
        f"{perplexity:.1f} / {codes}",
        f"{used:.3f}",
    ]


def bottleneck_rows(train: Tensor, test: Tensor, units: int, levels: int, args) -> list[list]:
    torch.manual_seed(args.seed)
    model = BottleneckAutoencoder(64, units, hidden=HIDDEN)
    fit_model(model, model.loss, train, epochs=args.epochs, batch_size=64, lr=1e-3, seed=args.seed)
    with torch.no_grad():
        train_codes, test_codes = model.encode(train), model.encode(test)
        low, high = train_codes.min(0).values, train_codes.max(0).values
        symbols = quantize_levels(test_codes, low, high, levels)  # (N, c)
        dequantized = low + symbols * (high - low) / (levels - 1)
        error = float((test - model.decoder(dequantized)).pow(2).sum(1).mean())
        float_error = float(model.energy(test).mean())
    perplexity, used = usage_per_position(symbols, levels)
    name = f"bottleneck AE, {units} units"
    return [
        [
            f"{name} × {levels} levels",
            f"{units * math.log2(levels):g}",
            f"{error:.2f}",
            f"{perplexity:.1f} / {levels}",
            f"{used:.3f}",
        ],
        [
            f"{name}, unquantized (float32)",
            f"{units * 32} (nominal)",
            f"{float_error:.2f}",
            "–",
            "–",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--code-dim", type=int, default=8, help="VQ-VAE codebook vector size D")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    digits = load_dataset("digits")
    train, test = rows_of(digits.train.images), rows_of(digits.test.images)
    rows: list[list[object]] = []
    for (codes, positions), (units, levels) in (((16, 4), (4, 16)), ((256, 2), (2, 256))):
        rows.append(vqvae_row(train, test, codes, positions, args))
        rows += bottleneck_rows(train, test, units, levels, args)
    table = markdown_table(
        ["model", "bits", "test squared error per digit", "perplexity / alphabet", "fraction used"],
        rows,
    )
    body = (
        "8×8 digits in [0, 1], 1,347 train / 450 test (the fixed stratified split); MLP "
        f"64-{HIDDEN[0]}-code and back; Adam lr 1e-3, batch 64, {args.epochs} epochs, seed "
        f"{args.seed}; VQ-VAE β = 0.25, dead codes restarted after 100 steps. A bottleneck "
        "unit's bits: log2 of the levels it is rounded to after training.\n\n"
        f"{table}\n"
    )
    print(table, flush=True)
    if args.append:
        append_section("VQ-VAE vs bottleneck autoencoder at equal code bits (digits)", body)


if __name__ == "__main__":
    main()
