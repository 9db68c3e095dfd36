"""PCA, K-means and a Gaussian mixture: eblearn (torch) against scikit-learn at 100,000 × 64.

Same data (100,000 gray 8×8 CIFAR-10 training patches in [0, 1], float32 on both sides),
same starting point and the same number of iterations where there are iterations: K-means
starts both from one k-means++ draw (scikit-learn's ``kmeans_plusplus``) with the same
``tol`` and ``max_iter`` (eblearn's Lloyd skips distances with Hamerly's bounds;
scikit-learn's default is plain Lloyd, and its Elkan variant has a row too); the mixtures
start from the same weights, means and precisions and run a fixed number of EM steps
(``tol=0``). Both libraries use ``--threads`` threads. Repetitions are interleaved; the table
gives medians and the objectives reached.

    PYTHONPATH=src python benchmarks/bench_classical.py
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import kmeans_plusplus
from sklearn.decomposition import PCA as SkPCA
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _patches import cifar_patches
from _report import append_section, interleaved_runs, library_versions, markdown_table

from eblearn.latent import PCA, GaussianMixture, KMeans

SETTLE = 0.5
"""Idle seconds before each timed call (see ``_report.interleaved_runs``)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=32)
    parser.add_argument("--components", type=int, default=8, help="mixture components")
    parser.add_argument("--em-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # scikit-learn's BLAS and OpenMP pools, for the whole run
    data = cifar_patches(args.n, "train", seed=0, normalize=False).astype(np.float32)
    tensor = torch.from_numpy(data)
    init = kmeans_plusplus(data, args.clusters, random_state=0)[0]
    start = SkKMeans(args.components, n_init=1, max_iter=10, random_state=0).fit(data[:20000])
    gmm_init = {}
    for kind in ("full", "diag"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = SkGaussianMixture(
                args.components,
                covariance_type=kind,
                max_iter=1,
                reg_covar=1e-4,
                means_init=start.cluster_centers_,
                random_state=0,
            ).fit(data[:20000])
        gmm_init[kind] = {
            "weights_init": fitted.weights_,
            "means_init": fitted.means_,
            "precisions_init": fitted.precisions_,
        }

    def gmm(library: str, kind: str):
        settings = {
            "covariance_type": kind,
            "reg_covar": 1e-4,
            "max_iter": args.em_steps,
            "tol": 0.0,
            **gmm_init[kind],
        }

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if library == "eblearn":
                    model = GaussianMixture(args.components, **settings).fit(tensor)
                    return model.score(tensor)
                model = SkGaussianMixture(args.components, **settings).fit(data)
                return model.score(data)

        return run

    kmeans = f"K-means (K={args.clusters})"
    runs = {
        ("PCA (16 components)", "eblearn"): lambda: (
            PCA(16).fit(tensor).explained_variance_.sum().item()
        ),
        ("PCA (16 components)", "scikit-learn"): lambda: float(
            SkPCA(16).fit(data).explained_variance_.sum()
        ),
        (kmeans, "eblearn"): lambda: (
            KMeans(args.clusters, init=torch.from_numpy(init), max_iter=100).fit(tensor).inertia_
        ),
        (kmeans, "scikit-learn"): lambda: float(
            SkKMeans(args.clusters, init=init, n_init=1, max_iter=100).fit(data).inertia_
        ),
    }
    # eblearn prunes Lloyd with Hamerly's bounds; scikit-learn's own pruned variant is Elkan's.
    # Its row compares with the same eblearn K-means runs (timed once, not twice).
    elkan = f"{kmeans} vs scikit-learn's elkan"
    runs[(elkan, "scikit-learn")] = lambda: float(
        SkKMeans(args.clusters, init=init, n_init=1, max_iter=100, algorithm="elkan")
        .fit(data)
        .inertia_
    )
    for kind in ("full", "diag"):
        label = f"GMM {kind} (K={args.components}, {args.em_steps} EM steps)"
        runs[(label, "eblearn")] = gmm("eblearn", kind)
        runs[(label, "scikit-learn")] = gmm("scikit-learn", kind)
    named = {f"{model}|{library}": run for (model, library), run in runs.items()}
    times, values = interleaved_runs(named, args.repeats, settle=SETTLE)
    objectives = {
        "PCA (16 components)": "explained variance",
        kmeans: "inertia",
        elkan: "inertia",
    }
    rows = []
    for model in dict.fromkeys(m for m, _ in runs):
        ours = f"{kmeans if model == elkan else model}|eblearn"
        theirs = f"{model}|scikit-learn"
        a, b = float(values[ours]), float(values[theirs])  # type: ignore[arg-type]
        rows.append(
            [
                model,
                objectives.get(model, "mean log-likelihood"),
                f"{a:.6g}",
                f"{b:.6g}",
                f"{abs(a - b) / abs(b):.1e}",
                f"{times[ours]:.3f}",
                f"{times[theirs]:.3f}",
                f"{times[ours] / times[theirs]:.2f}×",
            ]
        )
    table = markdown_table(
        [
            "model",
            "objective",
            "eblearn",
            "scikit-learn",
            "relative difference",
            "eblearn s",
            "scikit-learn s",
            "time ratio (eblearn / sklearn)",
        ],
        rows,
    )
    body = (
        f"{args.n:,} gray 8×8 CIFAR-10 training patches (float32, 64 features) on CPU; "
        f"{args.threads} thread(s) each; median of {args.repeats} interleaved runs, each after "
        f"{SETTLE} s idle (so that the other library's spinning thread pool has stopped). "
        f"Target: time ratio ≤ 1.\n\n{table}\n"
    )
    append_section(
        "PCA, K-means, GMM vs scikit-learn at 100,000 × 64",
        library_versions() + body,
    )


if __name__ == "__main__":
    main()
