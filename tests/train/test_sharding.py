"""Sharding over ranks and DataLoader workers: each kept sample read once per epoch.

The first tests simulate the ranks by building each rank's sampler with its ``rank`` and
``world_size``; the last ones run two real gloo processes, each reading through the engine's
own loader (:func:`eblearn.train.sharding.epoch_loader`) with two DataLoader worker processes,
for images in memory and for files streamed from disk, over two epochs. The reference is
written here from the rule: the epoch's permutation, cut to whole global batches, dealt out
every ``W``-th position.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections import Counter

import numpy as np
import pytest
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader, Dataset, get_worker_info

from eblearn.data.streaming import StreamBatch, StreamedImages, stream_loader
from eblearn.train.seeding import derived_seed
from eblearn.train.sharding import ShardedEpochSampler, epoch_loader, steps_per_epoch
from tests.gloo import spawn_gloo


class IndexAndWorker(Dataset):
    """Yields ``(index, worker id)`` so a test can see which worker read what."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[int, int]:
        info = get_worker_info()
        return index, -1 if info is None else info.id


def reference_kept(n: int, seed: int, epoch: int, batch: int, world: int) -> list[int]:
    """The samples an epoch keeps: its permutation's first ``⌊N/(W·B)⌋·W·B`` entries."""
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch))
    permutation = torch.randperm(n, generator=generator).tolist()
    return permutation[: (n // (world * batch)) * world * batch]


def read_epoch(n: int, seed: int, epoch: int, batch: int, rank: int, world: int, workers: int):
    """The batches one rank's DataLoader yields: lists of (index, worker id)."""
    sampler = ShardedEpochSampler(n, seed, batch, rank, world)
    sampler.set_epoch(epoch)
    loader = DataLoader(IndexAndWorker(n), batch_size=batch, sampler=sampler, num_workers=workers)
    return [list(zip(i.tolist(), w.tolist(), strict=True)) for i, w in loader]


@pytest.mark.parametrize("n", [37, 48])  # with and without left-over samples
def test_two_ranks_times_two_workers_read_each_kept_sample_exactly_once(n):
    seed, batch, world, epoch = 3, 3, 2, 1
    per_rank = [read_epoch(n, seed, epoch, batch, rank, world, workers=2) for rank in (0, 1)]
    # every rank takes the same number of full steps: DDP's collectives never wait
    assert [len(batches) for batches in per_rank] == [steps_per_epoch(n, batch, world)] * 2
    assert all(len(b) == batch for batches in per_rank for b in batches)
    read = [i for batches in per_rank for b in batches for i, _ in b]
    counts = Counter(read)
    assert max(counts.values()) == 1  # no duplicates, across ranks and workers
    kept = reference_kept(n, seed, epoch, batch, world)
    assert sorted(read) == sorted(kept)  # exact coverage of the kept samples
    assert len(read) == n - n % (world * batch)  # drop_last: only the left-overs are missing
    for batches in per_rank:  # both workers of each rank did part of the reading
        assert {w for b in batches for _, w in b} == {0, 1}


def test_a_step_of_all_ranks_is_the_global_batch_of_one_process():
    n, seed, batch, world = 50, 0, 4, 2
    ranks = [list(ShardedEpochSampler(n, seed, batch, rank, world)) for rank in range(world)]
    single = list(ShardedEpochSampler(n, seed, batch * world))
    for step in range(steps_per_epoch(n, batch, world)):
        together = [i for own in ranks for i in own[step * batch : (step + 1) * batch]]
        assert sorted(together) == sorted(single[step * batch * world : (step + 1) * batch * world])


def test_one_process_reads_the_plain_shuffled_order_and_epochs_replay():
    n, seed, batch = 20, 5, 6
    sampler = ShardedEpochSampler(n, seed, batch)
    first = list(sampler)
    assert first == reference_kept(n, seed, 0, batch, 1)
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first  # a new order every epoch
    again = ShardedEpochSampler(n, seed, batch)  # a resumed run at epoch 1
    again.set_epoch(1)
    assert list(again) == second


def test_bad_shards_are_refused_with_the_values():
    with pytest.raises(ValueError, match=r"rank must lie in \[0, 2\), got 2"):
        ShardedEpochSampler(10, 0, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        ShardedEpochSampler(7, 0, 4, rank=0, world_size=2)
    with pytest.raises(ValueError, match="must be >= 1"):
        ShardedEpochSampler(7, 0, 0)


def write_pngs(folder, n: int) -> list:
    """``n`` 4×4 PNGs whose pixels all hold ``10 · index``."""
    files = []
    for k in range(n):  # the file's index is written in its pixels
        path = folder / f"{k:02d}.png"
        Image.fromarray(np.full((4, 4, 3), 10 * k, dtype=np.uint8)).save(path)
        files.append(path)
    return files


def test_streamed_files_over_two_ranks_times_two_workers(tmp_path):
    n, batch, world = 14, 3, 2
    stream = StreamedImages(write_pngs(tmp_path, n), 4)
    read = []
    for rank in range(world):
        sampler = ShardedEpochSampler(n, 7, batch, rank, world)
        for streamed in stream_loader(stream, sampler, batch, workers=2):
            assert streamed.images.shape == (batch, 3, 4, 4)
            assert streamed.images.dtype == torch.uint8
            # the pixels are those of the file each index names
            assert (streamed.images[:, 0, 0, 0] == 10 * streamed.indices).all()
            read += streamed.indices.tolist()
    assert len(read) == len(set(read)) == n - n % (world * batch)
    assert sorted(read) == sorted(reference_kept(n, 7, 0, batch, world))


SEED, BATCH, WORKERS, EPOCHS = 11, 3, 2, 2
N_MEMORY, N_FILES = 24, 12
"""4 steps of 2 ranks × 3 images in memory; 2 steps of 2 ranks × 3 files (each worker of
each rank decodes one batch): every sample is kept, so each must be read exactly once."""


def read_two_epochs(loader: DataLoader) -> list[list[list[int]]]:
    """Per epoch, the batches of indices ``loader`` yields (a stream's pixels checked)."""
    assert loader.num_workers == WORKERS
    epochs = []
    for epoch in range(EPOCHS):
        loader.sampler.set_epoch(epoch)  # what Lightning does as each epoch starts
        batches = []
        for batch in loader:
            if isinstance(batch, StreamBatch):  # each decoded image is its file's
                assert (batch.images[:, 0, 0, 0] == 10 * batch.indices).all()
                batch = batch.indices
            batches.append(batch.tolist())
        epochs.append(batches)
    return epochs


def rank_reads(rank: int, world: int, files: list) -> dict[str, list[list[list[int]]]]:
    """What this gloo rank's engine loaders yield over two epochs: images in memory and
    ``files`` streamed."""
    assert (dist.get_rank(), dist.get_world_size()) == (rank, world)  # real ranks
    # A rank that torchrun or Lightning starts is a fresh interpreter, whose DataLoader forks
    # its workers on Linux; mp.spawn's children inherit "spawn", which re-imports torch per worker.
    if sys.platform == "linux":
        multiprocessing.set_start_method("fork", force=True)
    memory = torch.zeros(N_MEMORY, 1, 2, 2, dtype=torch.uint8)
    stream = StreamedImages(files, 4)
    return {
        kind: read_two_epochs(epoch_loader(source, SEED, BATCH, rank, world, workers=WORKERS))
        for kind, source in (("memory", memory), ("stream", stream))
    }


def check_two_epochs(per_rank: list[list[list[list[int]]]], n: int) -> None:
    """Each epoch: every sample read once over ranks and workers, in whole equal steps, the
    steps of the ranks together being the global batches of the epoch's permutation."""
    world = len(per_rank)
    steps = n // (world * BATCH)
    orders = []
    for epoch in range(EPOCHS):
        read = [batches[epoch] for batches in per_rank]  # per rank: its batches
        assert [len(batches) for batches in read] == [steps] * world
        assert all(len(b) == BATCH for batches in read for b in batches)
        flat = [i for batches in read for b in batches for i in b]
        assert sorted(flat) == list(range(n))  # each sample exactly once: n divides evenly
        permutation = reference_kept(n, SEED, epoch, BATCH, world)
        for step in range(steps):  # step s of all ranks = the s-th global batch
            together = [i for batches in read for i in batches[step]]
            global_batch = permutation[step * world * BATCH : (step + 1) * world * BATCH]
            assert sorted(together) == sorted(global_batch)
        orders.append([[i for b in batches for i in b] for batches in read])
    assert orders[0] != orders[1]  # a new order every epoch
    for rank in range(world):
        assert orders[0][rank] != orders[1][rank]


def test_two_gloo_ranks_times_two_workers_read_each_sample_once_per_epoch(tmp_path):
    files = write_pngs(tmp_path, N_FILES)
    per_rank = spawn_gloo(rank_reads, 2, tmp_path, files)
    check_two_epochs([reads["memory"] for reads in per_rank], N_MEMORY)
    check_two_epochs([reads["stream"] for reads in per_rank], N_FILES)
