from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.data import DatasetFilesMissingError, load_dataset


def test_digits_split_is_fixed_and_stratified():
    first, second = load_dataset("digits"), load_dataset("digits")
    assert (len(first.train), len(first.test)) == (1347, 450)
    assert torch.equal(first.test.images, second.test.images)
    assert first.train.images.shape[1:] == (1, 8, 8) and first.train.images.dtype == torch.uint8
    counts = torch.bincount(first.test.labels)
    assert counts.min() >= 43 and counts.max() <= 47  # 25% of each class (~180 per class)
    pixels = first.train.images.float() / 255
    assert first.mean[0] == pytest.approx(float(pixels.mean()), abs=1e-5)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'; valid datasets: .*cifar10"):
        load_dataset("imagenet")


def test_path_datasets_need_an_existing_path(tmp_path):
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("npz")
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="takes no argument"):
        load_dataset("digits:/tmp")


def _write_npz(path: Path, n: int, **extra):
    rng = np.random.default_rng(0)
    np.savez(
        path,
        images=rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8),
        labels=np.arange(n) % 2,
        **extra,
    )


def test_npz_file_is_split_and_npz_folder_is_read(tmp_path):
    _write_npz(tmp_path / "all.npz", 20)
    splits = load_dataset(f"npz:{tmp_path / 'all.npz'}")
    assert (len(splits.train), len(splits.test)) == (16, 4)
    assert splits.channels == 3 and splits.image_size == 6
    folder = tmp_path / "arrays"
    folder.mkdir()
    _write_npz(folder / "train.npz", 10, classes=np.array(["cat", "dog"]))
    _write_npz(folder / "test.npz", 4, classes=np.array(["cat", "dog"]))
    splits = load_dataset(f"npz:{folder}")
    assert (len(splits.train), len(splits.test)) == (10, 4)
    assert splits.train.classes == ("cat", "dog")


def test_npz_errors_name_the_problem(tmp_path):
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 4, 4), np.uint8), labels=np.zeros(0))
    with pytest.raises(ValueError, match="is empty"):
        load_dataset(f"npz:{tmp_path / 'empty.npz'}")
    bad = np.zeros((6, 4, 4), np.float32)
    bad[2, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", images=bad, labels=np.arange(6) % 2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        load_dataset(f"npz:{tmp_path / 'nan.npz'}")
    np.savez(tmp_path / "nokey.npz", pictures=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="no 'images' array"):
        load_dataset(f"npz:{tmp_path / 'nokey.npz'}")
    (tmp_path / "half").mkdir()
    _write_npz(tmp_path / "half" / "train.npz", 4)
    with pytest.raises(ValueError, match=r"lacks test.npz"):
        load_dataset(f"npz:{tmp_path / 'half'}")


def test_image_folder_tree(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("a", "b"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    splits = load_dataset(f"imagefolder:{tmp_path}")
    assert (len(splits.train), len(splits.test)) == (6, 4)
    assert splits.train.images.shape[1:] == (3, 10, 10)  # resized, center-cropped square
    assert splits.train.classes == ("a", "b")
    assert splits.train.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_empty_image_folder_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        load_dataset(f"imagefolder:{tmp_path}")
    with pytest.raises(ValueError, match=r"'.*a' is empty: no image files under it"):
        load_dataset(f"imagefolder:{tmp_path / 'a'}")


def test_missing_torchvision_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DatasetFilesMissingError, match=str(tmp_path / "CIFAR10")) as error:
        load_dataset("cifar10", root=tmp_path)
    assert "--download" in str(error.value)
    assert isinstance(error.value, ValueError)
