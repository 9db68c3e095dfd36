"""Every process of a finished run leaves the process group together (see
:mod:`eblearn.train.process_group` for the abort at exit this prevents)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from eblearn._distributed import world_size
from eblearn.train.process_group import leave_process_group
from tests.gloo import GROUP_TIMEOUT_S, free_port


def _leave(rank: int, port: int, folder: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group(
        "gloo", rank=rank, world_size=2, timeout=timedelta(seconds=GROUP_TIMEOUT_S)
    )
    joined = world_size()
    leave_process_group()
    left = (dist.is_initialized(), world_size())
    leave_process_group()  # without a group: nothing to do, no error
    torch.save({"joined": joined, "left": left}, Path(folder) / f"rank{rank}.pt")


def test_every_process_leaves_and_then_works_alone(tmp_path):
    mp.spawn(_leave, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        found = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert found == {"joined": 2, "left": (False, 1)}


def test_without_a_group_leaving_does_nothing():
    assert not dist.is_initialized()
    leave_process_group()
    assert not dist.is_initialized()
