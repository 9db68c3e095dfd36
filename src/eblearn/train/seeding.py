"""Seeds derived from (seed, epoch, rank): each epoch replays exactly after a resume."""

from __future__ import annotations

import random

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 32-bit seed for one epoch on one process; distinct for distinct triples in practice."""
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % (2**32)


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and PyTorch's (every device's) generators."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - code we call may draw from the legacy global state
    torch.manual_seed(seed)


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A 32-bit seed for one optimizer step on one process (see :func:`epoch_seed`)."""
    return (seed * 1_000_003 + step * 15_485_863 + rank * 104_729 + 1) % (2**32)
