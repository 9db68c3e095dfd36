"""The jobs behind ``eblearn world collect|train|plan``: experience, models, planning runs.

Each job validates every option and the run folder while only reading the disk, then claims
the folder (a :class:`~eblearn.app.run_folder.RunFolder` of kind ``world``, locked, with a
manifest of the files eblearn wrote) and acts; SIGINT and SIGTERM stop it with
:class:`~eblearn.app.interrupt.Interrupted`. Everything that depends on the environment
(horizon, collection, planner settings, cost, starts, figures) comes from its
:class:`~eblearn.world.tasks.Task`. A world run folder holds, as the three steps write them:

    world.json             the environment and how the data were collected
    transitions.pt         collected transitions (states, actions, next states, rewards)
    model.pt               the forward model (state tasks) or the pixel world model (tasks
                           learned from images); policy.pt with --policy
    train.json             training settings and the last epoch's losses
    plan-<planner>-<model>.json
                           returns (success for goal tasks), ms per planning step, model
                           evaluations per step, the model-error report along executed paths
    plan-<planner>-<model>.png
                           planned against executed trajectories
    critic-<model>.pt      with ``plan --critic``: the cost-to-go fitted through that model,
                           reused by later ``--critic`` plans with the same settings; plans
                           made with it are plan-<planner>-critic-<model>.json and .png

``collect`` starts a folder (``--overwrite`` replaces what eblearn wrote there); ``train`` and
``plan`` add to it. ``train`` refuses to replace ``model.pt`` without ``--overwrite``, and when
it replaces it, removes what was made with the old model (``policy.pt``, ``train.json``, the
``plan-*-learned`` files). ``eblearn world plan --env pendulum --model true`` plans on the true
dynamics without a collected run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eblearn.app.interrupt import interruptible
from eblearn.app.options import (
    HelpFormatter,
    any_int,
    key_value,
    non_negative_float,
    non_negative_int,
    positive_int,
    positive_int_list,
    settings,
)
from eblearn.app.run_folder import Mode, RunFolder, default_run_path
from eblearn.world.control import Episode, PlannerController, run_episodes
from eblearn.world.costs import GoalCost
from eblearn.world.critic import Critic, fit_cost_to_go
from eblearn.world.envs import Env
from eblearn.world.fit import fit_forward_model, model_error_report
from eblearn.world.io import load_module, save_module
from eblearn.world.models import PENALTIES, ForwardModel
from eblearn.world.pixel import PixelWorldModel, fit_pixel_world_model
from eblearn.world.planner import LATENT_MODES
from eblearn.world.planners import PLANNERS, check_planner_options
from eblearn.world.policy import Policy, PolicyController, fit_policy
from eblearn.world.tasks import TASKS, Task
from eblearn.world.transitions import Transitions, collect

INFO_FILE, DATA_FILE, MODEL_FILE, POLICY_FILE = (
    "world.json",
    "transitions.pt",
    "model.pt",
    "policy.pt",
)
TRAIN_FILE = "train.json"
CRITIC_SWEEPS, CRITIC_DISCOUNT, CRITIC_STATES = 30, 0.97, 4000
"""``plan --critic``: default value-iteration sweeps, the discount, and the most collected
states the critic is fitted on."""
MODELS = ("learned", "true")
STATE_EPOCHS, PIXEL_EPOCHS = 60, 5
"""Default epochs of a forward model on states and of a pixel world model."""
POLICY_MIN_HORIZON = 30
PIXEL_WINDOW = 4
"""Consecutive transitions a pixel world model is trained to predict (``steps``)."""
OWN_OPTIONS = {
    "seed": "--seed",
    "latent_mode": "--latent-mode",
    "policy": "--warm-start-policy",
}
"""Planner keywords that ``plan`` sets from options of its own."""


def world_folder(path: str | os.PathLike[str]) -> RunFolder:
    """The run folder of a world run (its data, model and policy must not be lost)."""
    return RunFolder(path, kind="world", precious=(DATA_FILE, MODEL_FILE, POLICY_FILE))


def _check_count(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _task(env_name: str) -> Task:
    return TASKS.get(env_name)


def _read_info(folder: RunFolder) -> dict[str, Any]:
    """The collected run's ``world.json`` (reading only)."""
    path = folder.path / INFO_FILE
    if not path.is_file():
        raise ValueError(
            f"{str(folder.path)!r} is not a world run folder (no {INFO_FILE}); "
            "start with 'eblearn world collect --env NAME --run-dir DIR'"
        )
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ValueError(f"{str(path)!r} is unreadable; collect the run again") from None
    if not isinstance(info, dict) or "env" not in info:
        raise ValueError(f"{str(path)!r} does not name its environment; collect the run again")
    return info


def _learned_files(folder: RunFolder) -> list[str]:
    """What was made with the learned model: the policy, the summary, its critic and plans."""
    plans = [
        name
        for name in folder.written()
        if name.startswith(("plan-", "critic-")) and Path(name).stem.endswith("-learned")
    ]
    return [POLICY_FILE, TRAIN_FILE, *plans]


# --- collect --------------------------------------------------------------------------------


def collect_run(
    env_name: str,
    run_dir: str | os.PathLike[str],
    steps: int = 2000,
    seed: int = 0,
    episode_steps: int | None = None,
    overwrite: bool = False,
) -> Transitions:
    """Collects ``steps`` random transitions of ``env_name`` into a new run folder.

    Random actions are held for the task's :attr:`~eblearn.world.tasks.Task.repeat` steps;
    two-rooms stores positions, rendered to images when training.

    Args:
        env_name: A task of :data:`~eblearn.world.tasks.TASKS`.
        run_dir: The run folder (new or empty; with ``overwrite``, a world folder whose
            files eblearn wrote are replaced).
        steps: Transitions to collect.
        seed: Seed of the resets and of the random actions.
        episode_steps: Steps before a reset (default: the task's).
        overwrite: Replace the files eblearn wrote in ``run_dir``.

    Raises:
        ValueError: On an unknown environment, a count below 1, or a folder that already
            holds a run (without ``overwrite``) or files eblearn did not write; nothing is
            written then.
        ImportError: If the environment needs gymnasium and it is missing.
        Interrupted: On SIGINT or SIGTERM.
    """
    task = _task(env_name)
    _check_count(steps, "steps")
    if episode_steps is not None:
        _check_count(episode_steps, "episode_steps")
    folder = world_folder(run_dir)
    mode = Mode.OVERWRITE if overwrite else Mode.NEW
    folder.check(mode)
    env = task.env()
    repeat = task.repeat
    with folder.claimed(mode, command="eblearn world collect"), interruptible():
        controller = task.random_controller(env, seed)
        data = collect(env, steps, controller, seed, episode_steps or task.episode_steps)
        data.save(folder.file(DATA_FILE))
        folder.write_json(
            INFO_FILE,
            {
                "env": env_name,
                "steps": steps,
                "episodes": int(data.episodes.max()) + 1,
                "seed": seed,
                "controller": f"uniform random, each action held {repeat} step(s)",
            },
        )
    return data


# --- train ----------------------------------------------------------------------------------


@dataclass
class _TrainingPlan:
    """A validated ``world train``: objects built, nothing written yet."""

    folder: RunFolder
    task: Task
    data: Transitions
    build: Callable[[], ForwardModel | PixelWorldModel]  # after seeding: same weights per seed
    epochs: int
    env: Env | None  # for the policy's action box and cost


def _prepare_training(
    run_dir: str | os.PathLike[str],
    latent_dim: int,
    penalty: str,
    beta: float,
    latent_dropout: float,
    hidden: tuple[int, ...],
    epochs: int | None,
    policy: bool,
    policy_iterations: int,
    overwrite: bool,
) -> _TrainingPlan:
    """Validates ``world train`` completely, reading the disk only."""
    folder = world_folder(run_dir)
    if folder.path.exists() and not folder.path.is_dir():
        raise ValueError(f"{str(folder.path)!r} is a file, not a world run folder")
    info = _read_info(folder)
    task = _task(info["env"])
    folder.check(Mode.ADD)
    if epochs is not None:
        _check_count(epochs, "epochs")
    _check_count(policy_iterations, "policy_iterations")
    hidden = tuple(hidden)
    for size in hidden:
        _check_count(size, "every hidden size")
    if (folder.path / MODEL_FILE).exists() and not overwrite:
        raise ValueError(
            f"{str(folder.path / MODEL_FILE)!r} exists; pass --overwrite to replace it (its "
            f"{POLICY_FILE}, {TRAIN_FILE} and the plans made with it are removed), or collect "
            "into another folder"
        )
    data = Transitions.load(folder.path / DATA_FILE)
    if task.pixels:
        state_options = {
            "--latent-dim": latent_dim != 0,
            "--penalty": penalty != "kl",
            "--beta": beta != 1.0,
            "--latent-dropout": latent_dropout != 0.0,
            "--hidden": hidden != (128, 128),
            "--policy": policy,
        }
        given = [name for name, set_ in state_options.items() if set_]
        if given:
            raise ValueError(
                f"{', '.join(given)} apply to forward models on states; {task.name} trains a "
                "pixel world model (encoder + latent predictor), which takes --epochs and --seed"
            )
        if len(data.windows(PIXEL_WINDOW)) == 0:
            raise ValueError(
                f"{str(folder.path / DATA_FILE)!r} has no run of {PIXEL_WINDOW} consecutive "
                "transitions in one episode; collect longer episodes"
            )
        env = task.env()

        def build_pixel_model() -> PixelWorldModel:
            return PixelWorldModel(
                pixels=task.pixels,
                action_dim=env.action_dim,
                action_scale=float(env.action_high.max()),
            )

        build_pixel_model()  # checks the settings
        return _TrainingPlan(folder, task, data, build_pixel_model, epochs or PIXEL_EPOCHS, None)

    def build_forward_model() -> ForwardModel:
        return ForwardModel(
            data.states.shape[1],
            data.actions.shape[1],
            latent_dim=latent_dim,
            hidden_dims=hidden,
            penalty=penalty,
            beta=beta,
            latent_dropout=latent_dropout,
        )

    build_forward_model()  # its constructor checks the sizes and settings
    policy_env = task.env() if policy else None  # needs gymnasium: checked before acting
    return _TrainingPlan(
        folder, task, data, build_forward_model, epochs or STATE_EPOCHS, policy_env
    )


def train_run(
    run_dir: str | os.PathLike[str],
    latent_dim: int = 0,
    penalty: str = "kl",
    beta: float = 1.0,
    latent_dropout: float = 0.0,
    hidden: tuple[int, ...] = (128, 128),
    epochs: int | None = None,
    policy: bool = False,
    policy_iterations: int = 600,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Trains the run's world model (and a policy through it with ``policy=True``).

    State tasks get a :class:`ForwardModel` (deterministic, or with ``latent_dim`` latent
    variables); tasks learned from images get a :class:`PixelWorldModel` trained on rendered
    frames. A new ``model.pt`` replaces the old one only once it is trained; the old model's
    ``policy.pt``, ``train.json`` and learned plans are removed just before, so that nothing
    made with another model stays beside it.

    Args:
        run_dir: A folder written by :func:`collect_run`.
        latent_dim: Size L of z (0: a deterministic model).
        penalty: ``R(z)``: ``"kl"`` or ``"norm"``.
        beta: Weight of ``R(z)``.
        latent_dropout: Probability of replacing a training sample's z by the prior's.
        hidden: Hidden layer sizes.
        epochs: Passes over the data (default: 60 on states, 5 on pixels).
        policy: Also learn a policy ``a = P(s)`` through the model (state tasks).
        policy_iterations: Gradient steps of the policy.
        seed: Seed of the weights, the shuffling and the latent draws.
        overwrite: Replace an existing ``model.pt``.

    Returns:
        What ``train.json`` holds.

    Raises:
        ValueError: On a bad option, a folder that is not a collected world run, or an
            existing ``model.pt`` without ``overwrite``; nothing is written then.
        ImportError: If ``policy`` needs a gymnasium environment and gymnasium is missing.
        Interrupted: On SIGINT or SIGTERM (a model being trained does not replace the old one).
    """
    plan = _prepare_training(
        run_dir,
        latent_dim,
        penalty,
        beta,
        latent_dropout,
        hidden,
        epochs,
        policy,
        policy_iterations,
        overwrite,
    )
    folder, task, data = plan.folder, plan.task, plan.data
    with folder.claimed(Mode.ADD, command="eblearn world train"), interruptible():
        torch.manual_seed(seed)
        started = time.perf_counter()
        summary: dict[str, Any] = {
            "env": task.name,
            "transitions": len(data),
            "epochs": plan.epochs,
            "seed": seed,
        }
        model = plan.build()
        if isinstance(model, PixelWorldModel):
            history = fit_pixel_world_model(
                model, data, task.render, steps=PIXEL_WINDOW, epochs=plan.epochs, seed=seed
            )
        else:
            history = fit_forward_model(model, data, epochs=plan.epochs, batch_size=128, seed=seed)
        summary.update(model=type(model).__name__, config=model.config())
        summary["last_epoch"] = history[-1]
        folder.remove(_learned_files(folder))  # made with the model about to be replaced
        save_module(model, folder.file(MODEL_FILE))  # atomic: the old one stays until now
        if plan.env is not None and isinstance(model, ForwardModel):
            env = plan.env
            learned = Policy(model.state_dim, env.action_low, env.action_high)
            policy_history = fit_policy(
                learned,
                model,
                task.cost(),
                data.states,
                horizon=max(task.horizon, POLICY_MIN_HORIZON),
                iterations=policy_iterations,
                batch_size=128,
                lr=3e-3,
                seed=seed,
            )
            save_module(learned, folder.file(POLICY_FILE))
            summary["policy"] = {"iterations": policy_iterations, "last": policy_history[-1]}
        summary["seconds"] = round(time.perf_counter() - started, 1)
        folder.write_json(TRAIN_FILE, summary)
    return summary


# --- plan -----------------------------------------------------------------------------------


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
        if c.get("critic"):
            how = "fitted now" if c["critic"]["fitted_now"] else "reused"
            lines.append(
                f"  critic             {c['critic']['file']} ({how}, "
                f"{c['critic']['sweeps']} sweeps, γ = {c['critic']['discount']})"
            )
        if c.get("evaluations_per_step"):
            lines.append(f"  model evaluations  {c['evaluations_per_step']:.0f} per step")
        if c.get("model_error"):
            errors = ", ".join(f"{k} {v:.4g}" for k, v in c["model_error"].items())
            lines.append(f"  model error        {errors}")
        return "\n".join(lines)


@dataclass
class _PlanningRun:
    """A validated ``world plan``: controller and environments built, nothing written yet."""

    folder: RunFolder
    mode: Mode
    task: Task
    envs: list[Env]
    resets: list[dict[str, Any]]
    controller: Any
    encoder: Any
    learned: Any
    data: Transitions | None
    critic: _CriticPlan | None


@dataclass
class _CriticPlan:
    """``plan --critic``: the critic given to the planner, and whether to save it."""

    critic: Critic
    file: str
    settings: dict[str, Any]
    fitted: bool  # fitted by this run (saved once the folder is claimed), else loaded


def _critic_tasks() -> list[str]:
    """The tasks a goal-free critic applies to: those whose cost has no goal."""
    return [name for name in TASKS.names() if not isinstance(TASKS.get(name).cost(), GoalCost)]


def _check_critic(task: Task, planner: str, folder: RunFolder, sweeps: int) -> None:
    """Validates ``plan --critic`` (reading the disk only)."""
    _check_count(sweeps, "critic_sweeps")
    if planner == "policy":
        raise ValueError("--critic is the terminal cost of a planner; --planner policy takes none")
    if task.name not in _critic_tasks():
        raise ValueError(
            f"--critic learns a cost-to-go V(s) without a goal, which {task.name}'s goal cost "
            f"needs; it applies to {', '.join(_critic_tasks())} (benchmarks/bench_critic.py "
            "fits a goal-conditioned critic for two-rooms)"
        )
    if not (folder.path / DATA_FILE).is_file():
        raise ValueError(
            f"--critic is fitted on the collected states of a run ({DATA_FILE}), and "
            f"{str(folder.path)!r} has none; run 'eblearn world collect --env {task.name} "
            "--run-dir DIR' and plan with --run-dir DIR"
        )


def _critic_plan(
    folder: RunFolder, model: str, dynamics: Any, env: Env, task: Task, sweeps: int, seed: int
) -> _CriticPlan:
    """Loads ``critic-<model>.pt`` if it was fitted with these settings, else fits one."""
    name = f"critic-{model}.pt"
    settings = {"sweeps": sweeps, "discount": CRITIC_DISCOUNT, "seed": seed}
    record = folder.path / f"critic-{model}.json"
    if (folder.path / name).is_file() and record.is_file():
        try:
            same = json.loads(record.read_text()) == settings
        except (OSError, ValueError):
            same = False
        if same:
            critic = load_module(folder.path / name, "critic")
            return _CriticPlan(critic, name, settings, fitted=False)  # type: ignore[arg-type]
    data = Transitions.load(folder.path / DATA_FILE)
    generator = torch.Generator().manual_seed(seed)
    states = data.states[torch.randperm(len(data), generator=generator)[:CRITIC_STATES]]
    critic = fit_cost_to_go(
        dynamics,
        task.cost(),
        states,
        env.action_low,
        env.action_high,
        sweeps=sweeps,
        discount=CRITIC_DISCOUNT,
        seed=seed,
    )
    return _CriticPlan(critic.eval(), name, settings, fitted=True)


def _prepare_planning(
    run_dir: str | os.PathLike[str] | None,
    env_name: str | None,
    planner: str,
    model: str,
    episodes: int,
    batch: int | None,
    horizon: int | None,
    latent_mode: str,
    warm_start_policy: bool,
    planner_options: dict[str, Any],
    seed: int,
    critic: bool = False,
    critic_sweeps: int = CRITIC_SWEEPS,
) -> _PlanningRun:
    """Validates ``world plan`` completely, reading the disk only (then fits a new critic)."""
    _check_count(episodes, "episodes")
    if batch is not None:
        _check_count(batch, "batch")
    if horizon is not None:
        _check_count(horizon, "horizon")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; valid choices: {', '.join(MODELS)}")
    if planner != "policy" and planner not in PLANNERS:
        raise ValueError(
            f"unknown planner {planner!r}; valid choices: {', '.join(PLANNERS.names())}, policy"
        )
    if latent_mode not in LATENT_MODES:
        raise ValueError(
            f"unknown latent mode {latent_mode!r}; valid choices: {', '.join(LATENT_MODES)}"
        )
    taken = sorted(set(planner_options) & set(OWN_OPTIONS))
    if taken:
        raise ValueError(
            f"set {', '.join(OWN_OPTIONS[k] for k in taken)} instead of --planner-arg "
            f"{', '.join(taken)}"
        )
    if planner == "policy":
        if planner_options or warm_start_policy:
            raise ValueError("--planner policy takes no --planner-arg or --warm-start-policy")
    else:
        check_planner_options(planner, planner_options)
        if warm_start_policy and planner != "gradient":
            raise ValueError("--warm-start-policy works with --planner gradient")
    folder = world_folder(run_dir) if run_dir is not None else None
    info = _read_info(folder) if folder is not None and (folder.path / INFO_FILE).is_file() else {}
    env_name = env_name or info.get("env")
    if env_name is None:
        raise ValueError("name the environment with --env, or give a world run folder")
    if info and info["env"] != env_name:
        raise ValueError(f"the run folder holds {info['env']!r} data, not {env_name!r}")
    task = _task(env_name)
    if folder is None:
        folder = world_folder(default_run_path("world", env_name, planner))
    needs = ([MODEL_FILE] if model == "learned" else []) + (
        [POLICY_FILE] if planner == "policy" or warm_start_policy else []
    )
    for name in needs:
        if not (folder.path / name).is_file():
            what = "learned model" if name == MODEL_FILE else "policy"
            train = "'eblearn world train --run-dir DIR" + (
                " --policy'" if name == POLICY_FILE else "'"
            )
            raise ValueError(
                f"no {what} in {str(folder.path)!r} ({name}); run {train} first"
                + (", or plan with --model true" if name == MODEL_FILE else "")
            )
    if critic:
        _check_critic(task, planner, folder, critic_sweeps)
    mode = Mode.ADD if folder.path.is_dir() and folder.manifest() is not None else Mode.NEW
    folder.check(mode)
    learned = load_module(folder.path / MODEL_FILE) if model == "learned" else None
    policy = load_module(folder.path / POLICY_FILE, "policy") if POLICY_FILE in needs else None
    pixels = isinstance(learned, PixelWorldModel)
    envs = [task.env(pixels=pixels) for _ in range(episodes)]
    encoder = learned.encoder if isinstance(learned, PixelWorldModel) else None
    controller: Any
    critic_plan = None
    if planner == "policy":
        controller = PolicyController(policy)  # type: ignore[arg-type]
    else:
        dynamics: Any = (
            learned.predictor
            if isinstance(learned, PixelWorldModel)
            else learned
            if learned is not None
            else envs[0].dynamics()
        )
        options = dict(planner_options)
        if policy is not None:
            options["policy"] = policy
        if latent_mode != "mean":
            options["latent_mode"] = latent_mode
        if critic:  # last: everything else is validated, and fitting takes a while
            critic_plan = _critic_plan(folder, model, dynamics, envs[0], task, critic_sweeps, seed)
            options["terminal_cost"] = critic_plan.critic
        built = task.planner(planner, dynamics, envs[0], horizon, seed=seed, **options)
        controller = PlannerController(built, encoder)
    data = Transitions.load(folder.path / DATA_FILE) if encoder is not None else None
    resets = task.starts(episodes, seed)
    return _PlanningRun(
        folder, mode, task, envs, resets, controller, encoder, learned, data, critic_plan
    )


def plan_run(
    run_dir: str | os.PathLike[str] | None = None,
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
    critic: bool = False,
    critic_sweeps: int = CRITIC_SWEEPS,
) -> PlanSummary:
    """Runs ``episodes`` episodes with a planner (or the learned policy) and records them.

    Args:
        run_dir: A world run folder (needed for learned models and policies; for the true
            dynamics, a new folder is made when omitted).
        env_name: The environment (read from the run folder when omitted).
        planner: ``gradient``, ``cem``, ``mppi``, ``hybrid``, or ``policy`` (the learned policy
            alone).
        model: ``learned`` (the run's model) or ``true`` (the environment's dynamics).
        episodes: Episodes (the task's fixed starts: seeds ``seed, seed+1, ...``, or door
            pairs).
        batch: Episodes run together, one batched planner call per step (default: all).
        horizon: Planning horizon (default: the task's).
        latent_mode: ``mean``, ``sample`` or ``optimize`` for latent models.
        warm_start_policy: Warm-start gradient MPC from the learned policy's rollout.
        planner_options: Keyword arguments of the planner, over the task's settings.
        seed: Seed of the starts, the planner and the critic.
        critic: Add a learned cost-to-go ``V(s)`` as the planner's terminal cost
            (:func:`~eblearn.world.critic.fit_cost_to_go`: fitted value iteration through the
            planning model on up to 4,000 of the run's collected states, γ = 0.97), saved as
            ``critic-<model>.pt`` and reused while the settings stay the same. For tasks
            without a goal (pendulum, mountaincar).
        critic_sweeps: Value-iteration sweeps of a critic fitted here.

    Returns:
        The summary, also written to ``plan-<planner>-<model>.json`` (with a critic:
        ``plan-<planner>-critic-<model>.json``) with the figure beside it.

    Raises:
        ValueError: On a bad option (an unknown planner option names the valid ones), a
            missing model or policy, or an unusable folder; nothing is written then.
        ImportError: If the environment needs gymnasium and it is missing.
        Interrupted: On SIGINT or SIGTERM.
    """
    run = _prepare_planning(
        run_dir,
        env_name,
        planner,
        model,
        episodes,
        batch,
        horizon,
        latent_mode,
        warm_start_policy,
        dict(planner_options or {}),
        seed,
        critic,
        critic_sweeps,
    )
    task, folder, controller = run.task, run.folder, run.controller
    horizon = horizon or task.horizon
    batch = batch or episodes
    with folder.claimed(run.mode, command="eblearn world plan"), interruptible():
        results: list[Episode] = []
        for first in range(0, episodes, batch):
            results += run_episodes(
                run.envs[first : first + batch],
                controller,
                run.resets[first : first + batch],
                record_every=10,
            )
        content = _summarize(results, task.name, planner, model, horizon, controller, batch)
        if run.critic is not None:
            if run.critic.fitted:
                save_module(run.critic.critic, folder.file(run.critic.file))
                folder.write_json(
                    Path(run.critic.file).with_suffix(".json").name, run.critic.settings
                )
            content["critic"] = {
                "file": run.critic.file,
                "fitted_now": run.critic.fitted,
                **run.critic.settings,
            }
        decode = None
        if run.learned is not None and run.encoder is None:
            content["model_error"] = model_error_report(
                run.learned, [(e.states, e.actions) for e in results], horizons=(1, 5, 10)
            )
        elif run.learned is not None and run.data is not None:
            content["model_error"] = _embedding_error(run.learned, task, results)
            decode = _state_probe(run.encoder, task, run.data)
        stem = f"plan-{planner}-critic-{model}" if run.critic else f"plan-{planner}-{model}"
        json_path = folder.write_json(f"{stem}.json", content)
        title = f"{task.name}: {planner} on the {model} model" + (" + critic" if run.critic else "")
        if content.get("success_rate") is not None:
            title += f", success {content['success_rate']:.0%}"
        else:
            title += f", return {results[0].total_reward:.1f}"
        shown = results[:8]
        from eblearn.plot.world import draw_task_episodes

        figure_path = draw_task_episodes(
            task, shown, run.resets[: len(shown)], folder.file(f"{stem}.png"), title, decode
        )
    return PlanSummary(folder.path, content, json_path, figure_path)


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
    model: PixelWorldModel, task: Task, results: list[Episode]
) -> dict[str, float]:
    """The predictor's open-loop error in embedding space along the executed paths."""
    trajectories = []
    with torch.no_grad():
        for episode in results:
            trajectories.append((model.encoder(task.render(episode.states)), episode.actions))
    longest = max(len(e.actions) for e in results)
    horizons = tuple(k for k in (1, 5, 10) if k <= longest)
    return model_error_report(model.predictor, trajectories, horizons=horizons)


def _state_probe(encoder: Any, task: Task, data: Transitions, count: int = 2000) -> Any:
    """A least-squares linear map from embeddings back to states (to draw plans).

    Fitted on up to ``count`` collected states, drawn with a fixed seed.
    """
    generator = torch.Generator().manual_seed(0)
    states = data.states[torch.randperm(len(data), generator=generator)[:count]]
    with torch.no_grad():
        embeddings = encoder(task.render(states))
    design = torch.cat((embeddings, torch.ones(len(embeddings), 1)), 1)
    weights = torch.linalg.lstsq(design, states).solution

    def probe(e: Tensor) -> Tensor:
        return torch.cat((e, torch.ones(len(e), 1)), 1) @ weights

    return probe


# --- command line -------------------------------------------------------------------------

WORLD_EPILOG = """\
examples:
  eblearn world collect --env pendulum --steps 2000 --run-dir runs/pendulum
  eblearn world train --run-dir runs/pendulum --policy
  eblearn world plan --run-dir runs/pendulum --planner gradient --episodes 20
  eblearn world plan --run-dir runs/pendulum --planner cem --planner-arg population=500
  eblearn world plan --run-dir runs/pendulum --planner policy
  eblearn world plan --env pendulum --model true --planner gradient
  eblearn world plan --run-dir runs/pendulum --model true --planner cem --horizon 5 --critic
  eblearn world train --run-dir runs/pendulum --overwrite --hidden 256,256
  eblearn world collect --env two-rooms --steps 20000 --run-dir runs/rooms
  eblearn world train --run-dir runs/rooms && eblearn world plan --run-dir runs/rooms --planner mppi

SIGINT or SIGTERM stop a step with exit code 130 or 143; a model being trained does not
replace the saved one.
"""


def add_world_parser(subparsers: Any) -> None:
    """Adds ``eblearn world collect|train|plan`` to the ``eblearn`` parser."""
    environments = ", ".join(TASKS.names())
    unset = {"default": argparse.SUPPRESS}  # no "(default: None)" in --help; read as None
    world = subparsers.add_parser(
        "world",
        help="world models: collect transitions, train a forward model, plan with it",
        description="Forward models, planning (gradient MPC, CEM, MPPI) and policy learning "
        "through the model, on Pendulum-v1, MountainCarContinuous-v0 and two-rooms (pixels).",
        epilog=WORLD_EPILOG,
        formatter_class=HelpFormatter,
    )
    steps = world.add_subparsers(title="steps", metavar="STEP", required=True)

    collect_parser = steps.add_parser(
        "collect",
        help="collect random transitions into a new run folder",
        description="Collect uniform random transitions into a new world run folder.",
        formatter_class=HelpFormatter,
    )
    collect_parser.add_argument("--env", required=True, help=f"one of {environments}", **unset)
    collect_parser.add_argument(
        "--run-dir", required=True, metavar="DIR", help="run folder", **unset
    )
    collect_parser.add_argument(
        "--steps", type=positive_int, default=2000, help="transitions to collect"
    )
    collect_parser.add_argument(
        "--episode-steps",
        type=positive_int,
        help="steps before a reset (default: the environment's: pendulum 100, two-rooms 50, "
        "mountaincar its own limit)",
        **unset,
    )
    collect_parser.add_argument("--seed", type=any_int, default=0, help="seed of everything")
    collect_parser.add_argument(
        "--overwrite", action="store_true", help="replace the files eblearn wrote in --run-dir"
    )
    collect_parser.set_defaults(handler=_collect_command)

    train_parser = steps.add_parser(
        "train",
        help="train the world model (and a policy)",
        description="Train the run's world model: a forward model on states (pendulum, "
        "mountaincar) or a pixel world model (two-rooms); --policy also learns a = P(s).",
        formatter_class=HelpFormatter,
    )
    train_parser.add_argument(
        "--run-dir", required=True, metavar="DIR", help="collected run", **unset
    )
    train_parser.add_argument(
        "--latent-dim", type=non_negative_int, default=0, help="size of z (0: none)"
    )
    train_parser.add_argument("--penalty", choices=PENALTIES, default="kl", help="R(z)")
    train_parser.add_argument("--beta", type=non_negative_float, default=1.0, help="weight of R(z)")
    train_parser.add_argument(
        "--latent-dropout",
        type=non_negative_float,
        default=0.0,
        help="probability of replacing z by the prior's (at most 1)",
    )
    train_parser.add_argument(
        "--hidden",
        type=positive_int_list,
        default="128,128",
        metavar="SIZES",
        help="hidden layer sizes, comma-separated",
    )
    train_parser.add_argument(
        "--epochs",
        type=positive_int,
        help=f"passes over the data (default: {STATE_EPOCHS} on states, {PIXEL_EPOCHS} on pixels)",
        **unset,
    )
    train_parser.add_argument("--policy", action="store_true", help="also learn a = P(s)")
    train_parser.add_argument(
        "--policy-iterations", type=positive_int, default=600, help="gradient steps of P"
    )
    train_parser.add_argument("--seed", type=any_int, default=0, help="seed of everything")
    train_parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {MODEL_FILE} (removing {POLICY_FILE}, {TRAIN_FILE} and the plans made "
        "with the old model)",
    )
    train_parser.set_defaults(handler=_train_command)

    plan_parser = steps.add_parser(
        "plan",
        help="run episodes with a planner or the policy",
        description="Run episodes from fixed starts with a planner on the learned or the true "
        "model (or the learned policy alone); writes plan-<planner>-<model>.json and .png.",
        formatter_class=HelpFormatter,
    )
    plan_parser.add_argument(
        "--run-dir",
        metavar="DIR",
        help="world run folder (default for --model true: runs/world-<env>-<planner>-<time>)",
        **unset,
    )
    plan_parser.add_argument("--env", help=f"one of {environments} (default: the run's)", **unset)
    plan_parser.add_argument("--model", choices=MODELS, default="learned", help="plan through")
    plan_parser.add_argument(
        "--planner", default="gradient", help=f"{', '.join(PLANNERS.names())} or policy"
    )
    plan_parser.add_argument("--episodes", type=positive_int, default=5, help="episodes")
    plan_parser.add_argument(
        "--batch", type=positive_int, help="episodes per batched call (default: all)", **unset
    )
    plan_parser.add_argument(
        "--horizon",
        type=positive_int,
        help="planning horizon (default: the environment's: pendulum 20, mountaincar 60, "
        "two-rooms 20)",
        **unset,
    )
    plan_parser.add_argument(
        "--latent-mode", choices=LATENT_MODES, default="mean", help="z when planning"
    )
    plan_parser.add_argument(
        "--warm-start-policy", action="store_true", help="start gradient MPC from P's rollout"
    )
    plan_parser.add_argument(
        "--planner-arg",
        action="append",
        type=key_value,
        metavar="KEY=VALUE",
        help="planner option (repeatable), e.g. iterations=8 (default: the task's settings)",
        **unset,
    )
    plan_parser.add_argument(
        "--critic",
        action="store_true",
        help="add a learned cost-to-go V(s) as the planner's terminal cost, so short horizons "
        "plan like long ones: fitted by value iteration through the planning model on the "
        f"run's collected states (γ = {CRITIC_DISCOUNT}), saved as critic-<model>.pt and "
        "reused with the same settings; for pendulum and mountaincar (default: off)",
    )
    plan_parser.add_argument(
        "--critic-sweeps",
        type=positive_int,
        default=CRITIC_SWEEPS,
        help="value-iteration sweeps when --critic fits a critic",
    )
    plan_parser.add_argument(
        "--seed", type=any_int, default=0, help="seed of starts, planner and critic"
    )
    plan_parser.set_defaults(handler=_plan_command)


def _collect_command(args: argparse.Namespace) -> int:
    data = collect_run(
        args.env,
        args.run_dir,
        args.steps,
        args.seed,
        getattr(args, "episode_steps", None),
        args.overwrite,
    )
    print(f"collected {len(data)} transitions in {int(data.episodes.max()) + 1} episode(s)")
    print(f"run folder: {args.run_dir}")
    return 0


def _train_command(args: argparse.Namespace) -> int:
    summary = train_run(
        args.run_dir,
        latent_dim=args.latent_dim,
        penalty=args.penalty,
        beta=args.beta,
        latent_dropout=args.latent_dropout,
        hidden=args.hidden,
        epochs=getattr(args, "epochs", None),
        policy=args.policy,
        policy_iterations=args.policy_iterations,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    last = {k: round(v, 5) for k, v in summary["last_epoch"].items() if k != "epoch"}
    print(f"trained a {summary['model']} on {summary['transitions']} transitions: {last}")
    if "policy" in summary:
        print(f"policy cost per step after training: {summary['policy']['last']['cost']:.3f}")
    print(f"run folder: {args.run_dir}  ({summary['seconds']:.0f} s)")
    return 0


def _plan_command(args: argparse.Namespace) -> int:
    summary = plan_run(
        run_dir=getattr(args, "run_dir", None),
        env_name=getattr(args, "env", None),
        planner=args.planner,
        model=args.model,
        episodes=args.episodes,
        batch=getattr(args, "batch", None),
        horizon=getattr(args, "horizon", None),
        latent_mode=args.latent_mode,
        warm_start_policy=args.warm_start_policy,
        planner_options=settings(getattr(args, "planner_arg", None)),
        seed=args.seed,
        critic=args.critic,
        critic_sweeps=args.critic_sweeps,
    )
    print(summary.table())
    print(f"\nwritten: {summary.json_path}, {summary.figure_path}")
    return 0
