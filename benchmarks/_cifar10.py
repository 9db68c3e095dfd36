"""CIFAR-10 from ../shared/data as eblearn's ``npz:`` folder, unpacked once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "cifar10.py"
OUT = REPO / "benchmarks" / "out" / "cifar10"


def holds_splits(folder: Path) -> bool:
    """Whether ``folder`` is an ``npz:`` folder: train.npz and test.npz both in it."""
    return all((folder / f"{split}.npz").is_file() for split in ("train", "test"))


def cifar10_arrays() -> Path:
    """The folder with train.npz and test.npz, unpacked from the shared JPEGs if needed."""
    if not holds_splits(OUT):
        if not SHARED.is_file():
            raise SystemExit(f"CIFAR-10 is not at {SHARED}; see ../shared/data/README.md")
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(SHARED), str(OUT), "--arrays"], check=True)
    return OUT


HELDOUT = REPO / "benchmarks" / "out" / "cifar10-heldout"


def cifar10_heldout(heldout: int = 5000, seed: int = 0) -> Path:
    """A folder whose train.npz holds 45,000 CIFAR-10 training images and whose test.npz holds
    the other ``heldout`` (class-balanced, drawn with ``seed``): recipes are tuned on it, so
    the 10,000 test images are never looked at while choosing.
    """
    import numpy as np

    if (HELDOUT / "train.npz").is_file() and (HELDOUT / "test.npz").is_file():
        return HELDOUT
    with np.load(cifar10_arrays() / "train.npz") as arrays:
        images, labels, classes = arrays["images"], arrays["labels"], arrays["classes"]
    rng = np.random.default_rng(seed)
    per_class = heldout // len(classes)
    held = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(len(classes))]
    )
    keep = np.setdiff1d(np.arange(len(labels)), held)
    HELDOUT.mkdir(parents=True, exist_ok=True)
    np.savez(HELDOUT / "train.npz", images=images[keep], labels=labels[keep], classes=classes)
    np.savez(HELDOUT / "test.npz", images=images[held], labels=labels[held], classes=classes)
    return HELDOUT
