"""Collected experience: transitions ``(s, a, s', r)`` tagged with their episode.

Transitions are stored in the order they were collected, so consecutive rows of one episode
form trajectories (used for multi-step training windows and model-error reports).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from eblearn._validate import check_finite
from eblearn.train.checkpoint import load_checkpoint, save_checkpoint
from eblearn.world.control import Controller
from eblearn.world.envs import Env

FIELDS = ("states", "actions", "next_states", "rewards", "episodes")


@dataclass
class Transitions:
    """N transitions.

    Attributes:
        states: ``(N, S)``.
        actions: ``(N, A)``.
        next_states: ``(N, S)``.
        rewards: ``(N,)``.
        episodes: Episode index of each transition ``(N,)`` (non-decreasing).

    Raises:
        ValueError: If the shapes disagree or values are not finite.

    Example:
        >>> data = Transitions(torch.zeros(4, 3), torch.zeros(4, 1), torch.ones(4, 3),
        ...                    torch.zeros(4), torch.tensor([0, 0, 1, 1]))
        >>> len(data), data.windows(2).tolist()
        (4, [0, 2])
    """

    states: Tensor
    actions: Tensor
    next_states: Tensor
    rewards: Tensor
    episodes: Tensor

    def __post_init__(self) -> None:
        count = self.states.shape[0]
        expected = {
            "states": 2,
            "actions": 2,
            "next_states": 2,
            "rewards": 1,
            "episodes": 1,
        }
        for name, ndim in expected.items():
            value = getattr(self, name)
            if value.ndim != ndim or value.shape[0] != count:
                raise ValueError(
                    f"transitions: {name} must have {ndim} dimension(s) and {count} rows, got "
                    f"shape {tuple(value.shape)}"
                )
            if name != "episodes":
                check_finite(value, f"transitions {name}")
        if self.next_states.shape != self.states.shape:
            raise ValueError(
                f"next_states {tuple(self.next_states.shape)} and states "
                f"{tuple(self.states.shape)} differ in shape"
            )

    def __len__(self) -> int:
        return self.states.shape[0]

    def windows(self, length: int) -> Tensor:
        """Start indices of the runs of ``length`` consecutive transitions of one episode."""
        if length < 1:
            raise ValueError(f"window length must be >= 1, got {length}")
        if len(self) < length:
            return torch.zeros(0, dtype=torch.long)
        starts = torch.arange(len(self) - length + 1)
        same = self.episodes[starts] == self.episodes[starts + length - 1]
        return starts[same]

    def cat(self, other: Transitions) -> Transitions:
        """Both sets, ``other``'s episodes renumbered after ours."""
        offset = int(self.episodes.max()) + 1 if len(self) else 0
        return Transitions(
            torch.cat((self.states, other.states)),
            torch.cat((self.actions, other.actions)),
            torch.cat((self.next_states, other.next_states)),
            torch.cat((self.rewards, other.rewards)),
            torch.cat((self.episodes, other.episodes + offset)),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the transitions (atomically) with ``torch.save``; returns the path."""
        tensors = {f: getattr(self, f) for f in FIELDS}
        save_checkpoint({"kind": "transitions", "state_dict": tensors}, path)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Transitions:
        """Reads transitions written by :meth:`save`.

        Raises:
            ValueError: If the file is missing, corrupted or holds something else.
        """
        content = load_checkpoint(path)
        if content.get("kind") != "transitions":
            raise ValueError(f"{str(path)!r} does not hold transitions")
        return cls(**{f: content["state_dict"][f] for f in FIELDS})


class RandomController:
    """Uniform random actions in the box, each held for ``repeat`` steps (exploration).

    Example:
        >>> controller = RandomController(torch.tensor([-1.0]), torch.tensor([1.0]))
        >>> controller.reset().act(torch.zeros(3, 2)).shape
        torch.Size([3, 1])
    """

    def __init__(self, action_low: Tensor, action_high: Tensor, repeat: int = 1, seed: int = 0):
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.action_low, self.action_high = action_low, action_high
        self.repeat, self.seed = repeat, seed
        self.generator_ = torch.Generator().manual_seed(seed)
        self.last_action_: Tensor | None = None
        self.count_ = 0

    def reset(self) -> RandomController:
        self.last_action_, self.count_ = None, 0
        return self

    def act(self, observations: Tensor) -> Tensor:
        batch = observations.shape[0]
        if self.last_action_ is None or self.count_ % self.repeat == 0:
            u = torch.rand((batch, self.action_low.shape[0]), generator=self.generator_)
            self.last_action_ = self.action_low + (self.action_high - self.action_low) * u
        self.count_ += 1
        return self.last_action_


def collect(
    env: Env,
    steps: int,
    controller: Controller | None = None,
    seed: int = 0,
    episode_steps: int | None = None,
) -> Transitions:
    """Collects ``steps`` transitions of ``env`` (on its low-dimensional state).

    Args:
        env: The environment.
        steps: Number of transitions.
        controller: Acts on observations ``(1, ...)``; uniform random actions if ``None``.
        seed: Seeds the resets (episode ``e`` resets with ``seed + e``) and the random actions.
        episode_steps: Length of an episode (default: the environment's limit).

    Returns:
        The transitions, episodes numbered from 0.

    Raises:
        ValueError: If ``steps`` or ``episode_steps`` is below 1.
    """
    if steps < 1 or (episode_steps is not None and episode_steps < 1):
        raise ValueError(f"steps and episode_steps must be >= 1, got {steps}, {episode_steps}")
    if controller is None:
        controller = RandomController(env.action_low, env.action_high, seed=seed)
    limit = episode_steps or env.max_steps
    rows: dict[str, list[Tensor | float | int]] = {f: [] for f in FIELDS}
    episode, observation, taken = 0, None, 0
    while len(rows["states"]) < steps:
        if observation is None or taken >= limit:
            if observation is not None:
                episode += 1
            observation = env.reset(seed=seed + episode)
            controller.reset()
            taken = 0
        state = env.state
        with torch.no_grad():
            action = controller.act(observation[None])[0]
        outcome = env.step(action)
        values: tuple[Tensor | float | int, ...] = (
            state,
            action.float(),
            env.state,
            outcome.reward,
            episode,
        )
        for name, value in zip(FIELDS, values):
            rows[name].append(value)
        observation, taken = outcome.observation, taken + 1
        if outcome.terminated or outcome.truncated:
            taken = limit
    return Transitions(
        torch.stack(rows["states"]),  # type: ignore[arg-type]
        torch.stack(rows["actions"]),  # type: ignore[arg-type]
        torch.stack(rows["next_states"]),  # type: ignore[arg-type]
        torch.tensor(rows["rewards"], dtype=torch.float32),
        torch.tensor(rows["episodes"], dtype=torch.long),
    )
