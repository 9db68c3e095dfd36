"""World tests use one intra-op thread: their tensors are small, and on a shared machine a
second thread mostly waits (a 30x slowdown was measured under load)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
