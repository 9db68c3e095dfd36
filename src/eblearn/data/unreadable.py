"""Image files a loader could not decode: skipped with one warning, or refused when strict.

A folder of photos gathered over years often holds a few broken files (a download cut short,
a zero-byte placeholder, a text file named ``.png``). ``imagefolder:`` and ``filelist:`` data
sets skip them by default and say so in one warning that counts them and names the first
:data:`SHOWN_FILES`; with ``strict`` (``--strict`` on the command line) the same list is a
``ValueError`` instead, so that a pipeline can insist on clean data.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

SHOWN_FILES = 5
"""Unreadable files named in a warning or an error; the others are only counted."""


class Unreadable(NamedTuple):
    """An image file that could not be used, and why in a few words."""

    path: Path
    reason: str


def _shown_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies below it, else as given."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def name_files(unreadable: Sequence[Unreadable], base: Path, shown: int = SHOWN_FILES) -> str:
    """The first ``shown`` files with their reasons, then "and N more".

    Example:
        >>> files = [Unreadable(Path("/p/a.png"), "empty file")] * 7
        >>> name_files(files, Path("/p"))  # doctest: +ELLIPSIS
        "'a.png' (empty file), ..., 'a.png' (empty file) and 2 more"
    """
    named = ", ".join(f"{_shown_path(u.path, base)!r} ({u.reason})" for u in unreadable[:shown])
    rest = len(unreadable) - shown
    return named + (f" and {rest} more" if rest > 0 else "")


def report_unreadable(
    name: str,
    unreadable: Sequence[Unreadable],
    total: int,
    base: Path,
    strict: bool,
    stacklevel: int = 1,
) -> None:
    """Warns once about the skipped files, or refuses them when ``strict``.

    Args:
        name: The data set spec (``imagefolder:PATH``), which the message starts with.
        unreadable: The files that could not be decoded; nothing happens when empty.
        total: How many image files the data set has, readable or not.
        base: Folder the named paths are shown relative to.
        strict: Raise instead of warning.
        stacklevel: The frame the warning points at, counted from the caller (1) outwards.

    Raises:
        ValueError: When ``strict`` and some file is unreadable, naming the files.
    """
    if not unreadable:
        return
    count = f"{len(unreadable)} of {total} image files"
    listed = name_files(unreadable, base)
    if strict:
        raise ValueError(
            f"{name}: {count} cannot be read: {listed}; strict mode (--strict) refuses "
            "unreadable files: replace or delete them, or leave out --strict to skip them "
            "with a warning"
        )
    warnings.warn(
        f"{name}: skipped {count} that cannot be read: {listed}; pass --strict to refuse "
        "them instead",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
