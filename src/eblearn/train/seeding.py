"""Seeds derived from (seed, epoch or step, rank): training replays exactly after a resume."""

from __future__ import annotations

import random

import numpy as np
import torch


def derived_seed(seed: int, counter: int, rank: int = 0) -> int:
    """A 32-bit seed for one epoch or step (``counter``) on one process.

    Distinct for distinct triples in practice: the multipliers are large primes.
    """
    return (seed * 1_000_003 + counter * 7_919 + rank * 104_729) % (2**32)


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and PyTorch's (every device's) generators."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - code we call may draw from the legacy global state
    torch.manual_seed(seed)
