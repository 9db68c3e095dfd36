"""The training engine: configuration, optimizers, the Lightning module, checkpoints, runs."""

from eblearn.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from eblearn.train.config import TrainConfig, resolve
from eblearn.train.module import NonFiniteLossError, PretrainModule
from eblearn.train.optim import LARS, build_optimizer, warmup_cosine
from eblearn.train.pretrain import Pretrained, load_pretrained, pretrain

__all__ = [
    "LARS",
    "CheckpointError",
    "NonFiniteLossError",
    "PretrainModule",
    "Pretrained",
    "TrainConfig",
    "build_optimizer",
    "load_checkpoint",
    "load_pretrained",
    "pretrain",
    "resolve",
    "save_checkpoint",
    "warmup_cosine",
]
