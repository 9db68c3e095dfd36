"""Batched ADMM (with active-set polishing) and FISTA against scikit-learn's SparseCoder.

Same dictionary (256 unit atoms learned by eblearn's DictionaryLearning on other patches),
same 8×8 gray patches, same objective ½||y - zW||² + λ||z||₁ and the same stopping rule:
scikit-learn's coordinate descent stops when the duality gap falls below 1e-4·||y||² (its
Lasso default), and so do ADMM and FISTA here (``tol=1e-4``). Both libraries get the same
threads (``--threads``: torch threads; ``n_jobs`` and BLAS threads for scikit-learn).
Repetitions are interleaved. scikit-learn runs both ``lasso_cd`` (coordinate descent, the
same duality-gap stopping rule) and ``lasso_lars`` (exact homotopy, slower). eblearn's ADMM on
float32 data takes its steps in bfloat16 where the CPU has native bfloat16 (the polished codes
and every gap check are float32).

    python benchmarks/bench_sparse_coding.py            # 10,000 patches, 3 repetitions
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import SparseCoder as SkSparseCoder
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _patches import cifar_patches
from _report import ROOT, append_section, interleaved_runs, library_versions, markdown_table

from eblearn.latent import DictionaryLearning, admm, fista, lasso_duality_gap
from eblearn.latent.sparse_coding import _fast_bfloat16, sparse_coding_energy

LAM = 0.5
ATOMS = 256


def learned_dictionary() -> torch.Tensor:
    """256 unit atoms learned on 5,000 training patches (cached under benchmarks/out)."""
    path = ROOT / "benchmarks" / "out" / f"cifar_dictionary_{ATOMS}_lam{LAM}.pt"
    if path.is_file():
        return torch.load(path)
    patches = torch.tensor(cifar_patches(5000, "train", seed=1), dtype=torch.float32)
    learner = DictionaryLearning(
        ATOMS, alpha=LAM, max_iter=8, transform_tol=1e-2, random_state=0
    ).fit(patches)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(learner.components_, path)
    return learner.components_


SETTLE = 0.5
"""Idle seconds before each timed call (see ``_report.interleaved_runs``)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="test patches to encode")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # scikit-learn's BLAS and OpenMP pools, for the whole run
    atoms32 = learned_dictionary()
    patches = cifar_patches(args.n, "test", seed=2)
    x32, x64 = torch.tensor(patches, dtype=torch.float32), torch.tensor(patches)
    atoms64 = atoms32.double()
    atoms_np = atoms64.numpy()

    def sklearn(algorithm: str):
        coder = SkSparseCoder(
            atoms_np, transform_algorithm=algorithm, transform_alpha=LAM, n_jobs=args.threads
        )
        return lambda: torch.tensor(coder.transform(patches))

    steps = ", bfloat16 steps" if _fast_bfloat16(x32.device) else ""
    runs = {
        f"eblearn ADMM + polish (float32{steps})": lambda: admm(x32, atoms32, LAM, tol=1e-4).codes,
        "eblearn ADMM + polish (float64)": lambda: admm(x64, atoms64, LAM, tol=1e-4).codes,
        "eblearn FISTA (float32)": lambda: fista(x32, atoms32, LAM, tol=1e-4, max_iter=20000).codes,
        "scikit-learn lasso_cd": sklearn("lasso_cd"),
        "scikit-learn lasso_lars": sklearn("lasso_lars"),
    }
    times, codes = interleaved_runs(runs, args.repeats, settle=SETTLE)
    base, lars = times["scikit-learn lasso_cd"], times["scikit-learn lasso_lars"]
    y_sq = x64.pow(2).sum(1)
    rows = []
    for name, seconds in times.items():
        z = codes[name].double()  # type: ignore[union-attr]
        energy = sparse_coding_energy(x64, z, atoms64, LAM)
        nonzero = y_sq > 0  # a flat patch has y = 0 and a zero gap
        gap = lasso_duality_gap(x64, z, atoms64, LAM)[nonzero] / y_sq[nonzero]
        rows.append(
            [
                name,
                f"{seconds:.2f}",
                f"{base / seconds:.2f}×",
                f"{lars / seconds:.2f}×",
                f"{float(energy.mean()):.6f}",
                f"{float(gap.max()):.1e}",
                f"{float((z != 0).sum(1).double().mean()):.1f}",
            ]
        )
    table = markdown_table(
        [
            "solver",
            "median s",
            "speed-up vs lasso_cd",
            "speed-up vs lasso_lars",
            "mean objective",
            "max gap / ‖y‖²",
            "nonzeros per code",
        ],
        rows,
    )
    body = (
        f"{args.n} gray 8×8 CIFAR-10 test patches (mean removed, unit global std, "
        f"‖y‖² ≈ 64), {ATOMS} unit atoms learned on 5,000 training patches, λ = {LAM}; "
        f"{args.threads} thread(s) each; median of {args.repeats} interleaved runs, each after "
        f"{SETTLE} s idle (so that the other library's spinning thread pool has stopped). "
        "Target: ≥ 10× faster than lasso_cd.\n\n"
        f"{table}\n"
    )
    append_section(
        "Sparse coding: batched ADMM and FISTA vs scikit-learn SparseCoder",
        library_versions() + body,
    )


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
