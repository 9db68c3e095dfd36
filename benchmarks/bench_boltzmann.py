"""Estimators of a Boltzmann machine judged by the exact test log-likelihood.

A random fully visible Boltzmann machine over ``--units`` binary units (couplings and biases
drawn ``N(0, --scale²)``) is the truth; ``--train`` and ``--test`` samples are drawn from it
exactly (its ``2ⁿ`` states enumerated). A fully visible machine started at zero is then fit
on the training samples by each estimator with the same optimizer (Adam, ``--lr``, full
batch, ``--steps`` steps) and, for maximum likelihood, CD-1 and PCD, an RBM with
``--hidden`` hidden units too (its chains by block Gibbs, ``v → h → v``; the fully visible
machine's by single-site Gibbs sweeps). Every row reports the exact test log-likelihood (nats per
sample, higher is better) and the exact ``KL(p_true ‖ p_model)``, both by enumeration; the
true model's row is the ceiling and the independent-bits model (data marginals) the floor
that ignores every coupling.

    PYTHONPATH=src python benchmarks/bench_boltzmann.py [--units 12] [--steps 500] [--append]
        [--figure docs/img/boltzmann_estimators.png]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table

from eblearn.energy import RBM, BinaryEnergy, BoltzmannMachine
from eblearn.losses import (
    binary_nce_loss,
    contrastive_divergence_loss,
    exact_nll_loss,
    minimum_probability_flow_loss,
    pseudo_likelihood_loss,
    ratio_matching_loss,
)
from eblearn.sampling import (
    BinaryGibbsSampler,
    BlockGibbsSampler,
    ContrastiveDivergence,
    PersistentContrastiveDivergence,
    ReplayBuffer,
    Sampler,
)

Objective = Callable[[BinaryEnergy, Tensor], Tensor]
Estimator = tuple[Objective, list[Tensor]]
"""An objective ``(model, batch) -> scalar`` and the extra parameters it learns (NCE's c)."""


def nce_objective(data: Tensor, noise_per_sample: int, generator: torch.Generator) -> Estimator:
    """NCE against independent bits with the training marginals, and its learned ``c``.

    ``c`` starts at ``n log 2``, the log partition function of the all-zero starting model.
    """
    probs = data.mean(0).clamp(0.02, 0.98)
    log_normalizer = torch.tensor(data.shape[1] * math.log(2.0), requires_grad=True)

    def objective(model: BinaryEnergy, batch: Tensor) -> Tensor:
        shape = (len(batch), noise_per_sample, batch.shape[1])
        noise = torch.bernoulli(probs.expand(shape), generator=generator)
        return binary_nce_loss(model, batch, noise, probs, log_normalizer)

    return objective, [log_normalizer]


def objectives(
    data: Tensor, generator: torch.Generator, sampler: Sampler | None = None
) -> dict[str, Estimator]:
    """Each estimator as ``objective(model, batch) -> scalar`` and its own extra parameters.

    CD and PCD chains use ``sampler`` (one single-site Gibbs sweep by default).
    """
    sampler = BinaryGibbsSampler() if sampler is None else sampler
    cd = ContrastiveDivergence(sampler, k=1)
    buffers: dict[int, PersistentContrastiveDivergence] = {}

    def cd_objective(model: BinaryEnergy, batch: Tensor) -> Tensor:
        return contrastive_divergence_loss(model, batch, cd(model, batch, generator=generator))

    def pcd_objective(model: BinaryEnergy, batch: Tensor) -> Tensor:
        if id(model) not in buffers:
            buffer = ReplayBuffer(len(batch), (batch.shape[1],), low=0.0, high=1.0, reinit_prob=0)
            buffers[id(model)] = PersistentContrastiveDivergence(sampler, buffer, k=1)
        negatives = buffers[id(model)](model, len(batch), generator=generator)
        return contrastive_divergence_loss(model, batch, negatives)

    return {
        "exact maximum likelihood": (exact_nll_loss, []),
        "CD-1": (cd_objective, []),
        "PCD-1": (pcd_objective, []),
        "NCE (Bernoulli noise, ν=5)": nce_objective(data, 5, generator),
        "ratio matching": (ratio_matching_loss, []),
        "minimum probability flow": (minimum_probability_flow_loss, []),
        "pseudo-likelihood": (pseudo_likelihood_loss, []),
    }


def fit(
    model: BinaryEnergy,
    estimator: Estimator,
    data: Tensor,
    steps: int,
    lr: float,
    score: Callable[[BinaryEnergy], float],
    every: int = 20,
) -> tuple[float, list[tuple[int, float]]]:
    """Full-batch Adam on the estimator's objective.

    Returns:
        The seconds the steps took (evaluations excluded) and ``score(model)`` every
        ``every`` steps, as ``(step, value)`` pairs.
    """
    objective, extra = estimator
    optimizer = torch.optim.Adam([*model.parameters(), *extra], lr=lr)
    seconds, curve = 0.0, [(0, score(model))]
    for step in range(1, steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        objective(model, data).backward()
        optimizer.step()
        seconds += time.perf_counter() - start
        if step % every == 0 or step == steps:
            curve.append((step, score(model)))
    return seconds, curve


def test_log_likelihood(model: BinaryEnergy, test: Tensor) -> float:
    with torch.no_grad():
        return float(model.log_prob(test).mean())


def draw(curves: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """Exact ``KL(p_true ‖ p_model)`` against steps, one line per estimator, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, curve in curves.items():
        steps, values = zip(*curve, strict=True)
        ax.plot(steps, values, label=name, linestyle="--" if name.startswith("RBM") else "-")
    ax.set_yscale("log")
    ax.set_xlabel("Adam steps (full batch)")
    ax.set_ylabel("exact KL(p_true ‖ p_model), nats")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def kl_divergence(true: BinaryEnergy, model: BinaryEnergy) -> float:
    """``KL(p_true ‖ p_model)`` over every state, in nats."""
    with torch.no_grad():
        log_p = torch.log_softmax(-true.free_energy(true.all_states()), 0)
        log_q = torch.log_softmax(-model.free_energy(model.all_states()), 0)
        return float((log_p.exp() * (log_p - log_q)).sum())


def independent_bits(data: Tensor) -> BoltzmannMachine:
    """The model with no couplings and the data's marginals, fit in closed form."""
    p = data.mean(0).clamp(1e-3, 1 - 1e-3)
    return BoltzmannMachine(data.shape[1], bias=torch.log(p / (1 - p)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=8, help="hidden units of the RBM rows")
    parser.add_argument("--scale", type=float, default=1.0, help="std of the true parameters")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    parser.add_argument("--figure", type=Path, help="draw the learning curves to this PNG")
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(args.seed)
    n = args.units
    weight = args.scale * torch.randn(n, n, generator=g)
    true = BoltzmannMachine(n, weight, args.scale * torch.randn(n, generator=g))
    train, test = true.sample(args.train, g), true.sample(args.test, g)

    rows: list[list[object]] = []
    curves: dict[str, list[tuple[int, float]]] = {}

    def add(name: str, model: BinaryEnergy, seconds: float | None) -> None:
        ll, kl = test_log_likelihood(model, test), kl_divergence(true, model)
        rows.append([name, f"{ll:.4f}", f"{kl:.4f}", "" if seconds is None else f"{seconds:.1f}"])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)

    def train_and_add(name: str, model: BinaryEnergy, estimator: Estimator) -> None:
        seconds, curves[name] = fit(
            model, estimator, train, args.steps, args.lr, lambda m: kl_divergence(true, m)
        )
        add(name, model, seconds)

    add("true model", true, None)
    add("independent bits (no couplings)", independent_bits(train), None)
    for name, estimator in objectives(train, g).items():
        train_and_add(f"FVBM, {name}", BoltzmannMachine(n), estimator)
    for name in ("exact maximum likelihood", "CD-1", "PCD-1"):
        rbm = RBM(n, args.hidden, init_std=0.1, generator=g)
        estimator = objectives(train, g, BlockGibbsSampler())[name]
        train_and_add(f"RBM-{args.hidden}, {name}", rbm, estimator)
    if args.figure is not None:
        draw(curves, args.figure)

    table = markdown_table(
        ["model, estimator", "test log-likelihood (nats/sample)", "KL(true ‖ model)", "fit s"],
        rows,
    )
    summary = (
        f"True model: fully visible Boltzmann machine, {n} units, parameters N(0, "
        f"{args.scale}²); {args.train} training and {args.test} test samples drawn exactly; "
        f"each fit: Adam lr {args.lr}, full batch, {args.steps} steps from zero couplings "
        f"(RBM: {args.hidden} hidden units, W ~ N(0, 0.1²)). CD-1 and PCD-1 take one Gibbs "
        f"sweep over the units (FVBM) or one block Gibbs step v → h → v (RBM). "
        f"Log-likelihoods and KL exact, by enumerating the {2**n} states.\n\n{table}\n"
    )
    print("\n" + summary)
    if args.append:
        append_section("Boltzmann machine estimators: exact test log-likelihood", summary)


if __name__ == "__main__":
    main()
