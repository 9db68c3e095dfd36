"""Shared fixtures: small, fast settings so that the whole suite runs in minutes on 2 cores."""

from __future__ import annotations

import os
import tempfile
import warnings

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one thread each avoids OpenMP threads fighting over cores,
    # which slows the many small tensor operations of the tests by an order of magnitude.
    torch.set_num_threads(1)

# eblearn's caches (raw-pixel baselines, precision decisions) go to a folder of this test
# session, never to the user's ~/.cache; child processes inherit it.
os.environ.setdefault("EBLEARN_CACHE", tempfile.mkdtemp(prefix="eblearn-test-cache-"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
