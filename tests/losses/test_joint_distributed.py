"""Two processes (gloo, CPU) with ``gather_distributed=True`` equal one process on the global
batch: the loss (averaged over processes, as data-parallel training sees it) and the
gradients (after DistributedDataParallel's averaging), for SimCLR, MoCo's queue and keys,
Barlow Twins, VICReg, SwAV's Sinkhorn and DeepCluster's memory bank.

The two processes are spawned once; rank 0 writes the largest differences to a file.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from eblearn.losses import (
    BarlowTwinsLoss,
    MoCoLoss,
    NTXentLoss,
    SwAVLoss,
    VICRegLoss,
    sinkhorn,
)
from eblearn.nn import FeatureQueue, MemoryBank
from tests.gloo import free_port

WORLD = 2
LOCAL_BATCH = 4
IN_DIM, DIM = 5, 6

# Each case maps (model, views, gather) to a scalar loss; views are global or one shard.
Case = Callable[[torch.nn.Module, list[torch.Tensor], bool], torch.Tensor]


def _prototype_scores(model, views):
    prototypes = torch.nn.functional.normalize(torch.linspace(-1, 1, 3 * DIM).view(3, DIM), dim=1)
    return [torch.nn.functional.normalize(model(v), dim=1) @ prototypes.T for v in views]


CASES: dict[str, Case] = {
    "simclr": lambda m, v, g: NTXentLoss(0.5, gather_distributed=g)(m(v[0]), m(v[1])),
    "simclr_with_negatives": lambda m, v, g: NTXentLoss(0.5, gather_distributed=g)(
        m(v[0]), m(v[1]), negatives=torch.linspace(-1, 1, 4 * DIM).view(4, DIM)
    ),
    "mocov3_keys": lambda m, v, g: MoCoLoss(0.2, batch_negatives=True, gather_distributed=g)(
        m(v[0]), m(v[1]).detach()
    ),
    "barlowtwins": lambda m, v, g: BarlowTwinsLoss(0.1, gather_distributed=g)(m(v[0]), m(v[1])),
    "vicreg": lambda m, v, g: VICRegLoss(gather_distributed=g)(m(v[0]), m(v[1])),
    "swav": lambda m, v, g: SwAVLoss(gather_distributed=g)(_prototype_scores(m, v)),
}


def _shard(x: torch.Tensor, rank: int) -> torch.Tensor:
    return x[rank * LOCAL_BATCH : (rank + 1) * LOCAL_BATCH]


def _worker(rank: int, port: int, path: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.manual_seed(0)  # the same global data and weights on every process
    torch.set_default_dtype(torch.float64)  # compare to 1e-5 whatever the losses' scale
    differences: dict[str, float] = {}
    for name, case in CASES.items():
        views = [torch.randn(WORLD * LOCAL_BATCH, IN_DIM) for _ in range(3)]
        weight = torch.randn(DIM, IN_DIM)
        single = torch.nn.Linear(IN_DIM, DIM, bias=False)
        single.weight.data.copy_(weight)
        reference = case(single, views, False)
        reference.backward()
        model = torch.nn.Linear(IN_DIM, DIM, bias=False)
        model.weight.data.copy_(weight)
        parallel = DistributedDataParallel(model)
        loss = case(parallel, [_shard(v, rank) for v in views], True)
        loss.backward()  # DDP averages the gradients over the processes
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        mean_loss /= WORLD
        differences[f"{name}/loss"] = float((mean_loss - reference).abs())
        differences[f"{name}/grad"] = float((model.weight.grad - single.weight.grad).abs().max())
        # DDP's reducer must go before its process group: one left to the interpreter's exit,
        # after destroy_process_group, once aborted a worker ("terminate called without an
        # active exception", CI 2026-12-06).
        del parallel

    # Sinkhorn: each process gets its rows of the global assignment.
    scores = torch.rand(WORLD * LOCAL_BATCH, 3) * 2 - 1
    local = sinkhorn(_shard(scores, rank), gather_distributed=True)
    differences["sinkhorn/rows"] = float((local - _shard(sinkhorn(scores), rank)).abs().max())
    # ... also in the log domain's range: a far sample at ε = 0.01 (exp(S/ε) would overflow).
    scores[1] *= 100
    local = sinkhorn(_shard(scores, rank), 0.01, gather_distributed=True)
    global_rows = _shard(sinkhorn(scores, 0.01), rank)
    differences["sinkhorn/far_sample_rows"] = float((local - global_rows).abs().max())

    # MoCo's queue: every process pushes its keys and all hold the global queue.
    keys = torch.randn(WORLD * LOCAL_BATCH, DIM)
    queue, global_queue = FeatureQueue(12, DIM, gather_distributed=True), FeatureQueue(12, DIM)
    for _ in range(2):
        queue.push(_shard(keys, rank))
        global_queue.push(keys)
        keys = keys.flip(0)
    differences["moco_queue/contents"] = float((queue.get() - global_queue.get()).abs().max())
    query = torch.randn(WORLD * LOCAL_BATCH, DIM)
    moco = MoCoLoss(0.2)
    local_loss = moco(_shard(query, rank), _shard(keys, rank), queue.get())
    dist.all_reduce(local_loss)
    differences["moco_queue/loss"] = float(
        (local_loss / WORLD - moco(query, keys, global_queue.get())).abs()
    )

    # DeepCluster's bank: updates from every process land in every process's bank.
    bank, global_bank = MemoryBank(DIM, gather_distributed=True), MemoryBank(DIM)
    indices = torch.randperm(20)[: WORLD * LOCAL_BATCH]
    bank.update(_shard(indices, rank), _shard(keys, rank))
    global_bank.update(indices, keys)
    differences["memory_bank/contents"] = float((bank.features - global_bank.features).abs().max())

    if rank == 0:
        with open(path, "w") as file:
            json.dump(differences, file)
    gc.collect()  # DDP wrappers held in reference cycles go before the group too
    dist.barrier()
    dist.destroy_process_group()


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    """One test (not one per case), so that the processes are spawned once under xdist."""
    path = tmp_path / "differences.json"
    context = mp.spawn(_worker, args=(free_port(), str(path)), nprocs=WORLD, join=False)
    deadline = time.monotonic() + 180
    while not context.join(timeout=2):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the distributed workers did not finish within 180 s")
    differences = json.loads(path.read_text())
    expected = [f"{name}/{what}" for name in CASES for what in ("loss", "grad")]
    expected += [
        "sinkhorn/rows",
        "sinkhorn/far_sample_rows",
        "moco_queue/contents",
        "moco_queue/loss",
        "memory_bank/contents",
    ]
    assert sorted(differences) == sorted(expected)
    wrong = {key: value for key, value in differences.items() if not value < 1e-5}
    assert not wrong, f"two processes differ from one on the global batch: {wrong}"
