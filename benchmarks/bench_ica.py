"""Square ICA against scikit-learn's FastICA: separation (Amari index) and fit time.

Sources: ``D`` independent super-Gaussian signals (``laplace``: all Laplace; ``mixed``:
Laplace, Student t with 5 degrees of freedom and cubed logistic in turn), ``N`` samples,
mixed by a standard normal ``D × D`` matrix ``A``. eblearn's ``ICA`` (natural-gradient
maximum likelihood with a ``1/cosh`` source density, ``tol=1e-4``) and ``FastICA``
(``whiten="unit-variance"``, ``fun="logcosh"``, its default ``tol=1e-4``) fit the same
mixtures; the Amari index of ``W A`` (0 for a perfect separation, up to order and scale) and
the fit time are medians over ``--repeats`` draws of sources and mixing, the two libraries
timed in alternation on each draw. The tolerances are not the same quantity (a relative
gradient against a change of ``W``), so times compare the default settings of each.

    PYTHONPATH=src python benchmarks/bench_ica.py [--samples 2000] [--repeats 15] [--append]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import FastICA

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (
    LOAD_AT_START,
    append_section,
    library_versions,
    load_average,
    markdown_table,
    timed,
)

from eblearn.latent import ICA

SETTLE = 0.2
"""Idle seconds before each timed call (see ``_report.interleaved_runs``)."""


def amari_index(product: np.ndarray) -> float:
    """Amari et al. (1996)'s index of ``P = W A`` in [0, 1]: 0 iff ``P`` is a scaled
    permutation."""
    p = np.abs(product)
    d = len(p)
    rows = (p.sum(1) / p.max(1) - 1).sum()
    columns = (p.sum(0) / p.max(0) - 1).sum()
    return float((rows + columns) / (2 * d * (d - 1)))


def draw(kind: str, samples: int, sources: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mixtures ``X = S Aᵀ`` ``(N, D)`` of super-Gaussian sources, and the mixing ``A``."""
    rng = np.random.default_rng(seed)
    if kind == "laplace":
        signals = rng.laplace(size=(samples, sources))
    else:
        makers = (
            lambda: rng.laplace(size=samples),
            lambda: rng.standard_t(5, size=samples),
            lambda: rng.logistic(size=samples) ** 3,
        )
        signals = np.column_stack([makers[i % 3]() for i in range(sources)])
    mixing = rng.normal(size=(sources, sources))
    return signals @ mixing.T, mixing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--sources", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for kind in ("laplace", "mixed"):
        for d in args.sources:
            amari: dict[str, list[float]] = {"eblearn": [], "FastICA": []}
            seconds: dict[str, list[float]] = {"eblearn": [], "FastICA": []}
            iterations: dict[str, list[int]] = {"eblearn": [], "FastICA": []}
            for repeat in range(args.repeats):
                X, mixing = draw(kind, args.samples, d, args.seed + repeat)
                X_t = torch.tensor(X)
                fitted: dict[str, object] = {}

                def ours(X_t=X_t, fitted=fitted, repeat=repeat) -> None:
                    fitted["eblearn"] = ICA(random_state=repeat).fit(X_t)

                def theirs(X=X, fitted=fitted, repeat=repeat) -> None:
                    fitted["FastICA"] = FastICA(
                        whiten="unit-variance", random_state=repeat, max_iter=1000
                    ).fit(X)

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a non-converged fit is still measured
                    for name, fn in (("eblearn", ours), ("FastICA", theirs)):
                        time.sleep(SETTLE)
                        seconds[name].append(timed(fn))
                ica, fast = fitted["eblearn"], fitted["FastICA"]
                assert isinstance(ica, ICA)
                assert isinstance(fast, FastICA)
                amari["eblearn"].append(amari_index(ica.components_.numpy() @ mixing))
                amari["FastICA"].append(amari_index(fast.components_ @ mixing))
                iterations["eblearn"].append(ica.n_iter_)
                iterations["FastICA"].append(int(fast.n_iter_))
            median = {name: statistics.median(values) for name, values in seconds.items()}
            rows.append(
                [
                    kind,
                    d,
                    f"{statistics.median(amari['eblearn']):.4f}",
                    f"{statistics.median(amari['FastICA']):.4f}",
                    f"{statistics.median(iterations['eblearn']):.0f}",
                    f"{statistics.median(iterations['FastICA']):.0f}",
                    f"{median['eblearn'] * 1e3:.1f}",
                    f"{median['FastICA'] * 1e3:.1f}",
                    f"{median['eblearn'] / median['FastICA']:.2f}",
                ]
            )
    table = markdown_table(
        [
            "sources",
            "D",
            "Amari eblearn",
            "Amari FastICA",
            "iter eblearn",
            "iter FastICA",
            "fit ms eblearn",
            "fit ms FastICA",
            "time ratio",
        ],
        rows,
    )
    body = (
        f"N = {args.samples} samples, medians over {args.repeats} draws of sources and mixing "
        f"(seeds {args.seed}..{args.seed + args.repeats - 1}), {args.threads} thread(s); "
        "Amari index of W·A (0 = perfect separation); time ratio = eblearn / FastICA. The fit "
        "times are wall-clock on a machine shared with other processes (load average "
        f"{LOAD_AT_START:.1f} at the start, {load_average():.1f} at the end, on "
        f"{os.cpu_count()} cores): the two libraries alternate on each draw, so the load "
        "weighs on both, but single milliseconds are noisy; read the ratio's order of "
        "magnitude, not its decimals.\n\n"
        f"{table}\n"
    )
    print(body)
    if args.append:
        append_section("Square ICA against FastICA", library_versions() + body)


if __name__ == "__main__":
    main()
