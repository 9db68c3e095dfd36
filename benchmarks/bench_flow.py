"""RealNVP flow negative log-likelihood on the digits test split, beside the VAE's, in nats.

A flow gives a density on continuous values; the digits are discrete. Uniform dequantization
(Theis, van den Oord, Bethge 2016; Dinh et al. 2017) bridges the two: for pixels with ``L``
levels, ``y = (x + u) / L`` with ``u ~ U[0, 1)^D``, and ``-log P(x) ≤ E_u[-log p(y)] + D log L``,
a bound on the *discrete* NLL, the same quantity as the VAE's importance-sampled NLL. The flow
models ``w = logit(α + (1 - 2α) y)`` (unbounded values), and the log-determinant of
``y → w`` is added back, so the table's numbers are exact bounds in nats per digit (the VAE
section's unit) and in bits per dimension (nats / (64 ln 2)).

Two data forms, each on the fixed 1,347 / 450 split:

* binarized digits (pixel > 0.5, ``L = 2``): the VAE's data; the flow row sits beside the
  VAE row and the independent-pixel model of ``bench_vae.py``, trained in the same run;
* the original 17 levels (0..16, ``L = 17``): a richer discrete variable, so its NLL is not
  comparable with the binary rows; an independent categorical per pixel gives its scale.

    PYTHONPATH=src python benchmarks/bench_flow.py            # prints the table
    PYTHONPATH=src python benchmarks/bench_flow.py --append   # and appends it to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, library_versions, markdown_table
from bench_vae import binarized, vae_nll

from eblearn.data import load_dataset
from eblearn.latent import RealNVP

ALPHA = 0.05
"""``α`` of the logit transform: keeps ``logit`` away from 0 and 1 (RealNVP's value)."""


def levels_17(images: torch.Tensor) -> torch.Tensor:
    """``(N, 1, 8, 8)`` uint8 digits (0..16 scaled to 0..255) back to ``(N, 64)`` levels 0..16."""
    return (images.float() * 16 / 255).round().flatten(1)


def to_flow_space(
    x: torch.Tensor, levels: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dequantizes and logit-transforms levels ``x`` ``(N, D)``: ``w`` and ``log |det ∂w/∂y|``.

    ``y = (x + u) / L``, ``v = α + (1 - 2α) y``, ``w = log v - log(1 - v)``, and
    ``log |∂w/∂y| = Σ_j log(1 - 2α) - log v_j - log(1 - v_j)``.
    """
    u = torch.rand(x.shape, generator=generator)
    v = ALPHA + (1 - 2 * ALPHA) * (x + u) / levels
    log_det = (math.log(1 - 2 * ALPHA) - v.log() - (1 - v).log()).sum(1)
    return v.log() - (1 - v).log(), log_det


def discrete_nll(
    flow: RealNVP, x: torch.Tensor, levels: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One draw of the bound ``-log p(y) + D log L`` on ``-log P(x)``, nats, shape ``(N,)``."""
    w, log_det = to_flow_space(x, levels, generator)
    return flow.energy(w) - log_det + x.shape[1] * math.log(levels)


def fit_flow(
    train: torch.Tensor, levels: int, args: argparse.Namespace
) -> tuple[RealNVP, float, list[float], int]:
    """A RealNVP fitted by Adam on fresh dequantization noise each batch, early-stopped.

    The last ``args.validation`` of a seeded permutation of ``train`` is held out; every
    ``args.check`` epochs the bound on it (one fixed noise draw) is measured, and the flow
    returned has the parameters of the best check. Returns the flow, the training seconds, the
    mean training loss per epoch and the epoch kept.
    """
    torch.manual_seed(args.seed)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
    n_val = round(args.validation * len(train))
    fit_rows, val_rows = train[order[n_val:]], train[order[:n_val]]
    flow = RealNVP(train.shape[1], n_layers=args.layers, hidden=args.hidden, linear=args.linear)
    flow.initialize(to_flow_space(fit_rows, levels)[0])
    optimizer = torch.optim.Adam(flow.parameters(), lr=args.lr)
    shuffle = torch.Generator().manual_seed(args.seed)
    best, best_epoch, best_state = math.inf, 0, copy.deepcopy(flow.state_dict())
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        flow.train()
        total = 0.0
        for rows in torch.randperm(len(fit_rows), generator=shuffle).split(args.batch):
            loss = discrete_nll(flow, fit_rows[rows], levels).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        losses.append(total / len(fit_rows))
        if n_val and (epoch % args.check == 0 or epoch == args.epochs):
            flow.eval()
            with torch.no_grad():
                noise = torch.Generator().manual_seed(args.seed)
                held_out = float(discrete_nll(flow, val_rows, levels, noise).mean())
            if held_out < best:
                best, best_epoch, best_state = held_out, epoch, copy.deepcopy(flow.state_dict())
    if n_val:
        flow.load_state_dict(best_state)
    flow.eval()
    return flow, time.perf_counter() - start, losses, best_epoch if n_val else args.epochs


def evaluate(
    flow: RealNVP, x: torch.Tensor, levels: int, draws: int, seed: int
) -> tuple[float, float]:
    """Mean over digits of the bound averaged over ``draws`` noise draws, and its standard
    error over digits (nats per digit)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        nll = torch.stack([discrete_nll(flow, x, levels, generator) for _ in range(draws)])
    per_digit = nll.mean(0)
    return float(per_digit.mean()), float(per_digit.std() / len(per_digit) ** 0.5)


def bits_per_dim(nats: float, dim: int = 64) -> str:
    return f"{nats / (dim * math.log(2)):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="flow epochs")
    parser.add_argument("--layers", type=int, default=8, help="coupling layers")
    parser.add_argument(
        "--hidden", type=lambda s: tuple(map(int, s.split(","))), default=(256, 256)
    )
    parser.add_argument(
        "--linear", action="store_true", help="an invertible linear map before each coupling"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--validation", type=float, default=0.1, help="held-out fraction for early stopping"
    )
    parser.add_argument("--check", type=int, default=5, help="epochs between validation checks")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--draws", type=int, default=20, help="dequantization draws per test digit")
    parser.add_argument("--vae-epochs", type=int, default=300, help="0 leaves the VAE out")
    parser.add_argument("--samples", type=int, default=5000, help="VAE importance samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    digits = load_dataset("digits")
    rows: list[list[object]] = []

    def row(model: str, data: str, nats: float, error: str, train: str, epochs: str, s: str):
        rows.append([model, data, f"{nats:.2f}{error}", bits_per_dim(nats), train, epochs, s])

    # binarized digits: the VAE's data
    train, test = binarized(digits.train.images), binarized(digits.test.images)
    frequencies = (train.sum(0) + 1) / (len(train) + 2)
    independent = -(test * frequencies.log() + (1 - test) * (1 - frequencies).log()).sum(1)
    row("independent pixels (Bernoulli per pixel)", "binary", float(independent.mean()), "",
        "–", "–", "–")  # fmt: skip
    if args.vae_epochs > 0:
        _, nll, seconds = vae_nll(train, test, 8, args.vae_epochs, args.samples, args.seed)
        error = f" ± {float(nll.std() / len(nll) ** 0.5):.2f}"
        row(f"VAE, MLP 64-256-128-8, NLL with {args.samples} importance samples", "binary",
            float(nll.mean()), error, "–", str(args.vae_epochs), f"{seconds:.0f}")  # fmt: skip
    architecture = f"RealNVP, {args.layers} couplings, MLP {'-'.join(map(str, args.hidden))}"
    architecture += ", invertible linear maps" if args.linear else ""
    flow, seconds, losses, kept = fit_flow(train, 2, args)
    nats, error = evaluate(flow, test, 2, args.draws, args.seed)
    row(f"{architecture}, dequantized", "binary", nats, f" ± {error:.2f}",
        f"{losses[kept - 1]:.2f}", f"{kept} of {args.epochs}", f"{seconds:.0f}")  # fmt: skip

    # the original 17 levels
    train, test = levels_17(digits.train.images), levels_17(digits.test.images)
    counts = torch.stack([(train == level).sum(0) for level in range(17)]) + 1.0  # (17, 64)
    log_frequencies = (counts / counts.sum(0)).log()
    categorical = -log_frequencies.gather(0, test.long()).sum(1)  # log f_{x_nj, j}
    row("independent pixels (categorical per pixel)", "17 levels", float(categorical.mean()), "",
        "–", "–", "–")  # fmt: skip
    flow, seconds, losses, kept = fit_flow(train, 17, args)
    nats, error = evaluate(flow, test, 17, args.draws, args.seed)
    row(f"{architecture}, dequantized", "17 levels", nats, f" ± {error:.2f}",
        f"{losses[kept - 1]:.2f}", f"{kept} of {args.epochs}", f"{seconds:.0f}")  # fmt: skip

    table = markdown_table(
        ["model", "pixels", "test NLL (nats per digit)", "bits/dim",
         "train NLL at the epoch kept", "epochs (kept of run)", "train s"],
        rows,
    )  # fmt: skip
    body = (
        "8×8 digits, 1,347 train / 450 test (the fixed stratified split), seed "
        f"{args.seed}. The flow's NLL is the dequantization bound E_u[−log p((x + u)/L)] + "
        f"64 log L on the discrete −log P(x), averaged over {args.draws} noise draws per test "
        "digit; the VAE's is its importance-sampled estimate; both in nats per digit, as in "
        "the VAE section, and in bits per dimension (÷ 64 ln 2). Rows of the same 'pixels' "
        "compare; binary and 17-level rows model different variables. Flow: Adam lr "
        f"{args.lr}, batch {args.batch}, logit transform with α = {ALPHA}, actnorm before each "
        f"coupling; early stopping: {args.validation:.0%} of the training digits held out, "
        f"the bound on them checked every {args.check} epochs, the best check's flow kept "
        "(the VAE trains on all the training digits for its epochs). ± is the standard error "
        f"over the test digits.\n\n{table}\n"
    )
    if args.append:
        append_section(
            "Normalizing flow negative log-likelihood on the digits test split",
            library_versions() + body,
        )
    else:
        print(body)


if __name__ == "__main__":
    main()
