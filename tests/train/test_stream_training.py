"""Training on a streamed data set: the same run as in memory, bad files named or refused."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.app import pretrain
from eblearn.data import load_dataset

from .conftest import tiny_config


def image_folder(folder, n=24, side=8):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for k in range(n):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{k:03d}.png")
    return folder


def stream_config(run_dir, **overrides):
    values = {"epochs": 2, "batch_size": 8, "warmup_epochs": 0.5, "image_size": 16}
    values.update(overrides)
    return tiny_config(run_dir, **values)


def weights(method):
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def test_a_streamed_run_trains_the_same_weights_as_the_in_memory_run(tmp_path):
    folder = image_folder(tmp_path / "images")
    spec = f"imagefolder:{folder}"
    memory = pretrain(stream_config(tmp_path / "memory", data=spec, epochs=1))
    streamed = pretrain(stream_config(tmp_path / "stream", data=spec, stream=True, epochs=1))
    assert streamed.data.stream is not None and memory.data.stream is None
    expected, actual = weights(memory.method), weights(streamed.method)
    for name in expected:  # same pixels, same order, same augmentations: same numbers
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
    saved = (tmp_path / "stream" / "config.yaml").read_text()
    assert "stream: true" in saved


def test_a_file_broken_during_training_is_named_once_or_stops_a_strict_run(tmp_path):
    folder = image_folder(tmp_path / "images", n=16)
    data = load_dataset(f"imagefolder:{folder}", stream=True)
    (folder / "005.png").write_bytes(b"truncated")  # after the data set was listed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(stream_config(tmp_path / "lenient"), data=data)  # 2 epochs: met twice
    named = [str(w.message) for w in caught if "005.png" in str(w.message)]
    assert len(named) == 1, named
    assert re.search(
        r"skipped 1 of 16 image files that cannot be read: '005.png' \(not an", named[0]
    )
    with pytest.raises(
        ValueError, match=r"1 of 16 image files cannot be read: '005.png'.*--strict"
    ):
        pretrain(stream_config(tmp_path / "strict", strict=True), data=data)
