"""Importing a script of ``benchmarks/`` in a test: the scripts import their siblings
(``_report``, ``_cifar10``, ...) by name, so the folder is on ``sys.path`` while they load."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextmanager
def benchmark_script(name: str) -> Iterator[ModuleType]:
    """``benchmarks/<name>.py`` as a module, with ``benchmarks/`` importable meanwhile."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def generated_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 32×32 color images of 4 classes told apart by their red level."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.integers(0, 60, (n, 32, 32, 3)).astype(np.uint8)
    images[..., 0] += (60 * labels).astype(np.uint8)[:, None, None]
    return images, labels


def write_generated_splits(folder: Path, train: int, test: int) -> None:
    """An ``npz:`` folder of generated images (:func:`generated_images`): train.npz, test.npz."""
    for split, n in (("train", train), ("test", test)):
        images, labels = generated_images(n, seed=len(split))
        np.savez(folder / f"{split}.npz", images=images, labels=labels)
