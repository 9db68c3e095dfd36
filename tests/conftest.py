"""Shared fixtures: small, fast settings so that the whole suite runs in minutes on 2 cores."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one thread each avoids OpenMP threads fighting over cores,
    # which slows the many small tensor operations of the tests by an order of magnitude.
    torch.set_num_threads(1)

# eblearn's caches (raw-pixel baselines, precision decisions) go to a folder of this test
# session, never to the user's ~/.cache; child processes (xdist workers among them) inherit it.
# The process that made the folder removes it at exit: 128 of them had piled up in /tmp.
if "EBLEARN_CACHE" not in os.environ:
    _session_cache = tempfile.mkdtemp(prefix="eblearn-test-cache-")
    os.environ["EBLEARN_CACHE"] = _session_cache
    atexit.register(shutil.rmtree, _session_cache, ignore_errors=True)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
