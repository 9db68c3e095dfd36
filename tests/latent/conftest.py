"""Data shared by the latent-model tests: scikit-learn's digits as float64 rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def digits() -> np.ndarray:
    """The 1,797 digits as ``(N, 64)`` float64 rows in [0, 1]."""
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64) / 16.0


@pytest.fixture(scope="session")
def digit_labels() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().target


@pytest.fixture
def digits_t(digits: np.ndarray) -> torch.Tensor:
    return torch.tensor(digits)
