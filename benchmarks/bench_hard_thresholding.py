"""Exact recovery of sparse codes: L0 (iterative hard thresholding) against L1 (FISTA).

A dictionary of ``--atoms`` unit-norm Gaussian atoms in ``--dim`` dimensions; for each
sparsity ``k``, ``--codes`` codes with ``k`` nonzeros (random signs, magnitudes in [1, 2])
are observed without noise, ``y = zW``. A code is recovered when the support found is the
true one. Methods, all batched over the codes:

* IHT with the normalized step (``iterative_hard_thresholding(y, W, n_nonzero=k)``);
* IHT with the fixed step ``1/L`` (``step="fixed"``), at most ``--iterations`` iterations;
* FISTA on the lasso with ``λ = --l1-fraction · max|yWᵀ|``, its ``k`` largest entries taken
  as the support (the L1 route, told ``k`` too).

The table gives the fraction recovered and the median iterations; ``--figure`` draws the
recovery curves.

    PYTHONPATH=src python benchmarks/bench_hard_thresholding.py [--append]
        [--figure docs/img/latent/iht_recovery.png]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table

from eblearn.latent import fista, iterative_hard_thresholding, keep_largest

Solver = Callable[[Tensor, Tensor, int], tuple[Tensor, int]]


def sparse_codes(n: int, atoms: int, k: int, g: torch.Generator) -> Tensor:
    """``n`` codes with ``k`` nonzeros each, random signs, magnitudes uniform in [1, 2]."""
    order = torch.rand(n, atoms, generator=g).argsort(dim=1)[:, :k]
    values = (1 + torch.rand(n, k, generator=g, dtype=torch.float64)) * (
        torch.randint(0, 2, (n, k), generator=g) * 2 - 1
    )
    return torch.zeros(n, atoms, dtype=torch.float64).scatter(1, order, values)


def solvers(iterations: int, l1_fraction: float) -> dict[str, Solver]:
    def normalized(y: Tensor, w: Tensor, k: int) -> tuple[Tensor, int]:
        result = iterative_hard_thresholding(y, w, n_nonzero=k, max_iter=iterations, tol=1e-9)
        return result.codes, result.n_iter

    def fixed(y: Tensor, w: Tensor, k: int) -> tuple[Tensor, int]:
        result = iterative_hard_thresholding(
            y, w, n_nonzero=k, max_iter=iterations, tol=1e-9, step="fixed"
        )
        return result.codes, result.n_iter

    def lasso(y: Tensor, w: Tensor, k: int) -> tuple[Tensor, int]:
        lam = l1_fraction * float((y @ w.T).abs().max())
        result = fista(y, w, lam, max_iter=iterations, tol=1e-8)
        return keep_largest(result.codes, k), result.n_iter

    return {
        "IHT, normalized step": normalized,
        "IHT, step 1/L": fixed,
        "FISTA (L1), k largest": lasso,
    }


def draw(rates: dict[str, list[float]], ks: list[int], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, values in rates.items():
        ax.plot(ks, values, marker="o", label=name)
    ax.set_xlabel("nonzeros k")
    ax.set_ylabel("fraction of codes recovered exactly")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--atoms", type=int, default=128)
    parser.add_argument("--codes", type=int, default=100)
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 4, 8, 12, 16, 20, 24])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--l1-fraction", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    parser.add_argument("--figure", type=Path, help="draw the recovery curves to this PNG")
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(args.seed)
    w = torch.randn(args.atoms, args.dim, generator=g, dtype=torch.float64)
    w = torch.nn.functional.normalize(w, dim=1)
    methods = solvers(args.iterations, args.l1_fraction)
    rates: dict[str, list[float]] = {name: [] for name in methods}
    rows: list[list[object]] = []
    for k in args.ks:
        truth = sparse_codes(args.codes, args.atoms, k, g)
        y = truth @ w
        row: list[object] = [k]
        for name, solve in methods.items():
            codes, n_iter = solve(y, w, k)
            recovered = float(((codes != 0) == (truth != 0)).all(dim=1).double().mean())
            rates[name].append(recovered)
            row.append(f"{recovered:.2f} ({n_iter} it)")
        rows.append(row)
        print(" | ".join(map(str, row)), flush=True)
    header = ["k", *(f"{name}: recovered (iterations)" for name in methods)]
    title = (
        f"{args.atoms} unit-norm Gaussian atoms in {args.dim} dimensions, "
        f"{args.codes} noiseless codes per k"
    )
    summary = (
        f"{title}; exact support recovery (iterations: the most any code of the batch "
        f"needed, at most {args.iterations}); FISTA's λ = {args.l1_fraction}·max|yWᵀ|.\n\n"
        f"{markdown_table(header, rows)}\n"
    )
    print("\n" + summary)
    if args.figure is not None:
        draw(rates, args.ks, title, args.figure)
    if args.append:
        append_section(
            "Sparse-code recovery: iterative hard thresholding (L0) and FISTA (L1)", summary
        )


if __name__ == "__main__":
    main()
