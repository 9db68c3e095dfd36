"""Interruptions: SIGINT and SIGTERM become one exception, and a non-zero exit.

A scheduler that stops a job with SIGTERM, or a user pressing Ctrl-C, must see the job fail
(exit 143 or 130, the shell's ``128 + signal``) with a message saying how to continue, and
the last checkpoint must stay intact. Lightning catches ``KeyboardInterrupt`` and exits 1, and
turns SIGTERM into a quiet, successful stop; inside :func:`interruptible`, both signals raise
:class:`Interrupted` instead, which Lightning passes on after its own clean-up.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(BaseException):
    """The job was stopped by a signal.

    Derived from ``BaseException`` (as ``KeyboardInterrupt``) so that no ``except Exception``
    on the way up swallows it.

    Attributes:
        signum: The signal number (``signal.SIGINT`` or ``signal.SIGTERM``).
        exit_code: ``128 + signum``, what a shell reports for a process the signal ended.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        self.name = signal.Signals(signum).name
        self.hint = ""
        super().__init__(self.name)

    def message(self) -> str:
        """``interrupted (SIGTERM)``, then what was kept and how to continue, if anything."""
        return f"interrupted ({self.name})" + (f"; {self.hint}" if self.hint else "")


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def interruptible(hint: str = "") -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted`; handlers restored after.

    Args:
        hint: What was kept and how to continue (e.g. "resume with --resume"), attached to
            the :class:`Interrupted` that leaves the block and printed by the command line.

    Outside the main thread (where Python cannot set signal handlers) it only attaches hints.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for signum in previous:
            signal.signal(signum, _raise_interrupted)
    try:
        yield
    except Interrupted as stop:
        stop.hint = hint or stop.hint  # the outermost job knows best how to continue
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
