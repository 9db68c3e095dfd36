"""The training engine: configuration, optimizers, the Lightning module, checkpoints, runs.

The names that need Lightning (the module and the run functions) load on first use, so that
importing the configuration or the checkpoint files does not import Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eblearn.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from eblearn.train.config import RunConfig, TrainConfig, resolve
from eblearn.train.errors import NonFiniteLossError
from eblearn.train.optim import LARS, build_optimizer, warmup_cosine

if TYPE_CHECKING:  # the real types for type checkers; at run time see __getattr__
    from eblearn.train.module import PretrainModule
    from eblearn.train.runs import Pretrained, fit

_LAZY = {
    "PretrainModule": "eblearn.train.module",
    "Pretrained": "eblearn.train.runs",
    "fit": "eblearn.train.runs",
}

__all__ = [
    "LARS",
    "CheckpointError",
    "NonFiniteLossError",
    "PretrainModule",
    "Pretrained",
    "RunConfig",
    "TrainConfig",
    "build_optimizer",
    "fit",
    "load_checkpoint",
    "resolve",
    "save_checkpoint",
    "warmup_cosine",
]


def __getattr__(name: str) -> Any:
    """Loads the Lightning-backed names of ``__all__`` on first access (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'eblearn.train' has no attribute {name!r}")
