"""Training checkpoints: written atomically, loaded safely (see :mod:`eblearn._io`).

A checkpoint is a mapping with a ``state_dict``. Writing goes through a temporary file and a
rename, so a crash or a full disk leaves the previous checkpoint intact; loading uses
``torch.load(weights_only=True)``, so no pickled code runs, and every failure is a
:class:`CheckpointError` that names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from eblearn._io import UnreadableFileError, load_tensors, save_tensors


class CheckpointError(UnreadableFileError):
    """A checkpoint is missing, corrupted, truncated, unsafe or not an eblearn checkpoint."""


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Writes ``checkpoint`` atomically (a full disk keeps the previous file)."""
    save_tensors(checkpoint, path)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Loads a checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: If the file is missing, truncated, corrupted, holds objects a safe
            load refuses, or has no ``state_dict``.
    """
    try:
        checkpoint = load_tensors(path, map_location)
    except UnreadableFileError as error:
        raise CheckpointError(f"checkpoint {error}") from None
    if "state_dict" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {str(Path(path))!r} is not an eblearn checkpoint (no 'state_dict')"
        )
    return checkpoint
