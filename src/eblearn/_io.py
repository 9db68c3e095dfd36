"""Files written atomically and read safely: the one writer every eblearn file goes through.

A file is first written to a temporary file in the same folder (``.<name>.<random>.tmp``),
flushed to disk, then renamed over the old one: a crash at any moment leaves either the old or
the new file, never a truncated one. A full disk is reported as :class:`DiskFullError` and the
old file is kept. Tensor files are loaded with ``torch.load(weights_only=True)``: no pickled
code ever runs, and a file that holds objects beyond tensors and plain containers is refused.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

TEMPORARY_SUFFIX = ".tmp"


class DiskFullError(OSError):
    """The disk filled up while writing; the previous version of the file is intact."""


class UnreadableFileError(ValueError):
    """A file eblearn should read is missing, truncated, corrupted or unsafe to load."""


def temporary_name_of(path: Path) -> str:
    """The prefix of the temporary files :func:`atomic_write_bytes` makes for ``path``."""
    return f".{path.name}."


def is_temporary_file(path: Path) -> bool:
    """Whether ``path`` is a temporary left by an interrupted :func:`atomic_write_bytes`."""
    return path.name.startswith(".") and path.name.endswith(TEMPORARY_SUFFIX)


def atomic_write_bytes(data: bytes, path: str | os.PathLike[str]) -> None:
    """Writes ``data`` to ``path`` through a temporary file, ``fsync`` and ``os.replace``.

    Raises:
        DiskFullError: If the disk is full (``ENOSPC``); ``path`` keeps its old content.
        OSError: On other I/O failures; ``path`` keeps its old content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=temporary_name_of(path), suffix=TEMPORARY_SUFFIX, dir=path.parent
    )
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600 files; a run's files are for all to read
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                errno.ENOSPC,
                f"the disk is full: could not write {str(path)!r} "
                f"({len(data) / 2**20:.1f} MiB); its previous version, if any, is kept. "
                "Free some space and resume the run with --resume",
            ) from None
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(text.encode("utf-8"), path)


def write_json(content: Any, path: str | os.PathLike[str]) -> None:
    """Writes ``content`` as indented JSON, atomically; NaN and Inf become ``null``.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.json"
        >>> write_json({"a": 1.5, "b": float("nan"), "c": (1, 2)}, path)
        >>> json.loads(path.read_text())
        {'a': 1.5, 'b': None, 'c': [1, 2]}
    """
    atomic_write_text(json.dumps(_json_safe(content), indent=2) + "\n", path)


def write_yaml(content: Any, path: str | os.PathLike[str]) -> None:
    """Writes ``content`` as block-style YAML (keys in insertion order), atomically."""
    atomic_write_text(yaml.safe_dump(content, sort_keys=False), path)


def _json_safe(value: Any) -> Any:
    """Tuples to lists, tensors and numpy scalars to numbers, NaN/Inf to ``None``."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return _json_safe(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def cache_dir(kind: str) -> Path | None:
    """The folder of eblearn's ``kind`` cache, or ``None`` if caching is switched off.

    ``$EBLEARN_CACHE`` names the cache root (``off`` switches every cache off); the default is
    ``$XDG_CACHE_HOME/eblearn``, else ``~/.cache/eblearn``. Nothing is created here.
    """
    root = os.environ.get("EBLEARN_CACHE")
    if root is not None and root.strip().lower() in ("off", "0", "no", "false", ""):
        return None
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "eblearn")
    return Path(root) / kind


def save_tensors(content: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` made atomic (see :func:`atomic_write_bytes`)."""
    buffer = io.BytesIO()
    torch.save(content, buffer)
    atomic_write_bytes(buffer.getvalue(), path)


def load_tensors(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Loads a file written by :func:`save_tensors` with ``weights_only=True``.

    Raises:
        UnreadableFileError: If the file is missing, truncated or corrupted, holds Python
            objects that a safe load will not unpickle, or is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(f"{str(path)!r} does not exist")
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        text = str(error)
        if "Weights only load failed" in text and "global" in text.lower():  # a class or function
            raise UnreadableFileError(
                f"{str(path)!r} holds Python objects beyond tensors and plain containers; "
                "eblearn will not unpickle them, since unpickling can run arbitrary code. "
                "Only load files that eblearn wrote"
            ) from None
        first_line = text.splitlines()[0] if text else ""
        raise UnreadableFileError(
            f"{str(path)!r} is corrupted or truncated and cannot be loaded "
            f"({type(error).__name__}: {first_line})"
        ) from None
    if not isinstance(content, dict):
        raise UnreadableFileError(
            f"{str(path)!r} holds a {type(content).__name__}, not a mapping written by eblearn"
        )
    return content
