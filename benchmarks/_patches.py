"""CIFAR-10 patches for the latent-model benchmarks (sparse coding, LISTA, PCA/K-means/GMM)."""

from __future__ import annotations

import numpy as np
from _cifar10 import cifar10_arrays


def cifar_arrays(split: str) -> np.ndarray:
    """CIFAR-10 images ``(N, 32, 32, 3)`` uint8 of ``split``, unpacked once."""
    return np.load(cifar10_arrays() / f"{split}.npz")["images"]


def cifar_patches(
    n: int, split: str = "train", size: int = 8, seed: int = 0, normalize: bool = True
) -> np.ndarray:
    """``n`` random gray ``size × size`` patches as float64 rows ``(n, size²)`` in [0, 1].

    With ``normalize``, each patch has its mean removed (the DC component carries no
    structure), then all are divided by one global standard deviation, so a typical patch
    has ``||y||² ≈ size²``.
    """
    images = cifar_arrays(split)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(images), n)
    rows = rng.integers(0, 32 - size + 1, n)
    cols = rng.integers(0, 32 - size + 1, n)
    gray = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0  # (N, 32, 32)
    patches = np.stack(
        [gray[i, r : r + size, c : c + size] for i, r, c in zip(which, rows, cols)]
    ).reshape(n, size * size)
    if not normalize:
        return patches
    patches -= patches.mean(1, keepdims=True)
    return patches / patches.std()
