"""The 2-D energy lab: train an energy on toy data with any loss and sampler, then look at it.

``eblearn lab --data ellipse --loss hinge --sampler langevin`` trains an energy ``F(y)`` (or
``F(x, y)`` for the horn) on 2-D toy data and writes, in the output folder:

    energy.png        the energy as a heat map, the data (white) and the last contrastive
                      points (red) on top
    free_energy.png   latent model: F_β for several β (β = ∞ is min_z)
    density.png       MLP model: the Gibbs density exp(-βF)/Z for several β
    chains.png        a few chains of the sampler on the final energy
    curve.png         the loss, and the data, contrastive and average energies per step
    results.json      the configuration and the final energies

The point is to see the talk's claims: a zero-margin loss collapses (the energy becomes flat),
a margin loss carves a valley around the data, an infinite-margin loss keeps digging, and an
architecture with a 1-D latent variable limits the volume of low energy with no contrastive
points at all.

Models:
    ``mlp``: ``F(x, y) = softplus(MLP([x, y]))`` (:class:`~eblearn.energy.MLPEnergy`);
    ``latent``: ``F_β(x, y) = softmin_z ||y - Dec(x, z)||²`` with an angle ``z`` enumerated
    on a grid (:class:`~eblearn.energy.DecoderLatentEnergy`, :class:`~eblearn.energy.FreeEnergy`).

Samplers (where the contrastive points ȳ come from):
    ``langevin`` / ``hmc``: short chains from uniform noise on the current energy;
    ``cd``: Langevin for ``--sampler-steps`` steps from the data (contrastive divergence);
    ``pcd``: persistent Langevin chains in a replay buffer;
    ``hard``: the most offending of ``--candidates`` uniform points farther than ``--radius``
    from the data point (with multimodal answers, as on the horn, other correct answers are
    "offending" too, and pushing them up fights the data: prefer a sampler there);
    ``generator``: a generator network trained to produce low-energy points (EBGAN);
    ``uniform``: uniform noise; ``none``: no contrastive points (energy loss, score matching).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice, check_positive
from eblearn.data.toy2d import TOY2D, Toy2D, load_toy
from eblearn.energy import (
    DecoderLatentEnergy,
    Energy,
    Enumerate,
    FreeEnergy,
    MLPEnergy,
    mlp,
)
from eblearn.losses.contrastive import CONTRASTIVE_LOSSES
from eblearn.losses.group import InfoNCELoss  # noqa: F401  (registers "infonce")
from eblearn.losses.score_matching import ScoreMatchingLoss
from eblearn.plot.energy import plot_chains, plot_energy_panels, plot_lab_curves
from eblearn.sampling import (
    GeneratorSampler,
    HMCSampler,
    LangevinSampler,
    ReplayBuffer,
    Sampler,
    most_offending,
)

MODELS = ("mlp", "latent")
SAMPLERS = ("langevin", "hmc", "cd", "pcd", "hard", "generator", "uniform", "none")
SCORE_MATCHING = {"dsm": "denoising", "ssm": "sliced"}
CONDITIONAL_SLICES = (0.2, 0.5, 0.9)


def loss_names() -> list[str]:
    """The losses the lab accepts: the table, InfoNCE, and score matching (dsm, ssm)."""
    return [*CONTRASTIVE_LOSSES.names(), *SCORE_MATCHING]


@dataclass
class LabConfig:
    """Everything a lab run depends on (the long options of ``eblearn lab``)."""

    data: str = "ellipse"
    loss: str = "hinge"
    sampler: str = "langevin"
    model: str = "mlp"
    n: int = 1024
    noise: float | None = None
    steps: int = 1500
    batch_size: int = 256
    lr: float = 3e-3
    hidden: tuple[int, ...] = (64, 64)
    margin: float = 1.0
    beta: float = 1.0
    energy_reg: float = 0.0
    sampler_steps: int = 20
    step_size: float = 0.01
    radius: float = 0.3
    candidates: int = 256
    latent_points: int = 64
    latent_beta: float = math.inf
    betas: tuple[float, ...] = (math.inf, 10.0, 1.0)
    resolution: int = 150
    seed: int = 0
    out: str | None = None
    progress: bool = True

    def check(self) -> None:
        """Raises ``ValueError`` naming any bad option and its valid choices."""
        check_choice(self.data, TOY2D.names(), "toy data set")
        check_choice(self.loss, loss_names(), "loss")
        check_choice(self.sampler, SAMPLERS, "sampler")
        check_choice(self.model, MODELS, "model")
        for name in ("n", "steps", "batch_size", "latent_points", "resolution", "candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "margin", "beta", "step_size", "radius", "latent_beta"):
            check_positive(getattr(self, name), name)
        needs_negatives = self.loss not in ("energy", *SCORE_MATCHING)
        if needs_negatives and self.sampler == "none":
            raise ValueError(
                f"the {self.loss} loss pushes up contrastive points: pick a sampler "
                f"({', '.join(s for s in SAMPLERS if s != 'none')})"
            )
        if self.model == "latent" and self.loss in SCORE_MATCHING:
            raise ValueError("score matching needs a smooth energy: use --model mlp")


@dataclass
class LabResult:
    """What a lab run produced."""

    out: Path
    figures: list[Path]
    metrics: dict[str, float]
    seconds: float


class _Negatives:
    """Draws contrastive points for a batch according to the configured sampler."""

    def __init__(self, config: LabConfig, energy: Energy, bounds: float, gen: torch.Generator):
        self.config, self.energy, self.bounds, self.gen = config, energy, bounds, gen
        kind = config.sampler
        self.mcmc: Sampler = LangevinSampler(
            config.step_size, config.sampler_steps, bounds=(-bounds, bounds)
        )
        draw: Callable[[Tensor, Tensor | None], Tensor | None]
        if kind == "none":
            draw = lambda y, x: None  # noqa: E731
        elif kind == "uniform":
            draw = lambda y, x: self.uniform(len(y))  # noqa: E731
        elif kind == "hard":
            draw = self._hard
        elif kind == "generator":
            dim_x = 1 if config.data == "horn" else 0
            self.generator = GeneratorSampler(mlp([4 + dim_x, 64, 64, 2]), noise_dim=4)
            self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=config.lr)
            draw = self._generated
        elif kind == "cd":
            draw = lambda y, x: self.mcmc(energy, y, x, generator=gen)  # noqa: E731
        elif kind == "pcd":
            self.buffer = ReplayBuffer(8192, (2,), -bounds, bounds)
            draw = self._persistent
        else:  # short-run chains from uniform noise
            if kind == "hmc":
                step = math.sqrt(2 * config.step_size)  # one leapfrog ~ Langevin step η
                self.mcmc = HMCSampler(step, n_leapfrog=3, steps=config.sampler_steps)
            draw = lambda y, x: self.mcmc(energy, self.uniform(len(y)), x, generator=gen)  # noqa: E731
        self.draw = draw

    def uniform(self, n: int) -> Tensor:
        return (2 * torch.rand(n, 2, generator=self.gen) - 1) * self.bounds

    def __call__(self, y: Tensor, x: Tensor | None) -> Tensor | None:
        return self.draw(y, x)

    def _hard(self, y: Tensor, x: Tensor | None) -> Tensor:
        candidates = self.uniform(self.config.candidates)
        return most_offending(self.energy, y, candidates, x, radius=self.config.radius)[:, 0]

    def _generated(self, y: Tensor, x: Tensor | None) -> Tensor:
        self.optimizer.zero_grad()
        self.generator.generator_loss(self.energy, len(y), x).backward()
        self.optimizer.step()
        with torch.no_grad():
            return self.generator(len(y), x).clamp(-self.bounds, self.bounds)

    def _persistent(self, y: Tensor, x: Tensor | None) -> Tensor:
        index, states = self.buffer.draw(len(y), self.gen)
        states = self.mcmc(self.energy, states, x, generator=self.gen)
        self.buffer.push(index, states)
        return states


def _build_energy(config: LabConfig, conditional: bool) -> Energy:
    dim_x = 1 if conditional else 0
    if config.model == "mlp":
        # A softplus output keeps the energy loss from diverging to -∞ (it collapses to a
        # flat 0 instead); every other loss gets a linear output, whose gradient does not
        # vanish where the energy is low (softplus saturates there and stalls the push-up).
        nonnegative = config.loss == "energy"
        return MLPEnergy(2, dim_x=dim_x, hidden=config.hidden, nonnegative=nonnegative)
    k = config.latent_points
    grid = (2 * math.pi * (torch.arange(k) + 0.5) / k)[:, None]
    latent = DecoderLatentEnergy(2, 1, dim_x=dim_x, hidden=config.hidden, periodic=True)
    return FreeEnergy(latent, Enumerate(grid, 2 * math.pi / k), beta=config.latent_beta)


def _beta_name(beta: float) -> str:
    return "∞" if math.isinf(beta) else f"{beta:g}"


def run_lab(config: LabConfig) -> LabResult:
    """Trains the configured energy and writes the figures and ``results.json``.

    Args:
        config: The run's options.

    Returns:
        The output folder, the figures, the final metrics and the time taken.

    Raises:
        ValueError: If an option is invalid (the message names the valid choices).
    """
    config.check()
    start = time.time()
    out = Path(
        config.out or f"runs/lab-{config.data}-{config.model}-{config.loss}-{config.sampler}"
    )
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(config.seed)
    data: Toy2D = load_toy(config.data, config.n, config.noise, generator=gen)
    conditional = data.x is not None
    bounds = float(data.y.abs().max()) + 0.5
    square = (-bounds, bounds, -bounds, bounds)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        energy = _build_energy(config, conditional)
        negatives_of = _Negatives(config, energy, bounds, gen)
        if config.loss in SCORE_MATCHING:
            loss_fn: nn.Module = ScoreMatchingLoss(SCORE_MATCHING[config.loss], sigma=0.1)
        else:
            loss_fn = _build_loss(config)
        history = _train(config, energy, loss_fn, negatives_of, data, square, gen)
        figures = _draw(config, energy, data, negatives_of, history, out, square, gen)

    metrics = {key: values[-1] for key, values in history.items() if values and key != "step"}
    seconds = time.time() - start
    results = {
        "config": asdict(config),
        "metrics": metrics,
        "seconds": seconds,
    }
    (out / "results.json").write_text(json.dumps(_json_safe(results), indent=2))
    return LabResult(out, figures, metrics, seconds)


def _json_safe(value: Any) -> Any:
    """Strict JSON: infinities become the strings "inf" / "-inf", tuples lists."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _build_loss(config: LabConfig) -> nn.Module:
    cls = CONTRASTIVE_LOSSES.get(config.loss)
    options: dict[str, Any] = {
        "hinge": {"margin": config.margin},
        "square-square": {"margin": config.margin},
        "square-exp": {"beta": config.beta},
        "nll": {"beta": config.beta},
        "mee": {"beta": config.beta},
        "infonce": {"temperature": 1 / config.beta},
    }.get(config.loss, {})
    return cls(**options)


def _train(
    config: LabConfig,
    energy: Energy,
    loss_fn: nn.Module,
    negatives_of: _Negatives,
    data: Toy2D,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
) -> dict[str, list[float]]:
    optimizer = torch.optim.Adam(energy.parameters(), lr=config.lr)
    history: dict[str, list[float]] = {
        k: [] for k in ("step", "loss", "data_energy", "negative_energy", "grid_energy")
    }
    probe = negatives_of.uniform(1024)
    probe_x = torch.rand(1024, 1, generator=gen) if data.x is not None else None
    steps = range(config.steps)
    if config.progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"lab {config.data} {config.loss} {config.sampler}", ncols=90)
    log_every = max(1, config.steps // 100)
    for step in steps:
        index = torch.randint(len(data.y), (min(config.batch_size, len(data.y)),), generator=gen)
        y = data.y[index]
        x = None if data.x is None else data.x[index]
        negatives = negatives_of(y, x)
        positive = energy(y, x)
        negative_energy = None
        if isinstance(loss_fn, ScoreMatchingLoss):
            loss = loss_fn(energy, y, x, generator=gen)
        else:
            if negatives is not None:
                negative_energy = energy(negatives, x)
            if negative_energy is None:
                loss = loss_fn(positive)
            elif x is not None:  # conditional: each ȳ is paired with its own x
                loss = loss_fn(positive, negative_energy[:, None])
            else:  # unconditional: every ȳ is contrastive for every y
                loss = loss_fn(positive, negative_energy[None].expand(len(y), -1))
        if config.energy_reg:
            terms = [positive] + ([negative_energy] if negative_energy is not None else [])
            loss = loss + config.energy_reg * torch.cat(terms).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == config.steps - 1:
            with torch.no_grad():
                history["step"].append(step)
                history["loss"].append(float(loss))
                history["data_energy"].append(float(positive.mean()))
                if negative_energy is not None:
                    history["negative_energy"].append(float(negative_energy.mean()))
                history["grid_energy"].append(float(energy(probe, probe_x).mean()))
    return history


def _draw(
    config: LabConfig,
    energy: Energy,
    data: Toy2D,
    negatives_of: _Negatives,
    history: dict[str, list[float]],
    out: Path,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
) -> list[Path]:
    title = f"{config.data}: {config.model} energy, {config.loss} loss, {config.sampler} sampler"
    figures = []
    energy.eval()
    if data.x is None:
        fixed_x: list[Tensor | None] = [None]
        slices: list[tuple[str, Tensor | None]] = [("F(y)", None)]
        shown: list[Tensor | None] = [data.y]
    else:
        fixed_x = [torch.full((1, 1), v) for v in CONDITIONAL_SLICES]
        slices = [(f"F(x={v:g}, y)", torch.full((1, 1), v)) for v in CONDITIONAL_SLICES]
        shown = [data.y[(data.x[:, 0] - v).abs() < 0.05] for v in CONDITIONAL_SLICES]

    def at(x: Tensor | None, fn: Callable[..., Tensor] = energy) -> Callable[[Tensor], Tensor]:
        return lambda y: fn(y, None if x is None else x.expand(len(y), 1))

    last = negatives_of(data.y[:256], None if data.x is None else data.x[:256])
    negatives = None if last is None or data.x is not None else last.detach()
    panels = [(name, at(x)) for name, x in slices]
    res = config.resolution
    figures.append(
        plot_energy_panels(
            panels, out / "energy.png", square, shown, negatives, title, resolution=res
        )
    )

    x_mid = fixed_x[len(fixed_x) // 2]
    if isinstance(energy, FreeEnergy):
        beta_panels = [
            (
                f"F_β, β = {_beta_name(b)}",
                at(x_mid, FreeEnergy(energy.latent, energy.method, beta=b)),
            )
            for b in config.betas
        ]
        figures.append(
            plot_energy_panels(
                beta_panels,
                out / "free_energy.png",
                square,
                shown[len(shown) // 2],
                suptitle="free energy F_β = -1/β log ∫ exp(-β E) dz of the latent model",
                label="free energy",
                resolution=res,
            )
        )
    else:
        finite = [b for b in config.betas if math.isfinite(b)] or [1.0]
        density_panels = [
            (f"exp(-βF)/Z, β = {b:g}", _density(at(x_mid), b, square)) for b in finite
        ]
        figures.append(
            plot_energy_panels(
                density_panels,
                out / "density.png",
                square,
                shown[len(shown) // 2],
                suptitle="the Gibbs density the energy implies, at several β",
                label="density",
                gamma=1.0,
                resolution=res,
            )
        )

    chains = _chains(config, energy, x_mid, square, gen)
    if chains:
        figures.append(
            plot_chains(
                at(x_mid), chains, out / "chains.png", square, resolution=res, suptitle=title
            )
        )
    figures.append(plot_lab_curves(history, out / "curve.png", title))
    return figures


def _density(
    fn: Callable[[Tensor], Tensor], beta: float, square: tuple[float, float, float, float]
) -> Callable[[Tensor], Tensor]:
    def density(points: Tensor) -> Tensor:
        logits = -beta * fn(points)
        return torch.softmax(logits, dim=0)  # normalized over the plotted grid

    return density


def _chains(
    config: LabConfig,
    energy: Energy,
    x: Tensor | None,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
) -> dict[str, Tensor]:
    """Chains of the configured MCMC sampler (Langevin when it has none) on the final energy."""
    bound = square[1]
    start = (2 * torch.rand(64, 2, generator=gen) - 1) * bound
    xs = None if x is None else x.expand(64, 1)
    steps = max(config.sampler_steps, 50)
    samplers: dict[str, Sampler] = {
        "Langevin": LangevinSampler(config.step_size, steps, bounds=(-bound, bound)),
        "HMC": HMCSampler(math.sqrt(2 * config.step_size), n_leapfrog=3, steps=steps),
    }
    chains = {}
    for name, sampler in samplers.items():
        states = sampler.trace(energy, start, xs, generator=gen).states
        if states is not None:
            chains[name] = states
    return chains


def add_lab_parser(subparsers: Any) -> None:
    """Adds ``eblearn lab`` to the command line's sub-commands."""
    defaults = LabConfig()
    lab = subparsers.add_parser(
        "lab",
        help="train a 2-D energy with any loss and sampler, and draw it",
        description="The 2-D energy lab: train an energy on toy data with a loss of the "
        "table and a sampler of contrastive points, then draw the energy, its free energy "
        "or density at several β, sampler chains and the training curve.",
        epilog="examples:\n"
        "  eblearn lab --data ellipse --loss hinge --sampler langevin\n"
        "  eblearn lab --data ellipse --loss energy --sampler none      # collapses\n"
        "  eblearn lab --data ellipse --model latent --loss energy --sampler none\n"
        "  eblearn lab --data horn --loss hinge --sampler langevin\n"
        "  eblearn lab --data two-moons --loss dsm --sampler none",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lab.add_argument("--data", default=defaults.data, help=f"{', '.join(TOY2D.names())}")
    lab.add_argument("--loss", default=defaults.loss, help=f"{', '.join(loss_names())}")
    lab.add_argument("--sampler", default=defaults.sampler, help=f"{', '.join(SAMPLERS)}")
    lab.add_argument("--model", default=defaults.model, help=f"{', '.join(MODELS)}")
    lab.add_argument("--n", type=int, default=defaults.n, help="number of data points")
    lab.add_argument("--noise", type=float, help="noise of the toy data (its default)")
    lab.add_argument("--steps", type=int, default=defaults.steps, help="training steps")
    lab.add_argument("--batch-size", type=int, default=defaults.batch_size)
    lab.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate")
    lab.add_argument("--hidden", type=int, nargs="+", default=list(defaults.hidden))
    lab.add_argument("--margin", type=float, default=defaults.margin, help="m of hinge/sq-sq")
    lab.add_argument("--beta", type=float, default=defaults.beta, help="β of nll/mee/sq-exp")
    lab.add_argument("--energy-reg", type=float, default=defaults.energy_reg, help="λ·mean F²")
    lab.add_argument("--sampler-steps", type=int, default=defaults.sampler_steps)
    lab.add_argument("--step-size", type=float, default=defaults.step_size, help="Langevin η")
    lab.add_argument("--radius", type=float, default=defaults.radius, help="hard negatives")
    lab.add_argument(
        "--candidates", type=int, default=defaults.candidates, help="hard-negative candidates"
    )
    lab.add_argument("--latent-points", type=int, default=defaults.latent_points)
    lab.add_argument(
        "--latent-beta", type=float, default=defaults.latent_beta, help="β of the trained F_β"
    )
    lab.add_argument(
        "--betas",
        type=float,
        nargs="+",
        default=list(defaults.betas),
        help="β of the free-energy figure (inf allowed)",
    )
    lab.add_argument("--resolution", type=int, default=defaults.resolution, help="grid side")
    lab.add_argument("--seed", type=int, default=defaults.seed)
    lab.add_argument("--out", help="output folder (runs/lab-<data>-<model>-<loss>-<sampler>)")
    lab.add_argument("--no-progress", dest="progress", action="store_false")
    lab.set_defaults(handler=_lab)


def _lab(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in vars(args).items()
        if key in LabConfig.__dataclass_fields__
    }
    config = LabConfig(**options)
    result = run_lab(config)
    metrics = result.metrics
    print(
        f"final: loss {metrics['loss']:.4g}, data energy {metrics['data_energy']:.4g}, "
        f"mean energy over the square {metrics['grid_energy']:.4g}"
    )
    print(f"written: {', '.join(p.name for p in result.figures)} in {result.out}")
    print(f"({result.seconds:.0f} s)")
    return 0
