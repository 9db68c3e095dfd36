"""The run folder: one naming scheme, claimed after validation, locked, deleting only its own.

Every command that writes results (``train``, ``eval``, ``lab``, ``bench``, ``world``) writes
them into a :class:`RunFolder`:

- **Named once**: ``runs/<kind>-<what>-<YYYYmmdd-HHMMSS>`` unless the user names it.
- **Checked before anything is touched**: :meth:`RunFolder.check` only reads the disk, so a
  command validates every option and the folder, and only then :meth:`~RunFolder.claim`\\ s it.
- **Locked while used**: the claim takes an exclusive ``flock`` on ``.eblearn.lock``; a second
  writer is refused with the holder's process id, host, command and start time. The kernel
  drops the lock when the process dies, even on ``kill -9``.
- **Deletes only what eblearn wrote**: every file is registered in ``.eblearn-manifest.json``
  before it is written; ``--overwrite`` deletes the registered files only, and a folder whose
  files eblearn did not write is refused, never emptied.
- **Leaves no debris**: temporaries of interrupted atomic writes (``.<name>.*.tmp``) are
  removed when the folder is claimed again.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import IO, Any

from eblearn._io import atomic_write_text, is_temporary_file, save_tensors, write_json, write_yaml

MANIFEST_FILE = ".eblearn-manifest.json"
LOCK_FILE = ".eblearn.lock"
OWN_FILES = (MANIFEST_FILE, LOCK_FILE)


class Mode(Enum):
    """How a command wants the folder.

    NEW: an absent or empty folder (or one whose eblearn run saved nothing worth keeping).
    RESUME: a folder holding this kind of run with its resumable state.
    OVERWRITE: replace the files eblearn wrote there (foreign files are never deleted).
    ADD: add files to an existing run of this kind (``eval``, ``world train``, ``world plan``).
    """

    NEW = "new"
    RESUME = "resume"
    OVERWRITE = "overwrite"
    ADD = "add"


class FolderInUseError(ValueError):
    """Another process holds the run folder's lock."""


def default_run_path(*parts: str, root: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<part>-<part>-...-<YYYYmmdd-HHMMSS>`` (the one naming scheme of eblearn).

    Example:
        >>> default_run_path("vicreg", "digits").parent.name
        'runs'
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = [p.replace(os.sep, "_").replace(":", "_") for p in parts if p]
    return Path(root) / "-".join([*names, stamp])


class RunFolder:
    """A folder of one eblearn run (see the module docstring).

    Args:
        path: The folder.
        kind: What kind of run it holds (``train``, ``lab``, ``bench``, ``world``): a folder of
            another kind is refused.
        precious: Files whose presence means trained work would be lost by starting anew
            (checkpoints, models); a folder without them may be reused by a plain rerun.
        resumable: The file ``--resume`` needs (``None``: the kind cannot be resumed).

    Example:
        >>> import tempfile
        >>> folder = RunFolder(Path(tempfile.mkdtemp()) / "run", kind="demo")
        >>> folder.check(Mode.NEW)
        >>> with folder.claimed(Mode.NEW):
        ...     _ = folder.write_json("results.json", {"accuracy": 0.9})
        >>> sorted(folder.written())
        ['results.json']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        kind: str,
        precious: Iterable[str] = (),
        resumable: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.precious = tuple(precious)
        self.resumable = resumable
        self._lock: IO[str] | None = None
        self._created_dir = False

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, kind={self.kind!r})"

    # --- reading only --------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        """The manifest (kind and files written), or ``None`` if eblearn never claimed it."""
        path = self.path / MANIFEST_FILE
        if not path.is_file():
            return None
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            raise ValueError(
                f"run folder {str(self.path)!r} has an unreadable {MANIFEST_FILE}; "
                "it was not written by this version of eblearn: choose another folder"
            ) from None
        if not isinstance(content, dict) or not isinstance(content.get("files"), list):
            raise ValueError(f"run folder {str(self.path)!r} has a malformed {MANIFEST_FILE}")
        return content

    def written(self) -> list[str]:
        """The files eblearn wrote here that still exist (relative names)."""
        manifest = self.manifest()
        names = manifest["files"] if manifest else []
        return [n for n in names if (self.path / n).exists()]

    def _foreign_entries(self) -> list[str]:
        """Entries of the folder that eblearn did not write (temporaries excepted)."""
        manifest = self.manifest()
        owned = set(manifest["files"] if manifest else []) | set(OWN_FILES)
        owned_dirs = {str(Path(n).parent) for n in owned} - {"."}
        foreign = []
        for entry in sorted(self.path.rglob("*")):
            name = str(entry.relative_to(self.path))
            if name in owned or is_temporary_file(entry):
                continue
            if entry.is_dir() and any(d == name or d.startswith(name + os.sep) for d in owned_dirs):
                continue
            foreign.append(name)
        return foreign

    def holder(self) -> str | None:
        """Who holds the lock (``None`` if nobody does). Reads only."""
        path = self.path / LOCK_FILE
        if not path.is_file():
            return None
        with path.open() as file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return _describe_holder(path.read_text())
            fcntl.flock(file, fcntl.LOCK_UN)
        return None

    def check(self, mode: Mode) -> None:
        """Checks that the folder may be used in ``mode``, touching nothing.

        Raises:
            ValueError: If the path is a file, cannot be written, is used by another process,
                holds another kind of run or files eblearn did not write, or lacks what
                ``mode`` needs; the message says what to do instead.
        """
        path = self.path
        if path.exists() and not path.is_dir():
            raise ValueError(f"run folder {str(path)!r} is a file, not a folder")
        _check_writable(path)
        if not path.exists():
            if mode in (Mode.RESUME, Mode.ADD):
                raise ValueError(self._missing_message(mode))
            return
        holder = self.holder()
        if holder is not None:
            raise FolderInUseError(
                f"run folder {str(path)!r} is in use by {holder}; wait for it to finish, "
                "or choose another folder"
            )
        manifest = self.manifest()
        if manifest is not None and manifest.get("kind") != self.kind:
            raise ValueError(
                f"run folder {str(path)!r} holds an eblearn {manifest.get('kind')!r} run, "
                f"not a {self.kind!r} run; choose another folder"
            )
        if mode is Mode.NEW:
            self._check_new(manifest)
        elif mode is Mode.OVERWRITE:
            if manifest is None and any(path.iterdir()):
                raise ValueError(
                    f"--overwrite refused: {str(path)!r} was not written by eblearn (no "
                    f"{MANIFEST_FILE}), so its files are not eblearn's to delete; "
                    "choose another folder"
                )
        elif mode is Mode.RESUME:
            if self.resumable is None or not (path / self.resumable).is_file():
                raise ValueError(self._missing_message(mode))
        elif manifest is None:  # ADD
            raise ValueError(self._missing_message(mode))

    def _check_new(self, manifest: dict[str, Any] | None) -> None:
        if manifest is None:
            if any(self.path.iterdir()):
                raise ValueError(
                    f"run folder {str(self.path)!r} is not empty and was not written by "
                    "eblearn; choose a new or empty folder"
                )
            return
        kept = [n for n in self.precious if (self.path / n).exists()]
        if kept:
            hint = " --resume to continue it," if self.resumable else ""
            raise ValueError(
                f"run folder {str(self.path)!r} already holds a run ({', '.join(kept)}); "
                f"pass{hint} --overwrite to replace it, or choose another folder"
            )

    def _missing_message(self, mode: Mode) -> str:
        if mode is Mode.RESUME:
            target = self.path / (self.resumable or "")
            return (
                f"nothing to resume: {str(target)!r} does not exist (a run saves it at the "
                "end of its first epoch); start the run without --resume"
            )
        return f"{str(self.path)!r} is not an eblearn {self.kind} run folder"

    # --- acting --------------------------------------------------------------------------

    @contextmanager
    def claimed(self, mode: Mode, command: str | None = None) -> Iterator[RunFolder]:
        """Claims the folder for the ``with`` block, then releases it (see :meth:`claim`)."""
        self.claim(mode, command)
        try:
            yield self
        finally:
            self.release()

    def claim(self, mode: Mode, command: str | None = None) -> None:
        """Creates (if needed) and locks the folder, then prepares it for ``mode``.

        The checks of :meth:`check` run again under the lock, so two processes racing for
        one folder cannot both pass. On ``OVERWRITE`` (and on ``NEW`` over a run that saved
        nothing worth keeping) the files eblearn wrote are deleted; foreign files never are.

        Raises:
            FolderInUseError: If another process holds the lock.
            ValueError: As :meth:`check`.
        """
        self.check(mode)
        self._created_dir = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        lock = (self.path / LOCK_FILE).open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = _describe_holder(lock.read())
            lock.close()
            raise FolderInUseError(
                f"run folder {str(self.path)!r} is in use by {holder}; wait for it to finish, "
                "or choose another folder"
            ) from None
        self._lock = lock
        try:
            self._check_under_lock(mode)
            lock.seek(0)
            lock.truncate()
            lock.write(json.dumps(_holder_record(command)))
            lock.flush()
            self._remove_temporaries()
            if mode in (Mode.OVERWRITE, Mode.NEW):
                self._delete_written()
            if self.manifest() is None:
                self._write_manifest([])
            if mode is Mode.RESUME:
                self._adopt_existing()
        except BaseException:
            self.release()
            raise

    def _check_under_lock(self, mode: Mode) -> None:
        """:meth:`check` again now that the lock is ours (our own lock file is no holder)."""
        saved, self._lock = self._lock, None
        try:
            path = self.path
            manifest = self.manifest()
            if manifest is not None and manifest.get("kind") != self.kind:
                raise ValueError(
                    f"run folder {str(path)!r} holds an eblearn {manifest.get('kind')!r} run"
                )
            if mode is Mode.NEW:
                if manifest is None:
                    others = [e for e in path.iterdir() if e.name not in OWN_FILES]
                    if others:
                        raise ValueError(
                            f"run folder {str(path)!r} is not empty and was not written by "
                            "eblearn; choose a new or empty folder"
                        )
                else:
                    self._check_new(manifest)
            elif mode is Mode.RESUME and not (path / (self.resumable or "")).is_file():
                raise ValueError(self._missing_message(mode))
        finally:
            self._lock = saved

    def release(self) -> None:
        """Releases the lock; removes the folder if the claim created it and nothing was written."""
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        if self._created_dir and not self.written():
            for name in OWN_FILES:
                (self.path / name).unlink(missing_ok=True)
            if not any(self.path.iterdir()):
                self.path.rmdir()

    def _require_claim(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"{self!r} must be claimed before files are written to it")

    def file(self, name: str) -> Path:
        """The path of ``name`` in the folder (its parent created), registered as eblearn's."""
        self._require_claim()
        manifest = self.manifest() or {"files": []}
        if name not in manifest["files"]:
            self._write_manifest([*manifest["files"], name])
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def register(self, path: str | os.PathLike[str]) -> Path:
        """Registers a file inside the folder as eblearn's, given its path (for files another
        library names, such as TensorBoard's event files); returns the path.

        Raises:
            ValueError: If ``path`` lies outside the folder.
        """
        try:
            name = Path(path).resolve().relative_to(self.path.resolve())
        except ValueError:
            raise ValueError(
                f"{str(path)!r} lies outside the run folder {str(self.path)!r}"
            ) from None
        return self.file(name.as_posix())

    def _write_manifest(self, files: list[str]) -> None:
        content = {"kind": self.kind, "written_by": "eblearn", "files": files}
        atomic_write_text(json.dumps(content, indent=2) + "\n", self.path / MANIFEST_FILE)

    def _adopt_existing(self) -> None:
        for name in self.precious:
            if (self.path / name).exists():
                self.file(name)

    def _remove_temporaries(self) -> None:
        for entry in self.path.rglob(".*.tmp"):
            if entry.is_file() and is_temporary_file(entry):
                entry.unlink()

    def _delete_written(self) -> None:
        for name in self.written():
            target = self.path / name
            if target.is_file():
                target.unlink()
            parent = target.parent
            while parent != self.path and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        self._write_manifest([])

    def remove(self, names: Iterable[str]) -> None:
        """Deletes the named files if eblearn wrote them (others are left alone)."""
        self._require_claim()
        written = set(self.written())
        manifest = self.manifest() or {"files": []}
        for name in names:
            if name in written:
                (self.path / name).unlink()
        self._write_manifest([n for n in manifest["files"] if (self.path / n).exists()])

    # --- writers -------------------------------------------------------------------------

    def write_json(self, name: str, content: Any) -> Path:
        """Writes ``content`` as JSON to ``name``, atomically; returns the path."""
        path = self.file(name)
        write_json(content, path)
        return path

    def write_yaml(self, name: str, content: Any) -> Path:
        """Writes ``content`` as YAML to ``name``, atomically; returns the path."""
        path = self.file(name)
        write_yaml(content, path)
        return path

    def save_tensors(self, name: str, content: dict[str, Any]) -> Path:
        """Writes tensors with ``torch.save`` to ``name``, atomically; returns the path."""
        path = self.file(name)
        save_tensors(content, path)
        return path


def _check_writable(path: Path) -> None:
    """Raises ``ValueError`` if ``path`` (or its nearest existing parent) cannot be written."""
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot create run folder {str(path)!r}: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"cannot write to {str(existing)!r} (permission denied); choose another run folder"
        )
    if path.exists() and any(path.iterdir()):
        for entry in path.rglob("*"):
            if entry.is_dir() and not os.access(entry, os.W_OK | os.X_OK):
                raise ValueError(f"cannot write to {str(entry)!r} (permission denied)")


def _holder_record(command: str | None) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or " ".join(["eblearn", *sys.argv[1:]]),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _describe_holder(text: str) -> str:
    try:
        record = json.loads(text)
        return (
            f"process {record['pid']} on {record['host']} ('{record['command']}', "
            f"since {record['since']})"
        )
    except (ValueError, KeyError, TypeError):
        return "another process"
