"""``tar:`` shards in webdataset's layout, written here with the standard library's tarfile.

The reference for every pixel is PIL decoding the PNG bytes that were put in the shard; the
reference for labels and order is the list of samples as written.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.data import load_dataset
from eblearn.data.streaming import stream_loader
from eblearn.data.tar_shards import TarImages
from eblearn.train.sharding import ShardedEpochSampler


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shards(folder, shards=2, per_shard=5, label="cls", extra=None):
    """Shards of 8-px RGB PNGs keyed ``dir/sS_K``; returns the pixels and labels written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    pixels, labels = [], []
    for s in range(shards):
        with tarfile.open(folder / f"{s:03d}.tar", "w") as tar:
            for k in range(per_shard):
                key = f"dir/s{s}_{k}"
                image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                _add(tar, f"{key}.PNG" if k == 1 else f"{key}.png", _png(image))  # any case
                _add(tar, f"{key}.json", b"{}")  # ignored
                if label:
                    _add(tar, f"{key}.{label}", f"{k % 2}\n".encode())
                pixels.append(image)
                labels.append(k % 2)
            for name, data in (extra or {}).get(s, []):
                _add(tar, name, data)
    return np.stack(pixels), labels


def test_labeled_shards_load_in_order_with_their_pixels_and_labels(tmp_path):
    pixels, labels = write_shards(tmp_path / "shards")
    data = load_dataset(f"tar:{tmp_path / 'shards'}/*.tar")
    assert data.has_labels and data.train.classes == ("0", "1") and data.image_size == 8
    assert len(data.train) + len(data.test) == 10
    every = {
        path: (image, label)
        for part in (data.train, data.test)
        for path, image, label in zip(part.paths, part.images, part.labels.tolist(), strict=True)
    }
    for s in range(2):
        for k in range(5):
            suffix = "PNG" if k == 1 else "png"
            image, label = every[
                str(tmp_path / "shards" / f"{s:03d}.tar" / f"dir/s{s}_{k}.{suffix}")
            ]
            assert np.array_equal(image.permute(1, 2, 0).numpy(), pixels[5 * s + k])
            assert label == labels[5 * s + k]


def test_shards_without_labels_pretrain_unlabeled_and_txt_labels_count(tmp_path):
    write_shards(tmp_path / "plain", label=None)
    data = load_dataset(f"tar:{tmp_path / 'plain'}")  # a folder: its *.tar
    assert not data.has_labels and len(data.pretrain_images) == 10
    write_shards(tmp_path / "txt", label="txt")
    assert load_dataset(f"tar:{tmp_path / 'txt' / '000.tar'}").has_labels


def test_bad_members_are_skipped_and_named_or_refused_when_strict(tmp_path):
    extra = {
        0: [("broken.png", b"not a png"), ("nolabel.json", b"{}")],
        1: [("odd.png", _png(np.zeros((8, 8, 3), np.uint8))), ("odd.cls", b"cat")],
    }
    write_shards(tmp_path / "s", label=None, extra=extra)
    (tmp_path / "s" / "001.tar").read_bytes()
    spec = f"tar:{tmp_path / 's'}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(spec)
    assert len(data.pretrain_images) == 10
    (message,) = [str(w.message) for w in caught if "cannot be read" in str(w.message)]
    assert "skipped 3 of 13 image files" in message
    assert "'000.tar/nolabel' (no image member (found .json))" in message
    assert "'001.tar/odd' (its label 'odd.cls' holds 'cat', not a class id" in message
    assert "'000.tar/broken.png' (not an image PIL recognizes)" in message
    with pytest.raises(ValueError, match=r"3 of 13 image files cannot be read: .*--strict"):
        load_dataset(spec, strict=True)


def test_missing_empty_and_compressed_shards_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"tar shard '.*nothere.tar' does not exist"):
        load_dataset(f"tar:{tmp_path / 'nothere.tar'}")
    with pytest.raises(ValueError, match=r"tar pattern '.*\*.tar' matches no file"):
        load_dataset(f"tar:{tmp_path}/*.tar")
    with pytest.raises(ValueError, match=r"holds no \.tar file"):
        load_dataset(f"tar:{tmp_path}")
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    with pytest.raises(ValueError, match=r"'.*empty.tar' is empty: it has no member"):
        load_dataset(f"tar:{tmp_path / 'empty.tar'}")
    write_shards(tmp_path / "z", shards=1)
    (tmp_path / "z.tar").write_bytes(gzip.compress((tmp_path / "z" / "000.tar").read_bytes()))
    with pytest.raises(ValueError, match=r"not a readable plain tar archive.*decompress them"):
        load_dataset(f"tar:{tmp_path / 'z.tar'}")
    with pytest.raises(ValueError, match="dataset 'tar' needs a path"):
        load_dataset("tar")


def test_a_truncated_shard_keeps_its_whole_samples(tmp_path):
    write_shards(tmp_path / "t", shards=1, per_shard=4, label=None)
    shard = tmp_path / "t" / "000.tar"
    shard.write_bytes(shard.read_bytes()[:3000])  # cut inside a later member
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(f"tar:{shard}")
    assert 1 <= len(data.pretrain_images) < 4
    (message,) = [str(w.message) for w in caught]
    assert "'000.tar' (cut short after" in message or "(truncated: the shard ends" in message


def test_streamed_shards_give_the_in_memory_pixels_and_shard_over_ranks(tmp_path):
    write_shards(tmp_path / "s", shards=3, per_shard=4)
    spec = f"tar:{tmp_path / 's'}"
    memory = load_dataset(spec)
    streamed = load_dataset(spec, stream=True)
    stream = streamed.stream
    assert isinstance(stream, TarImages) and len(stream) == 12 and not streamed.has_labels
    by_path = {
        p: image
        for part in (memory.train, memory.test)
        for p, image in zip(part.paths, part.images, strict=True)
    }
    batch = stream.__getitems__(list(range(12)))
    for index, image in zip(batch.indices.tolist(), batch.images, strict=True):
        assert torch.equal(image, by_path[stream.files[index]])
    read = []
    for rank in (0, 1):  # two processes, one worker each: every kept sample read once
        sampler = ShardedEpochSampler(12, seed=3, batch_size=3, rank=rank, world_size=2)
        for part in stream_loader(stream, sampler, 3, workers=1):
            read += part.indices.tolist()
    assert sorted(read) == list(range(12))
