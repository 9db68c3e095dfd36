"""The 2-D energy lab: train an energy on toy data with any loss and sampler, then look at it.

``eblearn lab --data ellipse --loss hinge --sampler langevin`` trains an energy ``F(y)`` (or
``F(x, y)`` for the horn) on 2-D toy data and writes, in its run folder (``--run-dir``,
default ``runs/lab-<data>-<loss>-<sampler>-<time>``; a folder holding a lab run is refused
unless ``--overwrite``):

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

Fitted models (:data:`eblearn.app.lab_models.FITTED_MODELS`: ``pca``, ``kmeans``, ``gmm``,
``ica``, ``sparse-coder``, ``dictionary-learning``, ``bottleneck-autoencoder``, ``vae``,
``flow``, ``ebgan``, ``wgan-gp``): a latent model fitted on the data by its own estimator (no
loss, no sampler: passing ``--loss`` or another contrastive option with one is refused), turned
into an energy by :func:`~eblearn.energy.as_energy` and drawn the same way; ``--components``
sets its ``K``. The GANs bring their own sampler, the generator, whose points are drawn in red
on ``energy.png``.
Their run folder defaults to ``runs/lab-<data>-<model>-<time>`` and ``results.json`` holds
the fit (``"fit"``).

Samplers (where the contrastive points ȳ come from): the registry
:data:`eblearn.app.lab_samplers.LAB_SAMPLERS` (langevin, hmc, cd, pcd, hard, generator,
uniform, none).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice, check_positive
from eblearn.app.interrupt import interruptible
from eblearn.app.lab_models import FITTED_MODELS, FittedModel
from eblearn.app.lab_samplers import LAB_SAMPLERS, Negatives, SamplerSettings, uniform_square
from eblearn.app.options import (
    HelpFormatter,
    any_int,
    name_list,
    non_negative_float,
    positive_float,
    positive_int,
    positive_int_list,
)
from eblearn.app.run_folder import Mode, RunFolder, default_run_path
from eblearn.data.toy2d import TOY2D, Toy2D, load_toy
from eblearn.energy import (
    DecoderLatentEnergy,
    Energy,
    Enumerate,
    FreeEnergy,
    LatentEnergy,
    MLPEnergy,
)
from eblearn.energy.free_energy import Method
from eblearn.losses.contrastive import CONTRASTIVE_LOSSES
from eblearn.losses.gradient_penalty import energy_smoothness
from eblearn.losses.group import InfoNCELoss  # noqa: F401  (registers "infonce")
from eblearn.losses.score_matching import ScoreMatchingLoss
from eblearn.plot.energy import plot_chains, plot_energy_panels, plot_lab_curves
from eblearn.sampling import HMCSampler, LangevinSampler, Sampler

TRAINED_MODELS = ("mlp", "latent")
"""Models trained by the lab with a contrastive loss and a sampler."""
DEFAULT_LOSS = "hinge"
DEFAULT_SAMPLER = "langevin"
CONTRASTIVE_OPTIONS = (
    "loss",
    "sampler",
    "margin",
    "beta",
    "energy_reg",
    "smoothness",
    "radius",
    "candidates",
    "latent_points",
    "latent_beta",
)
"""Options of the contrastive training, which no fitted model takes."""
TRAINING_OPTIONS = ("steps", "batch_size", "lr", "hidden")
"""Options of gradient training, taken by the fitted models that train by Adam."""


def model_names() -> list[str]:
    """``--model`` choices: the trained models, then the fitted ones (:data:`FITTED_MODELS`)."""
    return [*TRAINED_MODELS, *FITTED_MODELS.names()]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


SCORE_MATCHING = {"dsm": "denoising", "ssm": "sliced"}
CONDITIONAL_SLICES = (0.2, 0.5, 0.9)


def loss_names() -> list[str]:
    """The losses the lab accepts: the table, InfoNCE, and score matching (dsm, ssm)."""
    return [*CONTRASTIVE_LOSSES.names(), *SCORE_MATCHING]


@dataclass
class LabConfig:
    """Everything a lab run depends on (the long options of ``eblearn lab``)."""

    data: str = "ellipse"
    loss: str | None = None
    """``None``: hinge for a trained model; a fitted model takes no loss."""
    sampler: str | None = None
    """``None``: langevin for a trained model; a fitted model takes no sampler."""
    model: str = "mlp"
    components: int | None = None
    """K of a fitted model (clusters, components, atoms, code size); ``None``: its default."""
    n: int = 1024
    noise: float | None = None
    steps: int = 1500
    batch_size: int = 256
    lr: float = 3e-3
    hidden: tuple[int, ...] = (64, 64)
    margin: float = 1.0
    beta: float = 1.0
    energy_reg: float = 0.0
    smoothness: float = 0.0
    """λ of the energy-smoothness penalty ``λ·mean ||∇_y F(x, y)||²`` at the data points."""
    sampler_steps: int = 20
    step_size: float = 0.01
    radius: float = 0.3
    candidates: int = 256
    latent_points: int = 64
    latent_beta: float = math.inf
    betas: tuple[float, ...] = (math.inf, 10.0, 1.0)
    resolution: int = 150
    seed: int = 0
    run_dir: str | None = None
    progress: bool = True

    def check(self) -> None:
        """Checks every option, touching nothing.

        Raises:
            ValueError: Naming the bad option, its value and the valid choices or range.
        """
        check_choice(self.data, TOY2D.names(), "toy data set")
        check_choice(self.model, model_names(), "model")
        if self.model in FITTED_MODELS:
            self._check_fitted()
        else:
            if self.components is not None:
                raise ValueError(
                    f"--components applies to the fitted models ({', '.join(FITTED_MODELS)}), "
                    f"not to --model {self.model}; drop it"
                )
            check_choice(self.loss or DEFAULT_LOSS, loss_names(), "loss")
            LAB_SAMPLERS.get(self.sampler or DEFAULT_SAMPLER)  # "unknown sampler 'x'; ..."
        counts = ("n", "steps", "batch_size", "sampler_steps", "candidates", "latent_points")
        for name in (*counts, "resolution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("lr", "margin", "beta", "step_size", "latent_beta"):
            check_positive(getattr(self, name), name)
        for name in ("radius", "energy_reg", "smoothness", "noise"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if not self.hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden
        ):
            raise ValueError(
                f"hidden must be one or more layer sizes >= 1 (e.g. 64,64), got {self.hidden!r}"
            )
        if not self.betas or not all(b > 0 for b in self.betas):
            raise ValueError(
                f"betas must be one or more values > 0 (inf allowed), got {self.betas!r}"
            )
        if self.model in FITTED_MODELS:
            return
        loss, sampler = self.loss or DEFAULT_LOSS, self.sampler or DEFAULT_SAMPLER
        needs_negatives = loss not in ("energy", *SCORE_MATCHING)
        if needs_negatives and not LAB_SAMPLERS.get(sampler).draws:
            drawing = [s for s in LAB_SAMPLERS.names() if LAB_SAMPLERS.get(s).draws]
            raise ValueError(
                f"the {loss} loss pushes up contrastive points: pick a sampler "
                f"({', '.join(drawing)})"
            )
        if self.model == "latent" and loss in SCORE_MATCHING:
            raise ValueError("score matching needs a smooth energy: use --model mlp")

    def _check_fitted(self) -> None:
        """A fitted model: its options apply, the contrastive training's do not."""
        entry = FITTED_MODELS.get(self.model)
        defaults = LabConfig()
        refused = [*CONTRASTIVE_OPTIONS, *(() if entry.trains else TRAINING_OPTIONS)]
        for name in refused:
            if getattr(self, name) != getattr(defaults, name):
                raise ValueError(
                    f"{_flag(name)} does not apply to --model {self.model}: it is fitted by "
                    f"{entry.fitted_by}, not trained by the lab with a contrastive loss and a "
                    f"sampler; drop {_flag(name)} (it applies to the trained models: "
                    f"{', '.join(TRAINED_MODELS)})"
                )
        if self.data in TOY2D and load_toy(self.data, 2).x is not None:
            unconditional = [name for name in TOY2D.names() if load_toy(name, 2).x is None]
            raise ValueError(
                f"the {self.data} data is conditioned on x, but --model {self.model} has an "
                f"unconditional energy F(y): pick --data {' or '.join(unconditional)}"
            )
        k = self.components
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"components must be an integer >= 1, got {k!r}")
            if k < entry.min_components:
                raise ValueError(
                    f"--model {self.model} takes at least {entry.min_components} "
                    f"{entry.what}(s), got --components {k}"
                )
            if entry.max_components is not None and k > entry.max_components:
                raise ValueError(
                    f"--model {self.model} in 2-D takes at most {entry.max_components} "
                    f"{entry.what}(s), got --components {k}"
                )
        k = entry().components(self)
        if isinstance(self.n, int) and self.n < max(2, k):
            raise ValueError(
                f"--model {self.model} with {k} {entry.what}(s) needs at least {max(2, k)} data "
                f"points, got --n {self.n}"
            )

    def resolved(self) -> LabConfig:
        """A copy with the trained models' default loss and sampler filled in."""
        if self.model in FITTED_MODELS:
            return replace(self)
        return replace(
            self, loss=self.loss or DEFAULT_LOSS, sampler=self.sampler or DEFAULT_SAMPLER
        )

    def default_run_dir(self) -> Path:
        """``runs/lab-<data>-<loss>-<sampler>-<time>`` for a trained model,
        ``runs/lab-<data>-<model>-<time>`` for a fitted one: the run folder when none is given.
        """
        if self.model in FITTED_MODELS:
            return default_run_path("lab", self.data, self.model)
        return default_run_path(
            "lab", self.data, self.loss or DEFAULT_LOSS, self.sampler or DEFAULT_SAMPLER
        )


LAB_FILES = (
    "energy.png",
    "free_energy.png",
    "density.png",
    "chains.png",
    "curve.png",
    "results.json",
)
"""What a lab run writes; a folder holding any of them is refused without ``--overwrite``."""


def lab_folder(path: str | os.PathLike[str]) -> RunFolder:
    """The run folder of a lab run."""
    return RunFolder(path, kind="lab", precious=LAB_FILES)


@dataclass
class LabResult:
    """What a lab run produced."""

    run_dir: Path
    figures: list[Path]
    metrics: dict[str, float]
    seconds: float


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


def run_lab(config: LabConfig, overwrite: bool = False) -> LabResult:
    """Trains the configured energy and writes the figures and ``results.json``.

    Every option and the run folder are checked first, while only reading the disk; then the
    folder is claimed (locked) and every file written is registered as eblearn's.

    Args:
        config: The run's options (``config.run_dir`` unset: a new timestamped folder).
        overwrite: Replace the files of a lab run already in ``config.run_dir``.

    Returns:
        The run folder, the figures, the final metrics and the time taken.

    Raises:
        ValueError: If an option is invalid (the message names the valid choices), or the run
            folder holds a lab run (without ``overwrite``), another kind of run, or files
            eblearn did not write; nothing is written then.
        Interrupted: On SIGINT or SIGTERM.
    """
    config.check()
    config = config.resolved()
    start = time.time()
    folder = lab_folder(config.run_dir or config.default_run_dir())
    mode = Mode.OVERWRITE if overwrite else Mode.NEW
    folder.check(mode)
    gen = torch.Generator().manual_seed(config.seed)
    data: Toy2D = load_toy(config.data, config.n, config.noise, generator=gen)
    bounds = float(data.y.abs().max()) + 0.5
    square = (-bounds, bounds, -bounds, bounds)

    with folder.claimed(mode, command="eblearn lab"), interruptible():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            if config.model in FITTED_MODELS:
                figures, metrics, fit = _fit_and_draw(config, data, folder, square, gen)
            else:
                figures, metrics = _train_and_draw(config, data, folder, square, gen)
                fit = None
        seconds = time.time() - start
        results: dict[str, Any] = {
            "config": {**asdict(config), "run_dir": str(folder.path)},
            "metrics": metrics,
            "seconds": seconds,
        }
        if fit is not None:
            results["fit"] = fit
        folder.write_json("results.json", _json_safe(results))
    return LabResult(folder.path, figures, metrics, seconds)


def _train_and_draw(
    config: LabConfig,
    data: Toy2D,
    folder: RunFolder,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
) -> tuple[list[Path], dict[str, float]]:
    """A trained model: the contrastive loss and the sampler shape the energy, then the figures."""
    loss, sampler = config.loss or DEFAULT_LOSS, config.sampler or DEFAULT_SAMPLER
    conditional = data.x is not None
    settings = SamplerSettings(
        bounds=square[1],
        steps=config.sampler_steps,
        step_size=config.step_size,
        candidates=config.candidates,
        radius=config.radius,
        lr=config.lr,
        dim_x=1 if conditional else 0,
    )
    energy = _build_energy(config, conditional)
    negatives_of = LAB_SAMPLERS.get(sampler)(settings, energy, gen)
    if loss in SCORE_MATCHING:
        loss_fn: nn.Module = ScoreMatchingLoss(SCORE_MATCHING[loss], sigma=0.1)
    else:
        loss_fn = _build_loss(config)
    history = _train(config, energy, loss_fn, negatives_of, data, square, gen)
    energy.eval()
    last = negatives_of(data.y[:256], None if data.x is None else data.x[:256])
    negatives = None if last is None or data.x is not None else last.detach()
    latent = (energy.latent, energy.method) if isinstance(energy, FreeEnergy) else None
    title = f"{config.data}: {config.model} energy, {loss} loss, {sampler} sampler"
    figures = _draw(config, energy, data, folder, square, gen, title, negatives, latent, history)
    metrics = {key: values[-1] for key, values in history.items() if values and key != "step"}
    return figures, metrics


def _fit_and_draw(
    config: LabConfig,
    data: Toy2D,
    folder: RunFolder,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
) -> tuple[list[Path], dict[str, float], dict[str, Any]]:
    """A fitted model: its own estimator fits it, ``as_energy`` gives the energy drawn."""
    fitted = fit_lab_model(config, data, gen)
    entry = FITTED_MODELS.get(config.model)
    k = entry().components(config)
    title = f"{config.data}: {config.model} ({k} {entry.what}{'s' if k > 1 else ''}), fitted"
    energy, samples = fitted.energy, fitted.samples
    figures = _draw(
        config, energy, data, folder, square, gen, title, samples, fitted.latent, fitted.history
    )
    probe = uniform_square(1024, square[1], gen)
    with torch.no_grad():
        metrics = {
            "data_energy": float(energy(data.y).mean()),
            "grid_energy": float(energy(probe).mean()),
        }
        if samples is not None:  # a GAN: the energy of its generator's points
            metrics["negative_energy"] = float(energy(samples).mean())
    if fitted.history:
        metrics["loss"] = fitted.history["loss"][-1]
    fit = {"model": config.model, "components": k, "fitted_by": entry.fitted_by, **fitted.fit}
    return figures, metrics, fit


def fit_lab_model(config: LabConfig, data: Toy2D, gen: torch.Generator) -> FittedModel:
    """Fits ``config.model`` (an entry of :data:`FITTED_MODELS`) on ``data.y``.

    Raises:
        ValueError: If ``config.model`` is not a fitted model, or ``data`` is conditional.
    """
    if data.x is not None:
        raise ValueError(f"--model {config.model} has an unconditional energy F(y): x must be None")
    fitted = FITTED_MODELS.get(config.model)()(config, data.y, gen)
    if isinstance(fitted.model, nn.Module):
        fitted.model.eval()
    return fitted


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
    loss = config.loss or DEFAULT_LOSS
    cls = CONTRASTIVE_LOSSES.get(loss)
    options: dict[str, Any] = {
        "simple": {"margin": config.margin},
        "hinge": {"margin": config.margin},
        "square-square": {"margin": config.margin},
        "square-exp": {"beta": config.beta},
        "nll": {"beta": config.beta},
        "mee": {"beta": config.beta},
        "infonce": {"temperature": 1 / config.beta},
    }.get(loss, {})
    return cls(**options)


def _train(
    config: LabConfig,
    energy: Energy,
    loss_fn: nn.Module,
    negatives_of: Negatives,
    data: Toy2D,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
) -> dict[str, list[float]]:
    optimizer = torch.optim.Adam(energy.parameters(), lr=config.lr)
    history: dict[str, list[float]] = {
        k: [] for k in ("step", "loss", "data_energy", "negative_energy", "grid_energy")
    }
    probe = uniform_square(1024, square[1], gen)
    probe_x = torch.rand(1024, 1, generator=gen) if data.x is not None else None
    steps = range(config.steps)
    if config.progress:
        from tqdm import tqdm

        what = f"{config.data} {config.loss or DEFAULT_LOSS} {config.sampler or DEFAULT_SAMPLER}"
        steps = tqdm(steps, desc=f"lab {what}", ncols=90)
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
        if config.smoothness:
            at_x = functools.partial(energy, x=x)  # F(x, ·) on this batch's observations
            loss = loss + energy_smoothness(at_x, y, config.smoothness)
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
    folder: RunFolder,
    square: tuple[float, float, float, float],
    gen: torch.Generator,
    title: str,
    negatives: Tensor | None,
    latent: tuple[LatentEnergy, Method] | None,
    history: dict[str, list[float]] | None,
) -> list[Path]:
    """The figures: the energy, its free energy (``latent``: ``E`` and how to enumerate ``z``)
    or Gibbs density at several β, sampler chains, and the training curve (``history``)."""
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

    panels = [(name, at(x)) for name, x in slices]
    res = config.resolution
    figures.append(
        plot_energy_panels(
            panels, folder.file("energy.png"), square, shown, negatives, title, resolution=res
        )
    )

    x_mid = fixed_x[len(fixed_x) // 2]
    if latent is not None:
        beta_panels = [
            (f"F_β, β = {_beta_name(b)}", _chunked(at(x_mid, FreeEnergy(*latent, beta=b))))
            for b in config.betas
        ]
        figures.append(
            plot_energy_panels(
                beta_panels,
                folder.file("free_energy.png"),
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
                folder.file("density.png"),
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
                at(x_mid), chains, folder.file("chains.png"), square, resolution=res, suptitle=title
            )
        )
    if history:
        figures.append(plot_lab_curves(history, folder.file("curve.png"), title))
    return figures


def _chunked(fn: Callable[[Tensor], Tensor], size: int = 4096) -> Callable[[Tensor], Tensor]:
    """``fn`` over the rows of its input in chunks of ``size`` (bounds the memory of a free
    energy that evaluates ``E(y, z)`` at every grid point times every enumerated ``z``)."""
    return lambda points: torch.cat([fn(chunk) for chunk in points.split(size)])


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


def beta_value(text: str) -> float:
    """An inverse temperature: a number > 0, or ``inf`` (β = ∞ is the zero-temperature limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 or inf, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0 (inf allowed), got {text}")
    return value


def beta_list(text: str) -> tuple[float, ...]:
    """``inf,10,1`` → ``(inf, 10.0, 1.0)``; every β must be > 0."""
    return tuple(beta_value(part) for part in name_list(text))


LAB_EPILOG = """\
examples:
  eblearn lab --data ellipse --loss hinge --sampler langevin
  eblearn lab --data ellipse --loss energy --sampler none      # collapses
  eblearn lab --data ellipse --model latent --loss energy --sampler none
  eblearn lab --data horn --loss hinge --sampler langevin
  eblearn lab --data two-moons --loss dsm --sampler none
  eblearn lab --run-dir runs/my-lab --overwrite --hidden 128,128 --betas inf,4,1
  eblearn lab --data ellipse --model kmeans --components 8      # fitted, no loss
  eblearn lab --data ellipse --model pca                        # a whole line at zero

The run folder receives energy.png, free_energy.png (latent model) or density.png (MLP),
chains.png, curve.png and results.json. A folder that already holds a lab run is refused
unless --overwrite (which replaces only the files eblearn wrote there).
"""


def add_lab_parser(subparsers: Any) -> None:
    """Adds ``eblearn lab`` to the command line's sub-commands."""
    d = LabConfig()
    lab = subparsers.add_parser(
        "lab",
        help="train a 2-D energy with any loss and sampler, and draw it",
        description="The 2-D energy lab: train an energy on toy data with a loss of the "
        "table and a sampler of contrastive points, then draw the energy, its free energy "
        "or density at several β, sampler chains and the training curve.",
        epilog=LAB_EPILOG,
        formatter_class=HelpFormatter,
    )
    what = lab.add_argument_group("what to train")
    what.add_argument("--data", default=d.data, help=f"toy data: {', '.join(TOY2D.names())}")
    what.add_argument(
        "--model",
        default=d.model,
        choices=model_names(),
        help="the energy's form: trained with a loss and a sampler (mlp, latent) or a latent "
        "model fitted by its own estimator (" + ", ".join(FITTED_MODELS.names()) + ")",
    )
    what.add_argument(
        "--loss",
        default=argparse.SUPPRESS,
        help=f"one of {', '.join(loss_names())} (default: {DEFAULT_LOSS}; trained models only)",
    )
    what.add_argument(
        "--sampler",
        default=argparse.SUPPRESS,
        choices=LAB_SAMPLERS.names(),
        help="where the contrastive points come from "
        f"(default: {DEFAULT_SAMPLER}; trained models only)",
    )
    what.add_argument(
        "--components",
        type=positive_int,
        default=argparse.SUPPRESS,
        metavar="K",
        help="clusters, components, atoms or code size of a fitted model (default: "
        + ", ".join(
            f"{name} {FITTED_MODELS.get(name).default_components}" for name in FITTED_MODELS
        )
        + ")",
    )
    what.add_argument("--n", type=positive_int, default=d.n, help="number of data points")
    what.add_argument(
        "--noise",
        type=non_negative_float,
        default=argparse.SUPPRESS,
        help="noise of the toy data (default: each data set's own)",
    )
    what.add_argument(
        "--hidden",
        type=positive_int_list,
        default=",".join(map(str, d.hidden)),
        metavar="SIZES",
        help="hidden layer sizes of the energy, comma-separated",
    )
    what.add_argument(
        "--latent-points", type=positive_int, default=d.latent_points, help="grid of z"
    )
    what.add_argument(
        "--latent-beta", type=beta_value, default=d.latent_beta, help="β of the trained F_β"
    )

    how = lab.add_argument_group("how to train")
    how.add_argument("--steps", type=positive_int, default=d.steps, help="training steps")
    how.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="points")
    how.add_argument("--lr", type=positive_float, default=d.lr, help="Adam learning rate")
    how.add_argument(
        "--margin", type=positive_float, default=d.margin, help="m of simple/hinge/sq-sq"
    )
    how.add_argument("--beta", type=positive_float, default=d.beta, help="β of nll/mee/sq-exp")
    how.add_argument(
        "--energy-reg", type=non_negative_float, default=d.energy_reg, help="λ of λ·mean F²"
    )
    how.add_argument(
        "--smoothness",
        type=non_negative_float,
        default=d.smoothness,
        help="λ of λ·mean ||∇_y F||² at the data (energy smoothness)",
    )
    how.add_argument(
        "--sampler-steps", type=positive_int, default=d.sampler_steps, help="MCMC steps"
    )
    how.add_argument("--step-size", type=positive_float, default=d.step_size, help="Langevin η")
    how.add_argument(
        "--radius", type=non_negative_float, default=d.radius, help="hard negatives' radius"
    )
    how.add_argument(
        "--candidates", type=positive_int, default=d.candidates, help="hard-negative candidates"
    )
    how.add_argument("--seed", type=any_int, default=d.seed, help="seed of everything random")

    where = lab.add_argument_group("what to draw, where results go")
    where.add_argument(
        "--betas",
        type=beta_list,
        default=",".join(_beta_text(b) for b in d.betas),
        metavar="BETAS",
        help="β of the free-energy or density figure, comma-separated (inf allowed)",
    )
    where.add_argument(
        "--resolution", type=positive_int, default=d.resolution, help="grid side of the figures"
    )
    where.add_argument(
        "--run-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="run folder (default: runs/lab-<data>-<loss>-<sampler>-<time>)",
    )
    where.add_argument(
        "--overwrite",
        action="store_true",
        default=argparse.SUPPRESS,
        help="replace the lab run in --run-dir (only the files eblearn wrote)",
    )
    where.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=argparse.SUPPRESS,
        help="hide the progress bar",
    )
    lab.set_defaults(handler=_lab)


def _beta_text(beta: float) -> str:
    return "inf" if math.isinf(beta) else f"{beta:g}"


def _lab(args: argparse.Namespace) -> int:
    options = {k: v for k, v in vars(args).items() if k in LabConfig.__dataclass_fields__}
    config = LabConfig(**options)
    result = run_lab(config, overwrite=getattr(args, "overwrite", False))
    metrics = result.metrics
    loss = f"loss {metrics['loss']:.4g}, " if "loss" in metrics else ""
    print(
        f"final: {loss}data energy {metrics['data_energy']:.4g}, "
        f"mean energy over the square {metrics['grid_energy']:.4g}"
    )
    print(f"written: {', '.join(p.name for p in result.figures)} in {result.run_dir}")
    print(f"({result.seconds:.0f} s)")
    return 0
