"""Fixtures for every test the suite collects, the docstring examples of ``src/eblearn`` among
them (``tests/conftest.py`` reaches only the tests under ``tests/``)."""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path

import pytest

# torch's compile cache is meant to outlive a run (it spares the suite's --compile tests their
# C++ builds): pinned here to where torch puts it by default, before the fixture below moves
# the temporary folder, it stays shared by every test and every run.
_INDUCTOR_CACHE = Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_INDUCTOR_CACHE))


@pytest.fixture(autouse=True)
def _temporary_files_under_pytest(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Send what a test or a docstring example writes through :mod:`tempfile` (the examples'
    ``tempfile.mkdtemp()``), and what its child processes write under ``$TMPDIR`` (torch's
    elastic launcher among them), to a folder under pytest's own temporary root, which pytest
    prunes to its last three sessions. Before, every run of the suite left about 75 folders in
    the system's temporary folder for good."""
    folder = tmp_path_factory.mktemp("tempfile")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
