"""Which samples each training process reads in an epoch: a seeded permutation, sharded.

Every process draws the same permutation ``π`` of ``range(N)`` from ``(seed, epoch)``, keeps
its first ``S·W·B`` entries, where ``W`` is the number of processes (ranks), ``B`` the batch
per process and ``S = ⌊N / (W·B)⌋`` the steps of an epoch, and takes every ``W``-th of them
from position ``rank``:

    indices(rank) = π[rank], π[rank + W], π[rank + 2W], ...   (S·B of them)

so that, within an epoch, each kept sample goes to exactly one rank, every rank runs the same
``S`` steps (DDP's collectives never wait for a rank that ran out), and step ``s`` of the
``W`` ranks together covers ``π[s·W·B : (s+1)·W·B]``: the global batch of one process with
batch ``W·B``. The ``N mod (W·B)`` samples left over are dropped (``drop_last``), others in
each epoch since ``π`` changes. A DataLoader then cuts a rank's indices into batches of ``B``
and hands each batch to exactly one of its workers, so the ``W × workers`` readers together
see each kept sample once per epoch. With ``W = 1`` the order is the plain shuffled order of
one process, and an epoch's order depends only on ``(seed, epoch)``: a resumed run replays it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from eblearn.data.streaming import StreamedImages, stream_loader
from eblearn.train.seeding import derived_seed


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """``⌊N / (W·B)⌋``: the steps every rank takes in an epoch.

    Example:
        >>> steps_per_epoch(1797, 256, 2)
        3
    """
    return n // (batch_size * world_size)


class ShardedEpochSampler(Sampler[int]):
    """The indices one rank reads in an epoch (see the module's docstring for the rule).

    Args:
        n: Number of samples ``N``.
        seed: The run's seed; the epoch's permutation is drawn from ``(seed, epoch)``.
        batch_size: Batch per process ``B``.
        rank: This process's global rank, ``0 <= rank < world_size``.
        world_size: Number of processes ``W``.

    Raises:
        ValueError: On a rank outside ``[0, world_size)``, non-positive sizes, or fewer
            samples than one global batch (``N < W·B``: no step at all).

    Example:
        >>> ranks = [ShardedEpochSampler(10, 0, 2, rank, 2) for rank in (0, 1)]
        >>> [len(r) for r in ranks]
        [4, 4]
        >>> sorted(list(ranks[0]) + list(ranks[1])) == sorted(set(ranks[0]) | set(ranks[1]))
        True
    """

    def __init__(self, n: int, seed: int, batch_size: int, rank: int = 0, world_size: int = 1):
        if world_size < 1 or batch_size < 1:
            raise ValueError(
                f"world_size and batch_size must be >= 1, got {world_size} and {batch_size}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        if n < batch_size * world_size:
            raise ValueError(
                f"{n} samples are fewer than one global batch ({world_size} process(es) × "
                f"batch {batch_size}); lower the batch size"
            )
        self.n, self.seed, self.batch_size = n, seed, batch_size
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Chooses the epoch whose permutation :meth:`__iter__` yields (Lightning calls it)."""
        self.epoch = epoch

    def permutation(self) -> torch.Tensor:
        """``π``: the epoch's permutation of ``range(N)``, the same on every rank."""
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        return torch.randperm(self.n, generator=generator)

    def __iter__(self) -> Iterator[int]:
        kept = steps_per_epoch(self.n, self.batch_size, self.world_size) * self.batch_size
        own = self.permutation()[self.rank :: self.world_size][:kept]
        return iter(own.tolist())

    def __len__(self) -> int:
        return steps_per_epoch(self.n, self.batch_size, self.world_size) * self.batch_size


class IndexDataset(Dataset[int]):
    """The integers ``0 .. n-1``: batches of indices into images held on the device."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index


def epoch_loader(
    source: Tensor | StreamedImages,
    seed: int,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    *,
    epoch: int = 0,
    workers: int | None = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """The batches process ``rank`` of ``world_size`` trains on, from ``epoch`` on.

    Its sampler is a :class:`ShardedEpochSampler` (Lightning calls its
    ``set_epoch`` as each epoch starts): the ranks together, and each rank's ``workers``
    DataLoader processes among themselves, read every kept sample once per epoch. Images in
    memory yield batches of indices ``(B,)`` (the step gathers them on the device); a stream
    yields :class:`~eblearn.data.streaming.StreamBatch` decoded by the workers
    (``workers=None``: :func:`~eblearn.data.streaming.default_workers`).

    Raises:
        ValueError: As :class:`ShardedEpochSampler` (a rank out of range, fewer samples than
            one global batch), or on negative ``workers``.
    """
    sampler = ShardedEpochSampler(len(source), seed, batch_size, rank, world_size)
    sampler.set_epoch(epoch)
    if isinstance(source, StreamedImages):
        return stream_loader(source, sampler, batch_size, workers, pin_memory=pin_memory)
    workers = workers or 0
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0: read in the main process), got {workers}")
    return DataLoader(
        IndexDataset(len(source)),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
