"""``embed`` and ``neighbors`` on files that stay on disk: the in-memory path's outputs.

The reference is the in-memory path (every image decoded, then encoded at once); the
streamed path decodes the files batch by batch in DataLoader workers and must give the same
rows, files and features, skip the same unreadable file, and refuse it with ``strict``.
"""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from PIL import Image

from eblearn.app.embed import embed_run, neighbors_run
from eblearn.app.stream_rows import StreamRows
from eblearn.cli import main

from .test_export import make_run


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """11 images of 8 px (one an exact copy of another) and one broken file, in a run."""
    root = tmp_path_factory.mktemp("stream-photos")
    rng = np.random.default_rng(4)
    pictures = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(10)]
    pictures.append(pictures[3])  # a planted duplicate: image 10 == image 3
    for k, pixels in enumerate(pictures):
        Image.fromarray(pixels).save(root / f"{k:02d}.png")
    (root / "05b.png").write_bytes(b"not an image")  # sorted between 05 and 06
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = make_run(tmp_path_factory.mktemp("runs") / "r", data=f"imagefolder:{root}")
    return run, root, pictures


def _embed(run, path, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = embed_run(run, path, **options)
    return result, [str(w.message) for w in caught if "cannot be read" in str(w.message)]


def test_streamed_features_equal_the_in_memory_ones(photos, tmp_path):
    import pyarrow.parquet as pq

    run, root, _ = photos
    memory, memory_warnings = _embed(run, tmp_path / "memory.parquet")
    streamed, stream_warnings = _embed(
        run, tmp_path / "stream.parquet", stream=True, workers=1, batch_size=4
    )
    assert isinstance(streamed.rows, StreamRows) and len(streamed.rows) == 11
    expected = pq.read_table(memory.path).to_pydict()
    actual = pq.read_table(streamed.path).to_pydict()
    assert (
        actual["path"]
        == expected["path"]
        == sorted(str(p) for p in root.glob("*.png") if p.name != "05b.png")
    )
    assert actual["label"] == [-1] * 11 and actual["split"] == ["unlabeled"] * 11
    np.testing.assert_allclose(
        np.array(actual["features"]), np.array(expected["features"]), rtol=1e-5, atol=1e-6
    )
    for messages in (memory_warnings, stream_warnings):  # the broken file, named
        assert any("'05b.png' (not an image PIL recognizes)" in m for m in messages)
    assert streamed.shape == memory.shape == (11, 16)


def test_a_streamed_npy_on_the_command_line(photos, tmp_path, capsys):
    run, _, _ = photos
    out = tmp_path / "f.npy"
    assert main(["embed", str(run), "--stream", "--workers", "0", "--out", str(out)]) == 0
    assert "rows: unlabeled (11)" in capsys.readouterr().out
    reference, _ = _embed(run, tmp_path / "g.npy")
    np.testing.assert_allclose(np.load(out), np.load(reference.path), rtol=1e-5, atol=1e-6)


def test_strict_refuses_the_broken_file_before_writing(photos, tmp_path, monkeypatch):
    import eblearn.data.files as files

    monkeypatch.setattr(files, "STREAM_SAMPLE", 2)  # the sample misses the broken file
    run, _, _ = photos
    with pytest.raises(ValueError, match=r"1 of 12 image files cannot be read: '05b.png'"):
        embed_run(run, tmp_path / "f.npy", stream=True, workers=0, strict=True)
    assert not (tmp_path / "f.npy").exists()


def test_streamed_neighbors_find_the_duplicate_and_draw_from_disk(photos, tmp_path):
    run, root, pictures = photos
    options = {"stream": True, "workers": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = neighbors_run(run, tmp_path / "d.csv", duplicates=0.999999, **options)
        query = tmp_path / "q.png"
        Image.fromarray(pictures[3]).save(query)
        grid = neighbors_run(run, tmp_path / "g.png", queries=[query], k=2, **options)
    with (tmp_path / "d.csv").open() as file:
        pairs = {(r["path_a"], r["path_b"]) for r in csv.DictReader(file)}
    assert (str(root / "03.png"), str(root / "10.png")) in pairs
    assert result.total_pairs == len(pairs)
    assert {int(i) for i in grid.index[0]} == {3, 10}  # 05b.png has no row: 10.png is row 10
    assert grid.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
