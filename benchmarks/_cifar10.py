"""CIFAR-10 from ../shared/data as eblearn's ``npz:`` folder, unpacked once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "cifar10.py"
OUT = REPO / "benchmarks" / "out" / "cifar10"


def cifar10_arrays() -> Path:
    """The folder with train.npz and test.npz, unpacked from the shared JPEGs if needed."""
    if not (OUT / "train.npz").is_file() or not (OUT / "test.npz").is_file():
        if not SHARED.is_file():
            raise SystemExit(f"CIFAR-10 is not at {SHARED}; see ../shared/data/README.md")
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(SHARED), str(OUT), "--arrays"], check=True)
    return OUT
