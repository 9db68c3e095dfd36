"""Helpers for tests that run on several processes of one host: free ports, gloo groups.

:func:`spawn_gloo` runs a function in ``world_size`` fresh processes joined in one gloo
process group (CPU) and returns what each rank returned, so a test can compare the ranks
with each other and with a single-process reference computed in the test itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

GROUP_TIMEOUT_S = 60
"""A collective waiting longer than this fails the test instead of hanging it."""


PORTS_PER_WORKER = 2000
FIRST_PORT = 20000
"""Ports are drawn below Linux's ephemeral range (32768-60999): a port found free there
may be taken a moment later as the source port of any outgoing connection (gloo opens many),
which left a torchrun rendezvous waiting until its timeout."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, outside the ephemeral range, in
    a block of its own for each pytest-xdist worker (``gw0``, ``gw1``, ...)."""
    import random

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low = FIRST_PORT + index * PORTS_PER_WORKER
    candidates = random.Random().sample(range(low, low + PORTS_PER_WORKER), 50)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port among 50 tries in {low}..{low + PORTS_PER_WORKER - 1}")


def spawn_gloo(
    function: Callable[..., Any], world_size: int, folder: Path, *args: Any
) -> list[Any]:
    """``[function(0, world_size, *args), ..., function(world_size - 1, ...)]``, each computed in
    its own process of one gloo group. ``function`` must be importable (a module-level
    function of a test module); its results travel through ``torch.save`` files in
    ``folder``."""
    mp.spawn(
        _entry,
        args=(function, world_size, free_port(), str(folder), args),
        nprocs=world_size,
        join=True,
    )
    return [torch.load(folder / f"rank{rank}.pt", weights_only=False) for rank in range(world_size)]


def _entry(
    rank: int,
    function: Callable[..., Any],
    world_size: int,
    port: int,
    folder: str,
    args: tuple[Any, ...],
) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=GROUP_TIMEOUT_S)
    )
    try:
        result = function(rank, world_size, *args)
        dist.barrier()  # no rank closes its sockets while a peer still reads from them
    finally:
        dist.destroy_process_group()
    torch.save(result, Path(folder) / f"rank{rank}.pt")
