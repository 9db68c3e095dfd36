"""Samplers against torchebm on the same energy, and free-energy enumeration throughput.

1. Langevin (unadjusted) and HMC: eblearn's samplers and torchebm's ``LangevinDynamics`` and
   ``HamiltonianMonteCarlo`` on the same analytic 2-D Gaussian mixture (the same ``forward``,
   wrapped for torchebm), the same starting points, step sizes, numbers of steps and chains,
   timed in alternation. Throughput is chain-steps per second (chains × steps / time);
   accuracy is the error of the final samples' mean and covariance against the mixture's
   exact moments, averaged over the repetitions.
2. Enumeration: ``F_β(y) = -1/β log Σ_k exp(-β E(y, z_k))`` of a decoder latent energy on a
   2-D toy (the ellipse) with a 1,000-point z grid: energy evaluations per second of the
   batched call, beside a Python loop over z (one call per grid point) as the reference.

    python benchmarks/bench_samplers.py                # CPU, about 3 minutes
    python benchmarks/bench_samplers.py --threads 1 --repeats 5
    python benchmarks/bench_samplers.py --device cuda
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from _report import append_section, machine, markdown_table
from torchebm.core import BaseModel
from torchebm.samplers import HamiltonianMonteCarlo, LangevinDynamics

from eblearn.data.toy2d import ellipse
from eblearn.energy import (
    DecoderLatentEnergy,
    Enumerate,
    GaussianMixtureEnergy,
    LatentEnergy,
    free_energy,
)
from eblearn.energy.free_energy import soft_minimum
from eblearn.sampling import HMCSampler, LangevinSampler


class Wrapped(BaseModel):
    """torchebm's view of an eblearn energy: the very same forward."""

    def __init__(self, energy: torch.nn.Module, device: torch.device) -> None:
        super().__init__(device=device)
        self.energy = energy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy(x)


def mixture(device: torch.device) -> GaussianMixtureEnergy:
    """Four overlapping components with different weights and shapes."""
    means = torch.tensor([[-1.0, -0.6], [1.0, -0.4], [0.2, 1.0], [-0.4, 0.2]])
    covs = torch.stack(
        [
            torch.tensor([[0.30, 0.10], [0.10, 0.20]]),
            torch.tensor([[0.25, -0.05], [-0.05, 0.35]]),
            torch.eye(2) * 0.3,
            torch.eye(2) * 0.5,
        ]
    )
    return GaussianMixtureEnergy(means, covs, [0.3, 0.3, 0.2, 0.2]).to(device)


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, torch.Tensor]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def moment_errors(
    samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor
) -> tuple[float, float]:
    """‖mean error‖₂ and ‖covariance error‖_F of the samples."""
    samples = samples.double()
    mean_error = float((samples.mean(0) - mean.double()).norm())
    cov_error = float((torch.cov(samples.T) - cov.double()).norm())
    return mean_error, cov_error


def bench_samplers(args: argparse.Namespace, device: torch.device) -> str:
    energy = mixture(device)
    mean, cov = energy.moments()
    wrapped = Wrapped(energy, device)
    n, eta = args.chains, args.step_size
    cases = {
        "Langevin": (
            args.langevin_steps,
            lambda y0, gen: LangevinSampler(step_size=eta, steps=args.langevin_steps)(
                energy, y0, generator=gen
            ),
            lambda y0, gen: LangevinDynamics(
                wrapped, step_size=eta, noise_scale=1.0, device=device
            ).sample(x=y0.clone(), n_steps=args.langevin_steps, generator=gen),
        ),
        "HMC": (
            args.hmc_steps,
            lambda y0, gen: HMCSampler(
                step_size=args.hmc_step_size, n_leapfrog=args.leapfrog, steps=args.hmc_steps
            )(energy, y0, generator=gen),
            lambda y0, gen: HamiltonianMonteCarlo(
                wrapped,
                step_size=args.hmc_step_size,
                n_leapfrog_steps=args.leapfrog,
                device=device,
            ).sample(x=y0.clone(), n_steps=args.hmc_steps, generator=gen),
        ),
    }
    rows = []
    for name, (steps, ours, theirs) in cases.items():
        runs: dict[str, list[tuple[float, float, float]]] = {"eblearn": [], "torchebm": []}
        for repeat in range(args.repeats + 1):  # the first round warms up
            start = torch.randn(n, 2, generator=torch.Generator().manual_seed(repeat)).to(device)
            for side, fn in (("eblearn", ours), ("torchebm", theirs)):
                gen = torch.Generator(device=device).manual_seed(1000 + repeat)
                seconds, samples = timed(lambda fn=fn, gen=gen, y0=start: fn(y0, gen), device)
                if repeat:
                    runs[side].append((seconds, *moment_errors(samples, mean, cov)))
        medians = {side: statistics.median(r[0] for r in runs[side]) for side in runs}
        for side in ("eblearn", "torchebm"):
            mean_err = statistics.fmean(r[1] for r in runs[side])
            cov_err = statistics.fmean(r[2] for r in runs[side])
            rate = n * steps / medians[side]
            ratio = medians["torchebm"] / medians[side]
            rows.append(
                [
                    name,
                    side,
                    f"{medians[side]:.3f}",
                    f"{rate:,.0f}",
                    f"{ratio:.2f}×" if side == "eblearn" else "1.00×",
                    f"{mean_err:.4f}",
                    f"{cov_err:.4f}",
                ]
            )
    header = [
        "sampler",
        "library",
        "median s",
        "chain-steps/s",
        "speed vs torchebm",
        "mean error ‖·‖₂",
        "cov error ‖·‖_F",
    ]
    setup = (
        f"{n} chains from N(0, I) on a 4-component 2-D Gaussian mixture; Langevin: "
        f"{args.langevin_steps} steps, η = {eta}; HMC: {args.hmc_steps} proposals of "
        f"{args.leapfrog} leapfrog steps, ε = {args.hmc_step_size}; {args.repeats} "
        "repetitions in alternation (median time, mean error). Both sides draw their noise "
        "from generators with the same seed in the same order, so equal errors mean the "
        "chains are the same chains: the algorithms agree step for step."
    )
    return setup + "\n\n" + markdown_table(header, rows)


def bench_enumeration(args: argparse.Namespace, device: torch.device) -> str:
    torch.manual_seed(0)
    latent = DecoderLatentEnergy(2, latent_dim=1, periodic=True, hidden=(64, 64)).to(device)
    y = ellipse(args.batch, generator=torch.Generator().manual_seed(0)).y.to(device)
    k = 1000
    grid = (2 * math.pi * (torch.arange(k) + 0.5) / k)[:, None].to(device)
    log_cell = math.log(2 * math.pi / k)
    calls = {"forward": 0}
    original = latent.forward

    def counted(*a, **kw):
        calls["forward"] += 1
        return original(*a, **kw)

    latent.forward = counted  # type: ignore[method-assign]

    def decoder_once() -> torch.Tensor:  # DecoderLatentEnergy decodes the K values once
        with torch.no_grad():
            return free_energy(latent, y, method=Enumerate(grid, 2 * math.pi / k), beta=2.0)

    def tiled() -> torch.Tensor:  # the generic LatentEnergy path: one forward on B·K rows
        with torch.no_grad():
            table = LatentEnergy.energy_table(latent, y, grid.expand(len(y), k, 1))
            return soft_minimum(table, 2.0, log_cell)

    def looped() -> torch.Tensor:  # the reference: one energy call per grid point
        with torch.no_grad():
            columns = [latent(y, grid[j].expand(len(y), 1)) for j in range(k)]
            return soft_minimum(torch.stack(columns, 1), 2.0, log_cell)

    reference = looped()
    torch.testing.assert_close(decoder_once(), reference, atol=1e-4, rtol=1e-4)
    calls["forward"] = 0
    torch.testing.assert_close(tiled(), reference, atol=1e-4, rtol=1e-4)
    if calls["forward"] != 1:
        raise RuntimeError("the generic enumeration must be one batched call")
    candidates = {
        "one batched call, generic (forward on B·K rows)": tiled,
        "one batched call, Dec(z_k) shared by the batch": decoder_once,
        "Python loop over z (reference)": looped,
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for repeat in range(args.repeats + 1):
        for name, fn in candidates.items():
            seconds, _ = timed(fn, device)
            if repeat:
                times[name].append(seconds)
    rows = []
    evaluations = args.batch * k
    base = statistics.median(times["Python loop over z (reference)"])
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            [name, f"{median * 1e3:.1f}", f"{evaluations / median:,.0f}", f"{base / median:.1f}×"]
        )
    setup = (
        f"F_β(y), β = 2, of a decoder latent energy (MLP 2-64-64-2 on (cos z, sin z)) for "
        f"{args.batch} ellipse points × a {k}-point z grid = {evaluations:,} energy "
        "evaluations per call (all three checked equal; the generic path checked to make one "
        "energy call)."
    )
    header = ["implementation", "median ms / call", "evaluations/s", "vs loop"]
    return setup + "\n\n" + markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--langevin-steps", type=int, default=500)
    parser.add_argument("--step-size", type=float, default=0.01)
    parser.add_argument("--hmc-steps", type=int, default=100)
    parser.add_argument("--hmc-step-size", type=float, default=0.2)
    parser.add_argument("--leapfrog", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    import torchebm

    body = (
        f"Peer: torchebm {torchebm.__version__}\n\n"
        "### Langevin and HMC against torchebm\n\n"
        + bench_samplers(args, device)
        + "\n\n### Free energy by enumeration\n\n"
        + bench_enumeration(args, device)
    )
    title = "Samplers and free-energy enumeration (issue 4)"
    if args.no_append:
        print(f"## {title}\n\n{machine(device=device)}\n\n{body}")
    else:
        append_section(title, body, device=device)


if __name__ == "__main__":
    main()
