"""PCA, K-means, GMM and batched sparse coding on a GPU against the same fits on the CPU.

Each estimator fits the same float32 data from the same start on ``--device`` and on the CPU.
The algorithms are the same on both, so the objectives must agree to float32 rounding (the
table gives the relative difference); the times are medians of ``--repeats`` calls after one
warm-up call, CUDA synchronized. The data are generated (no download, no shared folder):
100,000 × 64 draws from a 32-component Gaussian mixture for PCA, K-means (K=32, 100 Lloyd
steps at most) and GMM (K=8, 20 EM steps, full and diagonal), and 10,000 noisy 5-sparse
combinations of 256 random unit atoms in 64 dimensions for ADMM (λ = 0.1, gap tolerance
1e-4; on CUDA its steps run in bfloat16, the polish and the gap checks in float32).

    PYTHONPATH=src python benchmarks/gpu_latent.py --append    # on the GPU machine
    PYTHONPATH=src python benchmarks/gpu_latent.py --device cpu --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, interleaved_runs, markdown_table

from eblearn.latent import PCA, GaussianMixture, KMeans, admm
from eblearn.latent.sparse_coding import sparse_coding_energy

LAM = 0.1


def mixture_data(n: int, dim: int = 64, components: int = 32) -> torch.Tensor:
    """``n`` float32 draws from a Gaussian mixture with random means and scales (seed 0)."""
    generator = torch.Generator().manual_seed(0)
    means = 3 * torch.randn(components, dim, generator=generator)
    scales = 0.5 + torch.rand(components, 1, generator=generator)
    labels = torch.randint(components, (n,), generator=generator)
    return means[labels] + scales[labels] * torch.randn(n, dim, generator=generator)


def sparse_data(n: int, dim: int = 64, atoms: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit atoms ``(atoms, dim)`` and ``n`` noisy 5-sparse combinations of them (seed 1)."""
    generator = torch.Generator().manual_seed(1)
    dictionary = torch.nn.functional.normalize(torch.randn(atoms, dim, generator=generator), dim=1)
    codes = torch.zeros(n, atoms)
    support = torch.rand(n, atoms, generator=generator).argsort(1)[:, :5]
    codes.scatter_(1, support, torch.randn(n, 5, generator=generator))
    y = codes @ dictionary + 0.05 * torch.randn(n, dim, generator=generator)
    return dictionary, y


def fits(
    device: torch.device, mixture: torch.Tensor, dictionary: torch.Tensor, y: torch.Tensor
) -> dict[str, Callable[[], float]]:
    """One call per model on ``device`` (the data are copied there); each returns the model's
    objective."""
    x = mixture.to(device)
    start = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(2))[:32].to(device)]
    dictionary, y = dictionary.to(device), y.to(device)
    # A full start (weights, means, precisions), so that no random draw differs by device.
    precision = 1.0 / float(x.var(0).mean())
    eye = torch.eye(x.shape[1], device=device)
    gmm_start = {
        "full": precision * eye.expand(8, -1, -1),
        "diag": torch.full((8, x.shape[1]), precision, device=device),
    }

    def gmm(kind: str) -> Callable[[], float]:
        def run() -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 20 steps with tol=0 do not "converge"
                model = GaussianMixture(
                    8,
                    covariance_type=kind,
                    max_iter=20,
                    tol=0.0,
                    weights_init=torch.full((8,), 1 / 8),
                    means_init=start[:8],
                    precisions_init=gmm_start[kind],
                ).fit(x)
            return float(model.lower_bound_)

        return run

    def sparse() -> float:
        result = admm(y, dictionary, LAM)
        if not result.converged:
            raise RuntimeError("ADMM did not reach the gap tolerance")
        return float(sparse_coding_energy(y, result.codes, dictionary, LAM).mean())

    return {
        "PCA (16 components): explained variance": lambda: float(
            PCA(16).fit(x).explained_variance_.sum()
        ),
        "K-means (K=32): inertia": lambda: KMeans(32, init=start, max_iter=100).fit(x).inertia_,
        "GMM full (K=8, 20 EM steps): mean log-likelihood": gmm("full"),
        "GMM diag (K=8, 20 EM steps): mean log-likelihood": gmm("diag"),
        "ADMM sparse coding (256 atoms, λ=0.1): mean energy": sparse,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="device to compare with the CPU")
    parser.add_argument("--n", type=int, default=100_000, help="samples (sparse coding: n/10)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    data = (mixture_data(args.n), *sparse_data(args.n // 10))
    on_device, on_cpu = fits(device, *data), fits(torch.device("cpu"), *data)
    candidates = {f"{model}|device": fn for model, fn in on_device.items()}
    candidates |= {f"{model}|cpu": fn for model, fn in on_cpu.items()}
    times, values = interleaved_runs(candidates, args.repeats, warmup=1)
    rows = []
    for model in on_device:
        ours, cpu = float(values[f"{model}|device"]), float(values[f"{model}|cpu"])  # type: ignore[arg-type]
        rows.append(
            [
                model,
                f"{ours:.6g}",
                f"{cpu:.6g}",
                f"{abs(ours - cpu) / abs(cpu):.1e}",
                f"{times[f'{model}|device']:.3f}",
                f"{times[f'{model}|cpu']:.3f}",
                f"{times[f'{model}|cpu'] / times[f'{model}|device']:.1f}×",
            ]
        )
    table = markdown_table(
        [
            "model: objective",
            str(device),
            "cpu",
            "relative difference",
            f"{device} s",
            "cpu s",
            "speed-up",
        ],
        rows,
    )
    body = (
        f"Generated float32 data ({args.n:,} × 64; sparse coding {args.n // 10:,} × 64), the "
        f"same start on both devices; median of {args.repeats} interleaved calls after one "
        f"warm-up, CPU with {torch.get_num_threads()} torch threads.\n\n{table}\n"
    )
    if args.append:
        append_section("Latent estimators on a GPU vs the CPU", body, device=device)
    else:
        print(body)


if __name__ == "__main__":
    main()
