"""The streaming data set: the same pixels as the in-memory path, read from disk on demand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.data import load_dataset
from eblearn.data.files import STREAM_SAMPLE
from eblearn.data.streaming import StreamedImages, stream_loader
from eblearn.train.sharding import ShardedEpochSampler


def write_images(folder, n, size=(10, 7), prefix=""):
    """``n`` random RGB images of ``size`` (W, H) named in sorted order; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        path = folder / f"{prefix}{k:03d}.png"
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def test_streamed_pixels_equal_the_in_memory_images(tmp_path):
    write_images(tmp_path, 9)
    memory = load_dataset(f"imagefolder:{tmp_path}", image_size=6)
    streamed = load_dataset(f"imagefolder:{tmp_path}", image_size=6, stream=True)
    stream = streamed.stream
    assert stream is not None and len(stream) == streamed.pretrain_count == 9
    batch = stream.__getitems__(list(range(9)))
    torch.testing.assert_close(batch.images, memory.pretrain_images, rtol=0, atol=0)
    assert batch.indices.tolist() == list(range(9)) and batch.unreadable == ()
    # the sample covers every image here, so the statistics are the in-memory ones
    assert streamed.mean == memory.mean and streamed.std == memory.std
    assert not streamed.has_labels and streamed.name == f"imagefolder:{tmp_path}"


def test_a_labeled_folder_streams_every_file_unlabeled_and_samples_a_fixed_subset(tmp_path):
    for cls in ("cat", "dog"):
        write_images(tmp_path / cls, 3, prefix=cls)
    streamed = load_dataset(f"imagefolder:{tmp_path}", stream=True)
    assert len(streamed.stream) == 6 and streamed.image_size == 7  # shorter side of 10×7
    assert [p.split("/")[-2] for p in streamed.stream.files] == ["cat"] * 3 + ["dog"] * 3
    assert not streamed.has_labels


def test_the_decoded_sample_is_bounded_and_the_same_every_time(tmp_path, monkeypatch):
    import eblearn.data.files as files

    monkeypatch.setattr(files, "STREAM_SAMPLE", 4)
    write_images(tmp_path, 12, size=(5, 5))
    first = load_dataset(f"imagefolder:{tmp_path}", stream=True)
    again = load_dataset(f"imagefolder:{tmp_path}", stream=True)
    assert len(first.pretrain_images) == 4 and len(first.stream) == 12
    assert first.unlabeled.paths == again.unlabeled.paths and first.mean == again.mean
    assert first.unlabeled.paths[0].endswith("000.png")  # the first file is always decoded
    assert STREAM_SAMPLE >= 256  # enough images for the statistics by default


def test_a_file_list_streams_in_its_order(tmp_path):
    paths = write_images(tmp_path / "img", 4, size=(6, 6))
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p.relative_to(tmp_path)) for p in reversed(paths)))
    streamed = load_dataset(f"filelist:{listing}", stream=True)
    assert list(streamed.stream.files) == [str(p) for p in reversed(paths)]


def test_an_unreadable_file_met_while_streaming_takes_the_next_readable_one(tmp_path):
    paths = write_images(tmp_path, 5, size=(4, 4))
    stream = StreamedImages(paths, 4, "imagefolder:x", tmp_path)
    paths[1].write_bytes(b"not an image")  # broken after the data set was built
    paths[4].write_bytes(b"")
    batch = stream.__getitems__([1, 3, 4])
    assert batch.images.shape == (3, 3, 4, 4)  # the batch keeps its size
    assert batch.indices.tolist() == [2, 3, 0]  # the next readable file, wrapping around
    torch.testing.assert_close(batch.images[0], stream.__getitems__([2]).images[0])
    assert [(p.rsplit("/", 1)[-1], why) for p, why in batch.unreadable] == [
        ("001.png", "not an image PIL recognizes"),
        ("004.png", "empty file"),
    ]


def test_no_readable_file_at_all_is_a_clear_error(tmp_path):
    paths = write_images(tmp_path, 2, size=(4, 4))
    stream = StreamedImages(paths, 4, "filelist:x")
    for path in paths:
        path.write_bytes(b"")
    with pytest.raises(ValueError, match="filelist:x: none of its image files is readable"):
        stream.__getitems__([0])


def test_unreadable_files_of_the_sample_are_reported_at_load_or_refused_when_strict(tmp_path):
    paths = write_images(tmp_path, 4, size=(4, 4))
    paths[2].write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=r"skipped 1 of 4 image files.*'002.png'"):
        streamed = load_dataset(f"imagefolder:{tmp_path}", stream=True)
    assert len(streamed.stream) == 4  # still listed: met (and replaced) while streaming
    with pytest.raises(ValueError, match=r"1 of 4 image files cannot be read: '002.png'"):
        load_dataset(f"imagefolder:{tmp_path}", stream=True, strict=True)


@pytest.mark.parametrize("spec", ["digits", "npz:x.npz"])
def test_stream_is_refused_for_data_sets_read_into_memory(spec):
    with pytest.raises(
        ValueError, match=r"--stream .* imagefolder:PATH, filelist:PATH, tar:PATH, not"
    ):
        load_dataset(spec, stream=True)


def test_bad_stream_arguments(tmp_path):
    with pytest.raises(ValueError, match="stream must be True or False"):
        load_dataset("digits", stream="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one image file"):
        StreamedImages([], 4)
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        StreamedImages([tmp_path / "a.png"], 0)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        stream_loader(StreamedImages([tmp_path / "a.png"], 4), ShardedEpochSampler(1, 0, 1), 1, -1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is empty: no image files"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}", stream=True)


def test_the_stream_survives_a_rename_of_the_data_set(tmp_path):
    write_images(tmp_path, 3, size=(4, 4))
    streamed = load_dataset(f"imagefolder:{tmp_path}", stream=True)
    renamed = dataclasses.replace(streamed, name="mine")
    assert renamed.stream is streamed.stream and renamed.pretrain_count == 3
