"""The processes a benchmark launches end with it.

Python's default for SIGTERM ends the process at once, without ``finally`` blocks: a benchmark
killed that way once left its ``eblearn train`` running orphaned, and the next benchmark shared
the 2 cores with it unnoticed for 10 minutes (BENCHMARKS.md, 2026-12-06). Under
:func:`exit_on_sigterm`, SIGTERM raises ``SystemExit`` instead, and both :func:`launch` and
:func:`subprocess.run` (which kills its child on any exception) then stop what they started.
One window is left: a SIGTERM that lands while :class:`subprocess.Popen` is still returning,
after the fork, orphans that child (microseconds on an idle machine).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

STOP_GRACE_S = 60
"""Seconds a stopped benchmark gives its ``eblearn train`` to save a checkpoint and exit."""


def launch(command: list[str], env: dict[str, str]) -> None:
    """Runs ``command`` in a new process and raises ``CalledProcessError`` if it fails.

    A benchmark stopped meanwhile (an exception here, ``SystemExit`` from
    :func:`exit_on_sigterm` included) stops the process too: SIGTERM, so that ``eblearn
    train`` saves its checkpoint, and SIGKILL after :data:`STOP_GRACE_S`.
    """
    with subprocess.Popen(command, env=env) as process:
        try:
            code = process.wait()
        except BaseException:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
    if code:
        raise subprocess.CalledProcessError(code, command)


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Turns SIGTERM into ``SystemExit(143)`` while the benchmark runs, so that ``finally``
    blocks, :func:`launch` and :func:`subprocess.run` clean up."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; there SIGTERM keeps its default
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
