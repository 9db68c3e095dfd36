"""Telling a lost peer from other failures, and saying which one was lost.

In data-parallel training every step ends in collectives (the gradient all-reduce, and the
all-gather of batch-wide losses): when one process dies, the others fail in their next
collective. gloo notices a killed peer at once (its TCP connection closes); a peer that hangs
is noticed when the collective's timeout (``--dist-timeout``, handed to the process group)
runs out. Either way the backend raises a ``RuntimeError`` (``DistBackendError`` in recent
torch) whose text names the transport, not the rank; :func:`lost_peer_message` recognizes it
and rewrites it as one sentence that names the lost rank where it can be known (with two
processes, the other one) and what to do next.
"""

from __future__ import annotations

import re

import torch.distributed as dist

COMMUNICATION_MARKS = (
    "gloo",
    "nccl",
    "connection closed",
    "connection reset",
    "broken pipe",
    "timed out",
    "timeout",
    "socket",
)
"""Lower-case phrases that mark a failed or timed-out collective in a backend's message."""
_PEER_ADDRESS = re.compile(r"\[([0-9A-Za-z.:\-]+)\]:(\d+)")


def is_communication_failure(error: BaseException) -> bool:
    """Whether ``error`` is a collective that failed or timed out (not a bug of the step).

    Example:
        >>> is_communication_failure(RuntimeError("Connection closed by peer [10.0.0.2]:41234"))
        True
        >>> is_communication_failure(ValueError("shapes (2, 3) and (4,) differ"))
        False
    """
    distributed_error = getattr(dist, "DistError", None)
    if distributed_error is not None and isinstance(error, distributed_error):
        return True
    if not isinstance(error, RuntimeError):
        return False
    text = str(error).lower()
    return any(mark in text for mark in COMMUNICATION_MARKS)


def lost_rank(rank: int, world_size: int) -> str:
    """Which process was lost, as far as ``rank`` can tell: with two processes, the other.

    Example:
        >>> lost_rank(0, 2), lost_rank(1, 4)
        ('rank 1', 'one of ranks 0, 2, 3')
    """
    others = [r for r in range(world_size) if r != rank]
    if len(others) == 1:
        return f"rank {others[0]}"
    return "one of ranks " + ", ".join(str(r) for r in others)


def lost_peer_message(
    error: BaseException, rank: int, world_size: int, timeout_s: float
) -> str | None:
    """The sentence a surviving rank prints, or ``None`` if ``error`` is not a lost peer.

    Args:
        error: What the training step raised.
        rank: This process's global rank.
        world_size: Processes in all.
        timeout_s: The collectives' timeout (``--dist-timeout``), in seconds.

    Example:
        >>> print(lost_peer_message(RuntimeError("Connection closed by peer [127.0.0.1]:5"),
        ...                         0, 2, 60.0))  # doctest: +NORMALIZE_WHITESPACE
        training stopped on rank 0 of 2: a peer process was lost (rank 1, at 127.0.0.1:5):
        it died or did not answer a collective within --dist-timeout 60 s (gloo/NCCL said:
        Connection closed by peer [127.0.0.1]:5)
    """
    if world_size < 2 or not is_communication_failure(error):
        return None
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    detail = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", detail)  # the C++ source position
    address = _PEER_ADDRESS.search(str(error))
    where = f", at {address.group(1)}:{address.group(2)}" if address else ""
    return (
        f"training stopped on rank {rank} of {world_size}: a peer process was lost "
        f"({lost_rank(rank, world_size)}{where}): it died or did not answer a collective "
        f"within --dist-timeout {timeout_s:g} s (gloo/NCCL said: {detail})"
    )
