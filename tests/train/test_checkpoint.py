import os

import pytest
import torch

from eblearn._io import atomic_write_bytes
from eblearn.train import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_with_weights_only(tmp_path):
    state = {"state_dict": {"w": torch.arange(4.0)}, "epoch": 3}
    save_checkpoint(state, tmp_path / "c.ckpt")
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)
    torch.testing.assert_close(loaded["state_dict"]["w"], torch.arange(4.0))
    assert load_checkpoint(tmp_path / "c.ckpt")["epoch"] == 3


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "c.ckpt"
    save_checkpoint({"state_dict": {}, "epoch": 1}, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(b"partial", path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]  # no temporary left behind


def test_truncated_and_corrupted_files_give_a_clear_error(tmp_path):
    path = tmp_path / "c.ckpt"
    save_checkpoint({"state_dict": {"w": torch.randn(100)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")
    save_checkpoint({"weights": 1}, path)
    with pytest.raises(CheckpointError, match="not an eblearn checkpoint"):
        load_checkpoint(path)


class Payload:
    """Any class: unpickling it would run code, so a safe load must refuse it."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match=r"holds Python objects .* will not unpickle"):
        load_checkpoint(path)
