"""The jobs behind ``eblearn world collect|train|plan``: experience, models, planning runs.

A world run folder holds, as the three steps write them:

    world.json             the environment and how the data were collected
    transitions.pt         collected transitions (states, actions, next states, rewards)
    model.pt               the forward model (pendulum, mountaincar) or the pixel world model
                           (two-rooms); policy.pt with --policy
    train.json             training settings and the last epoch's losses
    plan-<planner>-<model>.json
                           returns (success for two-rooms), ms per planning step, model
                           evaluations per step, the model-error report along executed paths
    plan-<planner>-<model>.png
                           planned against executed trajectories

``eblearn world plan --env pendulum --model true`` plans on the true dynamics without a run.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eblearn.plot.world import (
    pendulum_features,
    plot_planned_trajectories,
    plot_two_rooms_paths,
)
from eblearn.world.control import Episode, PlannerController, run_episodes
from eblearn.world.costs import GoalCost
from eblearn.world.envs import ENVIRONMENTS, Env, make_env
from eblearn.world.fit import fit_forward_model, model_error_report
from eblearn.world.io import load_module, save_module
from eblearn.world.models import PENALTIES, ForwardModel
from eblearn.world.pixel import PixelWorldModel, fit_pixel_world_model
from eblearn.world.planner import LATENT_MODES
from eblearn.world.planners import PLANNERS, build_planner
from eblearn.world.policy import Policy, PolicyController, fit_policy
from eblearn.world.transitions import RandomController, Transitions, collect
from eblearn.world.two_rooms import TwoRooms, TwoRoomsDynamics, door_pairs, render_two_rooms

INFO_FILE, DATA_FILE, MODEL_FILE, POLICY_FILE = (
    "world.json",
    "transitions.pt",
    "model.pt",
    "policy.pt",
)
TRAIN_FILE = "train.json"


@dataclass(frozen=True)
class EnvSettings:
    """Per-environment defaults of the jobs."""

    horizon: int
    episode_steps: int | None = None
    repeat: int = 1
    names: tuple[str, ...] = ()
    dt: float = 1.0
    pixels: int = 0
    planner_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)


SETTINGS = {
    "pendulum": EnvSettings(
        horizon=20,
        episode_steps=100,
        names=("θ (rad)", "θ̇ (rad/s)"),
        dt=0.05,
        planner_defaults={
            "gradient": {"iterations": 3, "restarts": 16, "lr": 0.2},
            "cem": {"population": 300, "elites": 30, "iterations": 4},
            "mppi": {"population": 300, "iterations": 3},
        },
    ),
    "mountaincar": EnvSettings(
        horizon=60,
        repeat=8,
        names=("x", "v"),
        planner_defaults={
            "gradient": {"iterations": 10, "restarts": 8, "lr": 0.2},
            "cem": {"population": 300, "elites": 30, "iterations": 4},
            "mppi": {"population": 300, "iterations": 3},
        },
    ),
    "two-rooms": EnvSettings(
        horizon=20,
        episode_steps=50,
        repeat=4,
        pixels=32,
        planner_defaults={
            "gradient": {"iterations": 10, "restarts": 8, "lr": 0.1},
            "cem": {"population": 200, "elites": 20, "iterations": 4},
            "mppi": {"population": 200, "iterations": 4},
        },
    ),
}


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2, default=float) + "\n")


def _read_info(run_dir: Path) -> dict[str, Any]:
    info = run_dir / INFO_FILE
    if not info.is_file():
        raise ValueError(
            f"{str(run_dir)!r} is not a world run folder (no {INFO_FILE}); "
            "start with 'eblearn world collect --env NAME --run-dir DIR'"
        )
    return json.loads(info.read_text())


def _settings(env: str) -> EnvSettings:
    if env not in SETTINGS:
        raise ValueError(f"unknown environment {env!r}; valid environments: {', '.join(SETTINGS)}")
    return SETTINGS[env]


def collect_run(
    env_name: str,
    run_dir: str | Path,
    steps: int = 2000,
    seed: int = 0,
    episode_steps: int | None = None,
    overwrite: bool = False,
) -> Transitions:
    """Collects ``steps`` random transitions of ``env_name`` into ``run_dir``.

    Random actions are held for a few steps where exploration needs it (``repeat`` in
    :data:`SETTINGS`); two-rooms stores positions, rendered to images when training.

    Raises:
        ValueError: If the folder already holds data and ``overwrite`` is false, or on a bad
            setting.
    """
    settings = _settings(env_name)
    run_dir = Path(run_dir)
    if (run_dir / DATA_FILE).exists() and not overwrite:
        raise ValueError(f"{str(run_dir)!r} already holds {DATA_FILE}; pass --overwrite")
    env = make_env(env_name)
    controller = RandomController(env.action_low, env.action_high, settings.repeat, seed)
    data = collect(env, steps, controller, seed, episode_steps or settings.episode_steps)
    run_dir.mkdir(parents=True, exist_ok=True)
    data.save(run_dir / DATA_FILE)
    _write_json(
        run_dir / INFO_FILE,
        {
            "env": env_name,
            "steps": steps,
            "episodes": int(data.episodes.max()) + 1,
            "seed": seed,
            "controller": f"uniform random, each action held {settings.repeat} step(s)",
        },
    )
    return data


def train_run(
    run_dir: str | Path,
    latent_dim: int = 0,
    penalty: str = "kl",
    beta: float = 1.0,
    latent_dropout: float = 0.0,
    hidden: tuple[int, ...] = (128, 128),
    epochs: int | None = None,
    policy: bool = False,
    policy_iterations: int = 600,
    seed: int = 0,
) -> dict[str, Any]:
    """Trains the run's world model (and a policy through it with ``policy=True``).

    Pendulum and mountaincar get a :class:`ForwardModel` (deterministic, or with ``latent_dim``
    latent variables); two-rooms gets a :class:`PixelWorldModel` trained on rendered frames.

    Returns:
        What ``train.json`` holds.
    """
    run_dir = Path(run_dir)
    info = _read_info(run_dir)
    env_name = info["env"]
    settings = _settings(env_name)
    data = Transitions.load(run_dir / DATA_FILE)
    torch.manual_seed(seed)
    started = time.perf_counter()
    summary: dict[str, Any] = {"env": env_name, "transitions": len(data), "seed": seed}
    model: torch.nn.Module
    if settings.pixels:
        model, history = _fit_pixel_model(env_name, data, epochs or 5, seed)
    else:
        model = ForwardModel(
            data.states.shape[1],
            data.actions.shape[1],
            latent_dim=latent_dim,
            hidden_dims=hidden,
            penalty=penalty,
            beta=beta,
            latent_dropout=latent_dropout,
        )
        history = fit_forward_model(model, data, epochs=epochs or 60, batch_size=128, seed=seed)
    summary.update(model=type(model).__name__, config=model.config())  # type: ignore[operator]
    save_module(model, run_dir / MODEL_FILE)
    summary["last_epoch"] = history[-1]
    if policy:
        if not isinstance(model, ForwardModel):
            raise ValueError("--policy needs a state environment (pendulum or mountaincar)")
        env = make_env(env_name)
        learned = Policy(model.state_dim, env.action_low, env.action_high)
        policy_history = fit_policy(
            learned,
            model,
            env.cost(),
            data.states,
            horizon=max(settings.horizon, 30),
            iterations=policy_iterations,
            batch_size=128,
            lr=3e-3,
            seed=seed,
        )
        save_module(learned, run_dir / POLICY_FILE)
        summary["policy"] = {"iterations": policy_iterations, "last": policy_history[-1]}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    _write_json(run_dir / TRAIN_FILE, summary)
    return summary


def _fit_pixel_model(
    env_name: str, data: Transitions, epochs: int, seed: int
) -> tuple[PixelWorldModel, list[dict[str, float]]]:
    settings = _settings(env_name)
    env = make_env(env_name)
    if not isinstance(env, TwoRooms):
        raise ValueError(f"pixel world models are trained on two-rooms, not {env_name!r}")
    model = PixelWorldModel(
        pixels=settings.pixels,
        action_dim=env.action_dim,
        action_scale=float(env.action_high.max()),
    )
    dynamics = env.dynamics()

    def render(states: Tensor) -> Tensor:
        return render_two_rooms(states, dynamics, settings.pixels)

    return model, fit_pixel_world_model(model, data, render, epochs=epochs, seed=seed)


@dataclass
class PlanSummary:
    """What a planning run measured, and the files written."""

    run_dir: Path
    content: dict[str, Any]
    json_path: Path
    figure_path: Path

    def table(self) -> str:
        c = self.content
        lines = [
            f"{c['env']}: {c['controller']} on the {c['model']} model, "
            f"{c['episodes']} episode(s)"
            + (f", horizon {c['horizon']}" if c.get("horizon") else ""),
            f"  mean return        {c['mean_return']:.1f}",
        ]
        if c.get("success_rate") is not None:
            lines.append(f"  success rate       {c['success_rate']:.0%}")
        lines.append(f"  ms per act call    {c['ms_per_call']:.1f} (batch of {c['batch']})")
        if c.get("evaluations_per_step"):
            lines.append(f"  model evaluations  {c['evaluations_per_step']:.0f} per step")
        if c.get("model_error"):
            errors = ", ".join(f"{k} {v:.4g}" for k, v in c["model_error"].items())
            lines.append(f"  model error        {errors}")
        return "\n".join(lines)


def _starts(env_name: str, episodes: int, seed: int) -> list[dict[str, Any]]:
    if env_name == "two-rooms":
        starts, goals = door_pairs(episodes, seed=seed)
        return [{"start": s, "goal": g} for s, g in zip(starts, goals)]
    return [{"seed": seed + i} for i in range(episodes)]


def plan_run(
    run_dir: str | Path | None = None,
    env_name: str | None = None,
    planner: str = "gradient",
    model: str = "learned",
    episodes: int = 5,
    batch: int | None = None,
    horizon: int | None = None,
    latent_mode: str = "mean",
    warm_start_policy: bool = False,
    planner_options: dict[str, Any] | None = None,
    seed: int = 0,
) -> PlanSummary:
    """Runs ``episodes`` episodes with a planner (or the learned policy) and records them.

    Args:
        run_dir: A world run folder (needed for learned models; created for true-model runs).
        env_name: The environment (read from the run folder when omitted).
        planner: ``gradient``, ``cem``, ``mppi``, ``hybrid``, or ``policy`` (the learned policy
            alone).
        model: ``learned`` (the run's model) or ``true`` (the environment's dynamics).
        episodes: Episodes (fixed starts: seeds ``seed, seed+1, ...``; door pairs for
            two-rooms).
        batch: Episodes run together, one batched planner call per step (default: all).
        horizon: Planning horizon (default per environment).
        latent_mode: ``mean``, ``sample`` or ``optimize`` for latent models.
        warm_start_policy: Warm-start gradient MPC from the learned policy's rollout.
        planner_options: Extra keyword arguments of the planner.
        seed: Seed of the starts and the planner.

    Returns:
        The summary, also written to ``plan-<planner>-<model>.json`` with the figure
        ``plan-<planner>-<model>.png`` beside it.
    """
    info = _read_info(Path(run_dir)) if run_dir and (Path(run_dir) / INFO_FILE).exists() else {}
    env_name = env_name or info.get("env")
    if env_name is None:
        raise ValueError("name the environment with --env, or give a world run folder")
    if info and info["env"] != env_name:
        raise ValueError(f"the run folder holds {info['env']!r} data, not {env_name!r}")
    if model not in ("learned", "true"):
        raise ValueError(f"unknown model {model!r}; valid choices: learned, true")
    if planner != "policy" and planner not in PLANNERS:
        raise ValueError(
            f"unknown planner {planner!r}; valid choices: {', '.join(PLANNERS.names())}, policy"
        )
    settings = _settings(env_name)
    if run_dir is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"world-{env_name}-{planner}-{stamp}"
    run_dir = Path(run_dir)
    if model == "learned" and not (run_dir / MODEL_FILE).is_file():
        raise ValueError(
            f"no learned model in {str(run_dir)!r}; run 'eblearn world train --run-dir "
            f"{run_dir}' first, or plan with --model true"
        )
    horizon = horizon or settings.horizon
    pixels = settings.pixels if model == "learned" else 0
    make = (
        (lambda: TwoRooms(pixels=pixels))
        if env_name == "two-rooms"
        else (lambda: make_env(env_name))
    )
    envs: list[Env] = [make() for _ in range(episodes)]
    controller, encoder, learned = _controller(
        run_dir,
        envs[0],
        env_name,
        planner,
        model,
        horizon,
        latent_mode,
        warm_start_policy,
        {**settings.planner_defaults.get(planner, {}), **(planner_options or {})},
        seed,
    )
    resets = _starts(env_name, episodes, seed)
    batch = batch or episodes
    results: list[Episode] = []
    for first in range(0, episodes, batch):
        results += run_episodes(
            envs[first : first + batch],
            controller,
            resets[first : first + batch],
            record_every=10,
        )
    content = _summarize(results, env_name, planner, model, horizon, controller, batch)
    if learned is not None and env_name != "two-rooms":
        content["model_error"] = model_error_report(
            learned, [(e.states, e.actions) for e in results], horizons=(1, 5, 10)
        )
    elif learned is not None and encoder is not None:
        content["model_error"] = _embedding_error(learned, encoder, envs[0], results)
    run_dir.mkdir(parents=True, exist_ok=True)
    stem = run_dir / f"plan-{planner}-{model}"
    _write_json(stem.with_suffix(".json"), content)
    _draw(stem.with_suffix(".png"), env_name, results, resets, encoder, envs[0], content)
    return PlanSummary(run_dir, content, stem.with_suffix(".json"), stem.with_suffix(".png"))


def _controller(
    run_dir: Path,
    env: Env,
    env_name: str,
    planner: str,
    model: str,
    horizon: int,
    latent_mode: str,
    warm_start_policy: bool,
    options: dict[str, Any],
    seed: int,
) -> tuple[Any, Any, Any]:
    """(controller, encoder or None, learned model or None)."""
    learned = load_module(run_dir / MODEL_FILE) if model == "learned" else None
    policy = None
    if planner == "policy" or warm_start_policy:
        if not (run_dir / POLICY_FILE).is_file():
            raise ValueError(
                f"no policy in {str(run_dir)!r}; train one with 'eblearn world train --policy'"
            )
        policy = load_module(run_dir / POLICY_FILE, "policy")
    if planner == "policy":
        return PolicyController(policy), None, learned  # type: ignore[arg-type]
    encoder = None
    if isinstance(learned, PixelWorldModel):
        dynamics: Any = learned.predictor
        encoder = learned.encoder
    else:
        dynamics = learned if learned is not None else env.dynamics()
    cost = GoalCost(step_weight=0.1, terminal_weight=1.0) if env_name == "two-rooms" else env.cost()
    if policy is not None:
        if planner != "gradient":
            raise ValueError("--warm-start-policy works with --planner gradient")
        options = {**options, "policy": policy}
    if latent_mode != "mean":
        options = {**options, "latent_mode": latent_mode}
    built = build_planner(
        planner, dynamics, cost, horizon, env.action_low, env.action_high, seed=seed, **options
    )
    return PlannerController(built, encoder), encoder, learned


def _summarize(
    results: list[Episode],
    env_name: str,
    planner: str,
    model: str,
    horizon: int,
    controller: Any,
    batch: int,
) -> dict[str, Any]:
    returns = [e.total_reward for e in results]
    steps = sum(len(e.actions) for e in results)
    seconds = [s for e in results for s in e.seconds]
    content: dict[str, Any] = {
        "env": env_name,
        "controller": planner,
        "model": model,
        "horizon": None if planner == "policy" else horizon,
        "episodes": len(results),
        "batch": batch,
        "returns": [round(r, 2) for r in returns],
        "mean_return": sum(returns) / len(returns),
        "ms_per_call": 1000 * float(torch.tensor(seconds).median()),
        "steps": steps,
    }
    if results[0].success is not None:
        content["success_rate"] = sum(bool(e.success) for e in results) / len(results)
    planner_object = getattr(controller, "planner", None)
    if planner_object is not None:
        content["evaluations_per_step"] = planner_object.evaluations_ / steps
        content["backward_evaluations_per_step"] = planner_object.backward_evaluations_ / steps
    return content


def _embedding_error(
    model: PixelWorldModel, encoder: Any, env: Env, results: list[Episode]
) -> dict[str, float]:
    dynamics = _rooms(env)
    trajectories = []
    with torch.no_grad():
        for episode in results:
            images = render_two_rooms(episode.states, dynamics, model.encoder.pixels)
            trajectories.append((encoder(images), episode.actions))
    longest = max(len(e.actions) for e in results)
    horizons = tuple(k for k in (1, 5, 10) if k <= longest)
    return model_error_report(model.predictor, trajectories, horizons=horizons)


def _draw(
    path: Path,
    env_name: str,
    results: list[Episode],
    resets: list[dict[str, Any]],
    encoder: Any,
    env: Env,
    content: dict[str, Any],
) -> None:
    settings = SETTINGS[env_name]
    title = f"{env_name}: {content['controller']} on the {content['model']} model"
    if env_name != "two-rooms":
        plot_planned_trajectories(
            results[0],
            path,
            settings.names,
            features=pendulum_features if env_name == "pendulum" else None,
            dt=settings.dt,
            title=f"{title}, return {results[0].total_reward:.1f}",
            angles=(0,) if env_name == "pendulum" else (),
        )
        return
    shown = results[:8]
    goals = torch.stack([r["goal"] for r in resets[: len(shown)]])
    planned = [e.plans[0][1] if e.plans else None for e in shown]
    if encoder is not None:  # plans are embeddings: read positions out with a linear probe
        probe = _position_probe(encoder, env)
        planned = [None if p is None else probe(p) for p in planned]
    rate = content.get("success_rate", 0.0)
    plot_two_rooms_paths(
        shown, goals, path, _rooms(env), planned, title=f"{title}, success {rate:.0%}"
    )


def _rooms(env: Env) -> TwoRoomsDynamics:
    dynamics = env.dynamics()
    if not isinstance(dynamics, TwoRoomsDynamics):
        raise ValueError(f"{env.name} is not a two-rooms environment")
    return dynamics


def _position_probe(encoder: Any, env: Env) -> Any:
    """A least-squares linear map from embeddings back to positions (for drawing plans)."""
    positions = torch.rand(2000, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        embeddings = encoder(render_two_rooms(positions, _rooms(env), encoder.pixels))
    design = torch.cat((embeddings, torch.ones(len(embeddings), 1)), 1)
    weights = torch.linalg.lstsq(design, positions).solution

    def probe(e: Tensor) -> Tensor:
        return torch.cat((e, torch.ones(len(e), 1)), 1) @ weights

    return probe


# --- command line -------------------------------------------------------------------------

WORLD_EPILOG = """\
examples:
  eblearn world collect --env pendulum --steps 2000 --run-dir runs/pendulum
  eblearn world train --run-dir runs/pendulum --policy
  eblearn world plan --run-dir runs/pendulum --planner gradient --episodes 20
  eblearn world plan --run-dir runs/pendulum --planner cem
  eblearn world plan --run-dir runs/pendulum --planner policy
  eblearn world plan --env pendulum --model true --planner gradient
  eblearn world collect --env two-rooms --steps 20000 --run-dir runs/rooms
  eblearn world train --run-dir runs/rooms && eblearn world plan --run-dir runs/rooms --planner mppi
"""


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128,128, got {text!r}") from None


def add_world_parser(subparsers: Any) -> None:
    """Adds ``eblearn world collect|train|plan`` to the ``eblearn`` parser."""
    from eblearn.app.options import key_value as _key_value

    world = subparsers.add_parser(
        "world",
        help="world models: collect transitions, train a forward model, plan with it",
        description="Forward models, planning (gradient MPC, CEM, MPPI) and policy learning "
        "through the model, on Pendulum-v1, MountainCarContinuous-v0 and two-rooms (pixels).",
        epilog=WORLD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = world.add_subparsers(title="steps", metavar="STEP", required=True)

    collect_parser = steps.add_parser("collect", help="collect random transitions")
    collect_parser.add_argument("--env", required=True, help=f"one of {', '.join(SETTINGS)}")
    collect_parser.add_argument("--run-dir", required=True, metavar="DIR")
    collect_parser.add_argument("--steps", type=int, default=2000)
    collect_parser.add_argument("--episode-steps", type=int, help="steps before a reset")
    collect_parser.add_argument("--seed", type=int, default=0)
    collect_parser.add_argument("--overwrite", action="store_true")
    collect_parser.set_defaults(handler=_collect_command)

    train_parser = steps.add_parser("train", help="train the world model (and a policy)")
    train_parser.add_argument("--run-dir", required=True, metavar="DIR")
    train_parser.add_argument("--latent-dim", type=int, default=0, help="size of z (0: none)")
    train_parser.add_argument("--penalty", choices=PENALTIES, default="kl", help="R(z)")
    train_parser.add_argument("--beta", type=float, default=1.0, help="weight of R(z)")
    train_parser.add_argument("--latent-dropout", type=float, default=0.0)
    train_parser.add_argument("--hidden", type=_int_tuple, default=(128, 128), metavar="SIZES")
    train_parser.add_argument("--epochs", type=int, help="default: 60 (state), 5 (pixels)")
    train_parser.add_argument("--policy", action="store_true", help="also learn a = P(s)")
    train_parser.add_argument("--policy-iterations", type=int, default=600)
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.set_defaults(handler=_train_command)

    plan_parser = steps.add_parser("plan", help="run episodes with a planner or the policy")
    plan_parser.add_argument("--run-dir", metavar="DIR", help="world run folder")
    plan_parser.add_argument("--env", help=f"one of {', '.join(SETTINGS)} (from the run)")
    plan_parser.add_argument("--model", choices=("learned", "true"), default="learned")
    plan_parser.add_argument(
        "--planner",
        default="gradient",
        help=f"{', '.join(PLANNERS.names())} or policy (gradient)",
    )
    plan_parser.add_argument("--episodes", type=int, default=5)
    plan_parser.add_argument("--batch", type=int, help="episodes per batched call (all)")
    plan_parser.add_argument("--horizon", type=int)
    plan_parser.add_argument("--latent-mode", choices=LATENT_MODES, default="mean")
    plan_parser.add_argument("--warm-start-policy", action="store_true")
    plan_parser.add_argument(
        "--planner-arg",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="planner option (repeatable), e.g. iterations=8",
    )
    plan_parser.add_argument("--seed", type=int, default=0)
    plan_parser.set_defaults(handler=_plan_command)


def _gymnasium_errors(function: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(function(args))
        except ImportError as error:  # gymnasium missing: name the extra
            raise ValueError(str(error)) from None

    return run


@_gymnasium_errors
def _collect_command(args: argparse.Namespace) -> int:
    if args.env not in ENVIRONMENTS:
        ENVIRONMENTS.get(args.env)  # raises with the valid names
    data = collect_run(
        args.env, args.run_dir, args.steps, args.seed, args.episode_steps, args.overwrite
    )
    print(f"collected {len(data)} transitions in {int(data.episodes.max()) + 1} episode(s)")
    print(f"run folder: {args.run_dir}")
    return 0


@_gymnasium_errors
def _train_command(args: argparse.Namespace) -> int:
    summary = train_run(
        args.run_dir,
        latent_dim=args.latent_dim,
        penalty=args.penalty,
        beta=args.beta,
        latent_dropout=args.latent_dropout,
        hidden=args.hidden,
        epochs=args.epochs,
        policy=args.policy,
        policy_iterations=args.policy_iterations,
        seed=args.seed,
    )
    last = {k: round(v, 5) for k, v in summary["last_epoch"].items() if k != "epoch"}
    print(f"trained a {summary['model']} on {summary['transitions']} transitions: {last}")
    if "policy" in summary:
        print(f"policy cost per step after training: {summary['policy']['last']['cost']:.3f}")
    print(f"run folder: {args.run_dir}  ({summary['seconds']:.0f} s)")
    return 0


@_gymnasium_errors
def _plan_command(args: argparse.Namespace) -> int:
    summary = plan_run(
        run_dir=args.run_dir,
        env_name=args.env,
        planner=args.planner,
        model=args.model,
        episodes=args.episodes,
        batch=args.batch,
        horizon=args.horizon,
        latent_mode=args.latent_mode,
        warm_start_policy=args.warm_start_policy,
        planner_options=dict(args.planner_arg or []),
        seed=args.seed,
    )
    print(summary.table())
    print(f"\nwritten: {summary.json_path}, {summary.figure_path}")
    return 0
