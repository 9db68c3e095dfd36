"""FSDD format, split and fixed-length batches, on a small generated file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eblearn.data.speech import (
    FSDD_KEYS,
    Recordings,
    fix_length,
    load_fsdd,
    split_by_take,
    write_synthetic_fsdd,
)


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory):
    return load_fsdd(write_synthetic_fsdd(tmp_path_factory.mktemp("fsdd") / "f.npz", 2, 7, 3))


def test_round_trip_keeps_every_recording_and_label(tmp_path):
    path = write_synthetic_fsdd(tmp_path / "f.npz", num_speakers=2, num_takes=3, num_digits=4)
    raw = np.load(path)
    data = load_fsdd(path)
    assert len(data) == 2 * 3 * 4 and data.sample_rate == 8000
    assert data.speaker_names == ("speaker0", "speaker1")
    for i in (0, 5, 23):
        start, end = raw["offsets"][i], raw["offsets"][i + 1]
        expected = raw["audio"][start:end].astype(np.float32) / 32768
        np.testing.assert_array_equal(data.waveform(i).numpy(), expected)
    assert data.labels.tolist() == raw["labels"].tolist()
    assert data.takes.tolist() == raw["index"].tolist()


def test_split_puts_takes_below_five_in_test(fsdd):
    train, test = split_by_take(fsdd)
    assert set(test.takes.tolist()) == set(range(5))
    assert set(train.takes.tolist()) == {5, 6}
    assert len(train) + len(test) == len(fsdd)
    # the subset repacks audio so that each recording is unchanged
    j = int(torch.nonzero(fsdd.takes == 6)[0])
    k = int(
        torch.nonzero(
            (train.labels == fsdd.labels[j])
            & (train.takes == 6)
            & (train.speakers == fsdd.speakers[j])
        )[0]
    )
    assert torch.equal(train.waveform(k), fsdd.waveform(j))


def test_missing_key_is_named(tmp_path):
    path = write_synthetic_fsdd(tmp_path / "f.npz", 1, 1, 2)
    arrays = dict(np.load(path))
    del arrays["speakers"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"lacks key.*speakers"):
        load_fsdd(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="no FSDD file"):
        load_fsdd(tmp_path / "absent.npz")
    assert "index" in FSDD_KEYS


def test_offsets_must_match_labels():
    with pytest.raises(ValueError, match="offsets must have N \\+ 1"):
        Recordings(
            torch.zeros(4, dtype=torch.int16),
            torch.tensor([0, 4]),
            torch.tensor([0, 1]),
            torch.tensor([0, 0]),
            torch.tensor([0, 1]),
            ("a",),
            8000,
        )


@pytest.mark.parametrize("crop", ["start", "center", "random"])
def test_fix_length_crops_and_pads_keeping_lengths(crop):
    long, short = torch.arange(10.0), torch.arange(3.0) + 100
    batch, lengths = fix_length([long, short], 6, crop, torch.Generator().manual_seed(1))
    assert lengths.tolist() == [6, 3]
    assert batch[1].tolist() == [100.0, 101.0, 102.0, 0.0, 0.0, 0.0]
    start = int(batch[0, 0])
    assert batch[0].tolist() == list(range(start, start + 6))  # a contiguous window
    assert start == {"start": 0, "center": 2}.get(crop, start)


def test_random_crop_start_is_uniform():
    generator = torch.Generator().manual_seed(0)
    starts = [
        int(fix_length([torch.arange(8.0)], 6, "random", generator)[0][0, 0]) for _ in range(600)
    ]
    counts = np.bincount(starts, minlength=3)
    assert counts.sum() == 600 and counts.min() > 150  # 3 windows, about 200 each


def test_fix_length_rejects_bad_input():
    with pytest.raises(ValueError, match="valid choices: start, center, random"):
        fix_length([torch.ones(3)], 2, "middle")
    with pytest.raises(ValueError, match="positive"):
        fix_length([torch.ones(3)], 0)
    with pytest.raises(ValueError, match="1-D"):
        fix_length([torch.ones(2, 3)], 4)
