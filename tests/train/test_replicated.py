"""Gathered stores left out of DDP's buffer broadcast: the same training, less traffic.

Two gloo processes train MoCo v2 (its queue gathers the keys of both) for three steps under
``DistributedDataParallel``, once with every buffer broadcast from rank 0 before each forward
(torch's and Lightning's default) and once with the queue left out
(:func:`~eblearn.train.replicated.skip_replicated_buffers`, then one
:func:`~eblearn.train.replicated.broadcast_replicated_buffers` as training starts). Rank 1's
queue starts different on purpose, so the one-off broadcast is what makes the stores equal.
The two runs must end in the same state, bit for bit, on both ranks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from eblearn.methods import MoCoV2
from eblearn.nn import ConvNet, FeatureQueue, MemoryBank
from eblearn.train.replicated import (
    broadcast_replicated_buffers,
    replicated_buffer_names,
    skip_replicated_buffers,
)
from tests.gloo import spawn_gloo

STEPS = 3


def train_moco(rank: int, skip: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    method = MoCoV2(ConvNet(1, width=4), projector_dims=(16, 8), queue_size=12, momentum=0.9)
    method.queue.gather_distributed = True  # as the engine builds it for several processes
    method.queue.features.add_(float(rank))  # rank 1 starts with another queue
    if skip:
        skip_replicated_buffers(method)
    ddp = DistributedDataParallel(method, broadcast_buffers=True)
    if skip:
        broadcast_replicated_buffers(method)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.5)
    for step in range(STEPS):
        generator = torch.Generator().manual_seed(100 * step + rank)  # each rank its batch
        views = [torch.randn(4, 1, 8, 8, generator=generator) for _ in range(2)]
        ddp(views)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
        method.on_step_end(step, STEPS)
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def rank_runs(rank: int, world_size: int) -> dict[str, dict[str, torch.Tensor]]:
    assert dist.get_world_size() == 2
    return {"broadcast": train_moco(rank, skip=False), "skipped": train_moco(rank, skip=True)}


def test_moco_trains_the_same_without_broadcasting_its_queue(tmp_path):
    ranks = spawn_gloo(rank_runs, 2, tmp_path)
    torch.manual_seed(0)
    initial = MoCoV2(ConvNet(1, width=4), projector_dims=(16, 8), queue_size=12).state_dict()
    for runs in ranks:
        broadcast, skipped = runs["broadcast"], runs["skipped"]
        assert broadcast.keys() == skipped.keys()
        for name, value in broadcast.items():
            assert torch.equal(skipped[name], value), name
    # the queue is the same on both processes without being sent, and it took the keys in
    first, second = (runs["skipped"] for runs in ranks)
    for name in ("queue.features", "queue.pointer", "queue.count"):
        assert torch.equal(first[name], second[name]), name
    assert int(first["queue.pointer"]) == STEPS * 2 * 4 % 12  # 3 steps × 8 gathered keys
    assert not torch.equal(first["queue.features"], initial["queue.features"])
    moved = max(float((first[k] - initial[k]).abs().max()) for k in initial if "projector" in k)
    assert moved > 1e-4  # trained: agreeing is not agreeing on the initial state


def test_only_gathering_stores_are_declared_replicated():
    model = nn.ModuleDict(
        {
            "moco": nn.ModuleDict({"queue": FeatureQueue(8, 2, gather_distributed=True)}),
            "swav": FeatureQueue(8, 2),  # each process its own queue: still broadcast
            "bank": MemoryBank(2, 5, gather_distributed=True),
            "own_bank": MemoryBank(2, 5),
            "norm": nn.BatchNorm1d(2),  # running statistics of each process's batch
        }
    )
    names = replicated_buffer_names(model)
    assert names == [
        "moco.queue.features",
        "moco.queue.pointer",
        "moco.queue.count",
        "bank.features",
        "bank.filled",
    ]
    assert set(names) <= dict(model.named_buffers()).keys()
    assert skip_replicated_buffers(model) == names
    assert sorted(model._ddp_params_and_buffers_to_ignore) == sorted(names)
    broadcast_replicated_buffers(model)  # one process: nothing to do, no process group needed
