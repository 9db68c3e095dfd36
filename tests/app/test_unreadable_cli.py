"""Unreadable image files on the command line: one warning line by default, exit 2 with
``--strict`` before anything is written (train, eval --data, embed)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from eblearn.cli import main

TINY = ["--batch-size", "8", "--backbone-arg", "width=4", "--no-progress", "--image-size", "16"]
TINY += ["--method-arg", "projector_dims=[16,16]", "--epochs", "1", "--warmup-epochs", "0"]
BROKEN = ("cut.jpg", "empty.png", "notes.png")


def _folder(root: Path, classes: tuple[str, ...] = ("",), n: int = 8) -> Path:
    """``n`` good 10×10 RGB PNGs per class folder plus the three broken files of ``BROKEN``."""
    for k, cls in enumerate(classes):
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.random.default_rng(10 * k + i).integers(0, 256, (10, 10, 3), np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    encoded = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(encoded, "JPEG")
    bad = root / classes[0]
    (bad / "cut.jpg").write_bytes(encoded.getvalue()[:100])
    (bad / "empty.png").write_bytes(b"")
    (bad / "notes.png").write_text("not a picture")
    return root


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("eblearn: warning:")]


@pytest.fixture(scope="module")
def skipped_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("badfiles")
    data = _folder(folder / "photos")
    run = folder / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", *TINY, "--data", f"imagefolder:{data}", "--run-dir", str(run)])
    assert code == 0, err.getvalue()
    return folder, data, run, err.getvalue()


def test_train_skips_broken_files_with_one_warning_line(skipped_run):
    _, data, run, err = skipped_run
    lines = _warnings(err)
    assert len(lines) == 1, err
    assert lines[0].startswith(
        f"eblearn: warning: imagefolder:{data}: skipped 3 of 11 image files that cannot be "
        "read: 'cut.jpg' (truncated or corrupt: "
    )
    assert "'empty.png' (empty file), 'notes.png' (not an image PIL recognizes)" in lines[0]
    assert "Traceback" not in err and "UserWarning" not in err
    assert (run / "encoder.pt").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["strict"] is False


def test_strict_train_refuses_with_exit_2_and_writes_nothing(tmp_path, capsys):
    data = _folder(tmp_path / "photos")
    before = sorted(tmp_path.rglob("*"))
    run = tmp_path / "run"
    arguments = ["train", *TINY, "--data", f"imagefolder:{data}", "--strict"]
    assert main([*arguments, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"eblearn: error: imagefolder:{data}: 3 of 11 image files cannot be read")
    assert all(repr(name) in err for name in BROKEN) and not _warnings(err)
    assert not run.exists() and sorted(tmp_path.rglob("*")) == before


def test_a_folder_of_only_broken_files_is_refused(tmp_path, capsys):
    data = _folder(tmp_path / "photos", n=0)
    run = tmp_path / "run"
    assert main(["train", *TINY, "--data", f"imagefolder:{data}", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"image folder {str(data)!r} holds no readable image: its 3 image file(s)" in err
    assert ".png, .jpg, .jpeg" in err and not run.exists()


def test_eval_data_and_embed_skip_or_refuse_under_their_own_strict(skipped_run, capsys):
    folder, _, run, _ = skipped_run
    labeled = folder / "labeled"
    if not labeled.exists():
        _folder(labeled, classes=("a", "b"), n=10)
    spec = f"imagefolder:{labeled}"
    assert main(["eval", str(run), "--data", spec, "--strict"]) == 2
    err = capsys.readouterr().err
    assert "--data 'imagefolder:" in err and "3 of 23 image files cannot be read" in err
    assert not (run / "eval.json").exists()
    assert main(["eval", str(run), "--strict"]) == 2  # no --data: the run's data is probed
    assert "imagefolder:" in (err := capsys.readouterr().err) and "3 of 11 image files" in err
    assert main(["eval", str(run), "--data", spec]) == 0
    lines = [line for line in _warnings(capsys.readouterr().err) if "skipped" in line]
    # Only --data is read: the run's data statistics were saved at training (data_stats.json).
    assert (run / "data_stats.json").is_file() and len(lines) == 1
    assert "skipped 3 of 23 image files" in lines[0] and "'a/cut.jpg'" in lines[0]
    assert (run / "eval.json").is_file()
    out = folder / "features.npy"
    assert main(["embed", str(run), "--data", spec, "--strict", "--out", str(out)]) == 2
    assert "'a/empty.png' (empty file)" in capsys.readouterr().err and not out.exists()
    assert main(["embed", str(run), "--data", spec, "--out", str(out), "--overwrite"]) == 0
    assert np.load(out).shape[0] == 20  # the readable images only


def test_old_run_configs_read_as_not_strict_and_resume_may_set_it(tmp_path):
    from eblearn.train.config import RESUMABLE_OPTIONS, RunConfig, TrainConfig, resolve

    config = resolve(TrainConfig(strict=True), channels=1, native_size=8, run_dir=str(tmp_path))
    assert config.strict is True
    values = config.to_dict()
    del values["strict"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    old = RunConfig.from_yaml(tmp_path / "config.yaml")
    assert old.strict is False and old.as_request().strict is False
    assert "strict" in RESUMABLE_OPTIONS
