"""Row-parallel solves on CPU threads, as scikit-learn's ``n_jobs`` splits samples.

Batched per-sample solvers (sparse coding) spend much of their time in small operations and
batched LAPACK calls that one process cannot spread over cores; splitting the rows into
``jobs`` contiguous blocks, each solved in its own thread with one intra-op thread, uses the
cores the way scikit-learn's ``n_jobs`` does (torch operations release the GIL).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
from torch import Tensor

Result = TypeVar("Result")

PARALLEL_ROWS = 2048
"""With ``n_jobs=None``, a block has at least this many rows."""


def row_jobs(n_jobs: int | None, y: Tensor) -> int:
    """Blocks to split ``y``'s rows into: ``n_jobs`` (at most one row each), or with ``None``
    one per torch thread on CPU, each of at least ``PARALLEL_ROWS`` rows.

    Example:
        >>> row_jobs(None, torch.zeros(10, 3)), row_jobs(4, torch.zeros(3, 3))
        (1, 3)
    """
    if n_jobs is not None:
        return max(1, min(n_jobs, len(y)))
    if y.device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), len(y) // PARALLEL_ROWS))


def solve_row_blocks(
    solve: Callable[[Tensor, Tensor | None], Result],
    y: Tensor,
    init: Tensor | None,
    jobs: int,
) -> list[Result]:
    """``solve(rows, init_rows)`` on ``jobs`` contiguous row blocks of ``y`` (and ``init``),
    in ``jobs`` threads of one intra-op thread each; the results in row order.

    Example:
        >>> y = torch.arange(6.0).view(6, 1)
        >>> [int(r.sum()) for r in solve_row_blocks(lambda rows, _: rows, y, None, 2)]
        [3, 12]
    """
    blocks = y.tensor_split(jobs)
    starts = init.tensor_split(jobs) if init is not None else (None,) * jobs
    previous = torch.get_num_threads()

    def run(block: Tensor, start: Tensor | None) -> Result:
        torch.set_num_threads(1)  # per thread under OpenMP; restored below otherwise
        return solve(block, start)

    try:
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(run, blocks, starts))
    finally:
        torch.set_num_threads(previous)
