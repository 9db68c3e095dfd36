"""Tiny training settings shared by the engine's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eblearn.data import DatasetSplits, load_dataset
from eblearn.train import TrainConfig

STEPS_PER_EPOCH = 6


def tiny_config(run_dir: Path, **overrides: object) -> TrainConfig:
    """VICReg with a 4-wide ConvNet: 6 steps of 64 images per epoch, 3 epochs."""
    values: dict[str, object] = {
        "epochs": 3,
        "batch_size": 64,
        "backbone_args": {"width": 4},
        "method_args": {"projector_dims": [32, 32]},
        "warmup_epochs": 1,
        "run_dir": str(run_dir),
        "progress_bar": False,
        "deterministic": True,
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def tiny_digits() -> DatasetSplits:
    """The first 400 training and 100 test digits."""
    digits = load_dataset("digits")
    return DatasetSplits(
        "digits",
        digits.train.subset(torch.arange(400)),
        digits.test.subset(torch.arange(100)),
    )


@pytest.fixture
def data() -> DatasetSplits:
    return tiny_digits()
