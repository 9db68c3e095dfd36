"""Normalization statistics saved at training time, and used by eval, embed and export.

The run is trained on a folder of 8-px RGB images without ``--image-size``: the loader
decodes them at their native 8 px, the views are 16 px. Reading the data again must give the
8-px pixels (the bug this fixes decoded them at 16 px), and the saved mean and std must be
the ones of the 8-px pixels, computed here from the raw files with numpy.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.app import pretrain
from eblearn.app.data_stats import STATS_FILE, DataStatistics, read_statistics
from eblearn.app.export import load_encoder
from eblearn.app.train import evaluate_run, load_pretrained, prepare_training
from eblearn.data import load_dataset
from eblearn.train.config import TrainConfig

from ..train.conftest import tiny_config


def _pictures(folder: Path, n: int, seed: int, side: int = 8) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pictures = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(n)]
    for k, pixels in enumerate(pictures):
        Image.fromarray(pixels).save(folder / f"{k:03d}.png")
    return pictures


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A one-epoch run on 40 unlabeled 8-px images, and a labeled 8-px folder to probe."""
    root = tmp_path_factory.mktemp("stats")
    pictures = _pictures(root / "photos", 40, seed=0)
    for label in ("a", "b"):
        _pictures(root / "labeled" / label, 10, seed=ord(label))
    config = tiny_config(root / "run", data=f"imagefolder:{root / 'photos'}", epochs=1)
    pretrain(replace(config, batch_size=16, warmup_epochs=0))
    return root, pictures


def test_the_run_saves_the_mean_and_std_of_its_native_size_pixels(folder_run):
    root, pictures = folder_run
    saved = json.loads((root / "run" / STATS_FILE).read_text())
    pixels = np.stack(pictures).astype(np.float64) / 255.0  # (N, 8, 8, 3)
    mean = pixels.reshape(-1, 3).mean(0)
    std = pixels.reshape(-1, 3).std(0, ddof=1)  # torch's std: the unbiased estimate
    assert saved["image_size"] == 8 and saved["channels"] == 3
    assert saved["data"] == f"imagefolder:{root / 'photos'}"
    np.testing.assert_allclose(saved["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(saved["std"], std, rtol=1e-5)
    config = (root / "run" / "config.yaml").read_text()
    assert "image_size: 16" in config  # the views: at least 16 px
    assert STATS_FILE in json.loads((root / "run" / ".eblearn-manifest.json").read_text())["files"]


def test_a_reloaded_run_reads_the_images_at_the_training_size(folder_run):
    root, pictures = folder_run
    pretrained = load_pretrained(root / "run")
    assert pretrained.data.image_size == 8
    images = pretrained.data.pretrain_images.permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(images, np.stack(pictures))
    stats = read_statistics(root / "run")
    assert stats is not None and pretrained.data.mean == stats.mean
    transform = pretrained.eval_transform
    assert transform.normalize.mean.flatten().tolist() == pytest.approx(list(stats.mean))


def test_a_resumed_run_reads_the_images_at_the_training_size(folder_run):
    root, _ = folder_run
    plan = prepare_training(TrainConfig(run_dir=str(root / "run")), resume=True)
    assert plan.data.image_size == 8 and plan.config.image_size == 16


def test_eval_and_load_encoder_need_no_training_data_once_saved(folder_run, tmp_path):
    root, pictures = folder_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    stats = read_statistics(run)
    moved = tmp_path / "gone"
    shutil.move(root / "photos", moved)  # the training data is no longer there
    try:
        summary = evaluate_run(run, data=f"imagefolder:{root / 'labeled'}")
        encoder = load_encoder(run)
    finally:
        shutil.move(moved, root / "photos")
    assert summary.encoder is not None and 0.0 <= summary.encoder.knn <= 1.0
    assert encoder.transform.normalize.mean.flatten().tolist() == pytest.approx(list(stats.mean))
    assert encoder.transform.normalize.std.flatten().tolist() == pytest.approx(list(stats.std))
    # the features: resized 8 -> 16 px, then (x - mean) / std, then the backbone
    images = torch.from_numpy(np.stack(pictures[:4])).permute(0, 3, 1, 2)
    resized = torch.nn.functional.interpolate(
        images.float() / 255, size=16, mode="bilinear", align_corners=False
    )
    mean = torch.tensor(stats.mean).view(1, 3, 1, 1)
    std = torch.tensor(stats.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = encoder.module((resized - mean) / std)
    torch.testing.assert_close(encoder(images), expected, atol=1e-5, rtol=1e-4)


def test_an_older_run_without_saved_statistics_recomputes_them(folder_run, tmp_path):
    root, _ = folder_run
    run = tmp_path / "old"
    shutil.copytree(root / "run", run)
    (run / STATS_FILE).unlink()
    assert read_statistics(run) is None
    encoder = load_encoder(run)
    # an older run reads its data at the run's image size, as before
    again = load_dataset(f"imagefolder:{root / 'photos'}", image_size=16)
    assert encoder.transform.normalize.mean.flatten().tolist() == pytest.approx(list(again.mean))
    assert load_pretrained(run).data.mean == again.mean


def test_statistics_round_trip_and_refuse_bad_values(tmp_path):
    stats = DataStatistics("x", 3, 8, (0.1, 0.2, 0.3), (0.2, 0.2, 0.2))
    assert DataStatistics.from_dict(json.loads(json.dumps(stats.to_dict())), "s") == stats
    with pytest.raises(ValueError, match=r"mean must hold 3 finite number\(s\)"):
        DataStatistics("x", 3, 8, (0.1, 0.2), (0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="std must be positive"):
        DataStatistics("x", 1, 8, (0.1,), (0.0,))
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        DataStatistics("x", 1, 0, (0.1,), (0.1,))
    (tmp_path / STATS_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=f"{STATS_FILE}.* cannot be read as JSON"):
        read_statistics(tmp_path)
    (tmp_path / STATS_FILE).write_text(json.dumps({"mean": [0.1]}))
    with pytest.raises(ValueError, match="must be a mapping with keys data, channels"):
        read_statistics(tmp_path)
    values = {**stats.to_dict(), "std": [0.1, float("nan"), 0.1]}
    (tmp_path / STATS_FILE).write_text(json.dumps(values))
    with pytest.raises(ValueError, match="std must hold 3 finite"):
        read_statistics(tmp_path)
