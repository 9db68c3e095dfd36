"""LISTA against ISTA and FISTA: the solver iterations needed to reach LISTA-T's energy.

Gregor & LeCun (2010) report that LISTA reaches with T layers the error that the iterative
solvers need about ten times more iterations for. Here, on the dictionary of
``bench_sparse_coding.py`` (256 atoms, 8×8 CIFAR-10 patches, λ = 0.5): for T = 1…10,
LISTA-T is trained by back-propagation through time (to match the optimal codes, as in the
paper, and, separately, to minimize the energy directly), then the mean energy it reaches on
held-out patches is compared with the energy curves of ISTA and FISTA (no restart, from zero).
It also draws ``docs/img/latent/lista_energy.png``.

    PYTHONPATH=src python benchmarks/bench_lista.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _patches import cifar_patches
from _report import ROOT, append_section, library_versions, markdown_table
from bench_sparse_coding import LAM, learned_dictionary

from eblearn.latent import LISTA, fista, ista, train_lista
from eblearn.latent.sparse_coding import sparse_coding_energy
from eblearn.plot import plot_energy_vs_depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--test", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--depths", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    atoms = learned_dictionary()
    train = torch.tensor(cifar_patches(args.train, "train", seed=3), dtype=torch.float32)
    test = torch.tensor(cifar_patches(args.test, "test", seed=4), dtype=torch.float32)
    optimal = fista(train, atoms, LAM, tol=1e-6, max_iter=20000).codes
    minimum = float(
        sparse_coding_energy(
            test,
            fista(test, atoms, LAM, tol=1e-6, max_iter=20000).codes,
            atoms,
            LAM,
        ).mean()
    )
    horizon = 2000
    histories = {
        "ISTA": ista(test, atoms, LAM, max_iter=horizon, tol=0, record_history=True).history,
        "FISTA": fista(
            test, atoms, LAM, max_iter=horizon, tol=0, restart=False, record_history=True
        ).history,
    }
    results: dict[str, dict[int, float]] = {"codes": {}, "energy": {}}
    start = time.perf_counter()
    for target in ("codes", "energy"):
        for depth in range(1, args.depths + 1):
            model = LISTA(atoms, LAM, n_layers=depth)
            train_lista(
                model,
                train,
                target=target,
                epochs=args.epochs,
                batch_size=256,
                lr=1e-3,
                optimal_codes=optimal,
            )
            with torch.no_grad():
                results[target][depth] = float(model.energy(test).mean())
    seconds = time.perf_counter() - start
    rows = []
    curves = {name: torch.tensor(history) for name, history in histories.items()}

    def steps_to_reach(name: str, energy: float) -> str:
        """First iteration at which the solver's mean energy is at most ``energy``
        (as :func:`~eblearn.latent.iterations_to_reach`, on the curve computed once)."""
        reached = (curves[name] <= energy).nonzero()
        return str(int(reached[0]) + 1) if len(reached) else f"> {horizon}"

    for depth in range(1, args.depths + 1):
        row = [str(depth)]
        for target in ("codes", "energy"):
            energy = results[target][depth]
            shown = [steps_to_reach("FISTA", energy), steps_to_reach("ISTA", energy)]
            row += [f"{results[target][depth] - minimum:.4f}", *shown]
        rows.append(row)
    ista_depth = [histories["ISTA"][d - 1] - minimum for d in range(1, args.depths + 1)]
    table = markdown_table(
        [
            "T",
            "LISTA-T (codes) energy − min",
            "FISTA its to match",
            "ISTA its to match",
            "LISTA-T (energy) energy − min",
            "FISTA its to match",
            "ISTA its to match",
        ],
        rows,
    )
    body = (
        f"{args.train:,} training and {args.test:,} held-out patches; minimum mean energy "
        f"{minimum:.4f} (FISTA to a gap of 1e-6·‖y‖²). LISTA-T trained {args.epochs} epochs "
        f"with Adam (lr 1e-3, batch 256) from its ISTA initialization; {2 * args.depths} "
        f"models trained in {seconds:.0f} s. For reference, ISTA's own excess energy after T = 1…"
        f"{args.depths} iterations: {', '.join(f'{v:.3f}' for v in ista_depth)}.\n\n"
        f"{table}\n"
    )
    plot_energy_vs_depth(
        {
            "LISTA trained on optimal codes": results["codes"],
            "LISTA trained on the energy": results["energy"],
        },
        histories,
        minimum,
        ROOT / "docs" / "img" / "latent" / "lista_energy.png",
        title="CIFAR-10 8×8 patches, 256 atoms: LISTA-T vs solver iterations",
    )
    append_section(
        "LISTA: solver iterations needed to reach LISTA-T's energy",
        library_versions() + body,
    )


if __name__ == "__main__":
    main()
