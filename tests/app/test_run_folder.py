"""The run folder: validated before it is touched, locked, and deleting only eblearn's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from eblearn._io import atomic_write_bytes
from eblearn.app.run_folder import (
    LOCK_FILE,
    MANIFEST_FILE,
    FolderInUseError,
    Mode,
    RunFolder,
    default_run_path,
)


def folder(path, **kwargs):
    kwargs.setdefault("precious", ("model.pt",))
    kwargs.setdefault("resumable", "model.pt")
    return RunFolder(path, kind="test", **kwargs)


def test_check_touches_nothing_and_claim_creates_and_registers(tmp_path):
    run = folder(tmp_path / "a" / "b")
    run.check(Mode.NEW)
    assert not (tmp_path / "a").exists()
    with run.claimed(Mode.NEW):
        run.write_json("r.json", {"x": 1})
        (run.file("sub/model.pt")).write_bytes(b"w")
    manifest = json.loads((run.path / MANIFEST_FILE).read_text())
    assert manifest["kind"] == "test" and manifest["files"] == ["r.json", "sub/model.pt"]
    assert sorted(run.written()) == ["r.json", "sub/model.pt"]


def test_a_claim_that_wrote_nothing_leaves_no_folder(tmp_path):
    run = folder(tmp_path / "new")
    with run.claimed(Mode.NEW):
        pass
    assert not (tmp_path / "new").exists()


def test_writing_before_the_claim_is_a_programming_error(tmp_path):
    with pytest.raises(RuntimeError, match="must be claimed"):
        folder(tmp_path / "x").file("a")


def test_foreign_folders_are_refused_and_left_alone(tmp_path):
    path = tmp_path / "mine"
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not empty and was not written by eblearn"):
        folder(path).check(Mode.NEW)
    with pytest.raises(ValueError, match="not eblearn's to delete"):
        folder(path).check(Mode.OVERWRITE)
    with pytest.raises(ValueError, match="not eblearn's to delete"):
        folder(path).claim(Mode.OVERWRITE)
    assert sorted(p.name for p in path.iterdir()) == ["thesis.tex"]


def test_overwrite_deletes_only_the_registered_files(tmp_path):
    run = folder(tmp_path / "run")
    with run.claimed(Mode.NEW):
        run.file("checkpoints/model.pt").write_bytes(b"old")
        run.write_json("results.json", {})
    foreign = run.path / "checkpoints" / "notes.txt"
    foreign.write_text("mine")
    with run.claimed(Mode.OVERWRITE):
        assert not (run.path / "checkpoints" / "model.pt").exists()
        assert not (run.path / "results.json").exists()
        assert foreign.read_text() == "mine"
    assert foreign.read_text() == "mine"


def test_new_refuses_saved_work_but_reuses_a_run_that_saved_none(tmp_path):
    run = folder(tmp_path / "run")
    with run.claimed(Mode.NEW):
        run.write_json("config.json", {})  # a run that failed before saving a model
    with run.claimed(Mode.NEW):  # a plain rerun may reuse it
        run.file("model.pt").write_bytes(b"w")
    with pytest.raises(ValueError, match=r"already holds a run \(model.pt\); pass --resume"):
        run.check(Mode.NEW)
    run.check(Mode.RESUME)
    with pytest.raises(ValueError, match="nothing to resume"):
        folder(tmp_path / "other").check(Mode.RESUME)


def test_another_kind_of_run_is_refused(tmp_path):
    run = folder(tmp_path / "run")
    with run.claimed(Mode.NEW):
        run.write_json("x.json", {})
    with pytest.raises(ValueError, match="holds an eblearn 'test' run, not a 'lab' run"):
        RunFolder(run.path, kind="lab").check(Mode.OVERWRITE)


def test_paths_that_are_files_or_read_only_are_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        folder(target).check(Mode.NEW)
    with pytest.raises(ValueError, match="is a file"):
        folder(target / "below").check(Mode.NEW)
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only folders")
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="permission denied"):
        folder(locked / "run").check(Mode.NEW)


def test_read_only_folders_are_refused_even_for_root(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match="permission denied"):
        folder(tmp_path / "run").check(Mode.NEW)


def test_stale_temporaries_of_interrupted_writes_are_removed_on_claim(tmp_path):
    run = folder(tmp_path / "run")
    with run.claimed(Mode.NEW):
        run.file("model.pt").write_bytes(b"w")
    stale = run.path / ".model.pt.abc123.tmp"
    stale.write_bytes(b"half")
    with run.claimed(Mode.RESUME):
        assert not stale.exists()


HOLD_SCRIPT = """
import sys, time
sys.path.insert(0, {src!r})
from eblearn.app.run_folder import Mode, RunFolder
run = RunFolder({path!r}, kind="test", precious=("model.pt",), resumable="model.pt")
with run.claimed(Mode.NEW, command="holder-of-the-lock"):
    run.file("model.pt").write_bytes(b"w")
    print("claimed", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    path = tmp_path / "run"
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    script = textwrap.dedent(HOLD_SCRIPT.format(src=src, path=str(path)))
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        for mode in (Mode.RESUME, Mode.OVERWRITE):
            with pytest.raises(FolderInUseError, match=rf"process {holder.pid} .*holder-of-the"):
                folder(path).check(mode)
            with pytest.raises(FolderInUseError, match=rf"process {holder.pid}"):
                folder(path).claim(mode)
        assert (path / "model.pt").read_bytes() == b"w"
    finally:
        holder.kill()
        holder.wait()
    folder(path).check(Mode.RESUME)  # the kernel dropped the lock with the process
    assert (path / LOCK_FILE).exists()


def test_one_naming_scheme():
    path = default_run_path("vicreg", "npz:data/x")
    assert path.parent.name == "runs"
    assert path.name.startswith("vicreg-npz_data_x-") and len(path.name.split("-")[-1]) == 6


def test_a_full_disk_keeps_the_old_file_and_says_so(tmp_path, monkeypatch):
    import errno

    from eblearn._io import DiskFullError

    path = tmp_path / "last.ckpt"
    path.write_bytes(b"good")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match=r"the disk is full: could not write .*previous"):
        atomic_write_bytes(b"new", path)
    assert path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_register_records_a_file_named_by_its_path_and_refuses_one_outside(tmp_path):
    folder = RunFolder(tmp_path / "run", kind="train")
    with folder.claimed(Mode.NEW, command="test"):
        inside = folder.path / "board" / "events.out.tfevents.1"
        inside.parent.mkdir()
        inside.write_bytes(b"x")
        assert folder.register(inside) == inside
        with pytest.raises(ValueError, match="lies outside the run folder"):
            folder.register(tmp_path / "elsewhere.txt")
    assert folder.written() == ["board/events.out.tfevents.1"]
