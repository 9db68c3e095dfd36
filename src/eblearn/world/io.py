"""Saving and loading world models and policies: constructor arguments + weights, atomically.

A file holds ``{"kind", "config", "state_dict"}``; :func:`load_module` rebuilds the module from
its kind and configuration and loads the weights (``torch.load(weights_only=True)``: no pickled
code runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from eblearn._io import load_tensors, save_tensors
from eblearn.world.critic import Critic
from eblearn.world.models import ForwardModel
from eblearn.world.pixel import PixelWorldModel
from eblearn.world.policy import Policy

KINDS: dict[str, type[nn.Module]] = {
    "forward_model": ForwardModel,
    "policy": Policy,
    "pixel_world_model": PixelWorldModel,
    "critic": Critic,
}


def save_module(module: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Writes a :class:`ForwardModel`, :class:`Policy`, :class:`PixelWorldModel` or
    :class:`~eblearn.world.critic.Critic` to ``path``.

    Raises:
        ValueError: If the module is of another type.

    Example:
        >>> import tempfile, torch
        >>> model = ForwardModel(3, 1, hidden_dims=(8,))
        >>> path = save_module(model, tempfile.mkdtemp() + "/model.pt")
        >>> loaded = load_module(path)
        >>> torch.equal(loaded(torch.ones(3), torch.ones(1)), model(torch.ones(3), torch.ones(1)))
        True
    """
    for kind, cls in KINDS.items():
        if type(module) is cls:
            config: Any = module.config()  # type: ignore[operator]
            save_tensors({"kind": kind, "config": config, "state_dict": module.state_dict()}, path)
            return Path(path)
    raise ValueError(
        f"cannot save a {type(module).__name__}; savable kinds: "
        f"{', '.join(cls.__name__ for cls in KINDS.values())}"
    )


def load_module(path: str | os.PathLike[str], kind: str | None = None) -> nn.Module:
    """Rebuilds and loads a module written by :func:`save_module` (in eval mode).

    Args:
        path: The file.
        kind: If given, the kind expected (``"forward_model"``, ``"policy"``,
            ``"pixel_world_model"``, ``"critic"``).

    Raises:
        ValueError: If the file is missing, corrupted, or holds another kind.
    """
    content = load_tensors(path)
    found = content.get("kind")
    if found not in KINDS or (kind is not None and found != kind):
        expected = kind or " or ".join(KINDS)
        raise ValueError(f"{str(path)!r} holds {found!r}, not a {expected}")
    module = KINDS[found](**content["config"])
    module.load_state_dict(content["state_dict"])
    return module.eval()
