"""Checkpoints that are written atomically and load safely.

A checkpoint is first written to a temporary file in the same folder, flushed to disk, then
renamed over the old one: a crash at any moment leaves either the old or the new checkpoint,
never a truncated file. Loading uses ``torch.load(weights_only=True)`` (no pickled code runs)
and turns a corrupted or truncated file into a :class:`CheckpointError` that names it.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, truncated or not an eblearn checkpoint."""


def atomic_write_bytes(data: bytes, path: str | os.PathLike[str]) -> None:
    """Writes ``data`` to ``path`` through a temporary file, ``fsync`` and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600 files; a run's files are for all to read
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` made atomic (see :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write_bytes(buffer.getvalue(), path)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Loads a checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: If the file is missing, truncated, corrupted, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        if "Weights only load failed" in str(error) and "Unsupported global" in str(error):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds Python objects beyond tensors and plain "
                "containers, which a safe load (weights_only=True) refuses to run"
            ) from None
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupted or truncated and cannot be loaded "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "restore it from a backup or start the run again with --overwrite"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{str(path)!r} is not an eblearn checkpoint (no 'state_dict')")
    return checkpoint
