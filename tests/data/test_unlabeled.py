"""Data without labels: flat and nested image folders, file lists, ``.npz`` without labels."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.data import UNLABELED, DatasetSplits, ImageSet, load_dataset


def _save(path: Path, value: int, size: int = 6) -> np.ndarray:
    """Writes a ``size``×``size`` RGB PNG (or the suffix's format) whose red channel is
    ``value``; returns its pixels ``(3, H, W)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[..., 0] = value
    pixels[..., 1] = np.arange(size)[:, None] * 10
    fmt = "PNG" if path.suffix.lower() == ".png" else "BMP"
    Image.fromarray(pixels).save(path, format=fmt)
    return pixels.transpose(2, 0, 1)


def _pixels(splits: DatasetSplits) -> list[int]:
    """The red value of each pretraining image, in order."""
    return splits.pretrain_images[:, 0, 0, 0].tolist()


def _no_warning(spec: str) -> DatasetSplits:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_dataset(spec)


def test_flat_folder_is_unlabeled_and_every_image_pretrains(tmp_path):
    expected = [_save(tmp_path / f"{name}.png", 10 * i) for i, name in enumerate("cab")]
    (tmp_path / ".hidden.png").write_bytes(b"not read")  # hidden files stay skipped
    (tmp_path / "notes.txt").write_text("not an image")
    splits = _no_warning(f"imagefolder:{tmp_path}")
    assert not splits.has_labels
    assert (len(splits.train), len(splits.test), splits.num_classes) == (0, 0, 0)
    assert splits.unlabeled is not None
    assert splits.unlabeled.labels.tolist() == [UNLABELED] * 3
    # sorted by name: a (value 10), b (20), c (0)
    assert _pixels(splits) == [10, 20, 0]
    assert np.array_equal(splits.pretrain_images[2].numpy(), expected[0])
    assert (splits.channels, splits.image_size) == (3, 6)
    assert splits.train.images.shape == (0, 3, 6, 6)


def test_extensions_are_matched_in_any_case(tmp_path):
    _save(tmp_path / "a.PNG", 1)
    _save(tmp_path / "b.Png", 2)
    _save(tmp_path / "c.BMP", 3)
    _save(tmp_path / "d.png", 4)
    assert _pixels(_no_warning(f"imagefolder:{tmp_path}")) == [1, 2, 3, 4]


def test_class_folders_with_upper_case_suffixes_are_labeled(tmp_path):
    for k, cls in enumerate(("cat", "dog")):
        for i in range(3):
            _save(tmp_path / cls / f"{i}.PNG", 10 * k + i)
    splits = _no_warning(f"imagefolder:{tmp_path}")
    assert splits.has_labels and splits.train.classes == ("cat", "dog")
    labels = torch.cat([splits.train.labels, splits.test.labels]).sort().values
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert splits.unlabeled is None


def test_nested_folder_is_unlabeled(tmp_path):
    _save(tmp_path / "2021" / "jan" / "x.png", 1)
    _save(tmp_path / "2021" / "feb" / "y.png", 2)
    _save(tmp_path / "2022" / "mar" / "z.png", 3)
    with pytest.warns(UserWarning, match="read as unlabeled"):
        splits = load_dataset(f"imagefolder:{tmp_path}")
    assert not splits.has_labels
    assert _pixels(splits) == [2, 1, 3]  # 2021/feb, 2021/jan, 2022/mar


def test_mixed_depths_are_unlabeled_with_a_note_naming_examples(tmp_path):
    _save(tmp_path / "loose.png", 1)
    _save(tmp_path / "cat" / "0.png", 2)
    _save(tmp_path / "cat" / "deeper" / "1.png", 3)
    with pytest.warns(UserWarning, match="read as unlabeled") as caught:
        splits = load_dataset(f"imagefolder:{tmp_path}")
    message = str(caught[0].message)
    assert "is read as unlabeled: its images lie at different depths" in message
    assert "'loose.png', 'cat/0.png', 'cat/deeper/1.png'" in message
    assert "ROOT/<class>/" in message
    assert not splits.has_labels and len(splits.pretrain_images) == 3


def test_empty_folder_names_the_layouts(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"is empty: no image files under it .*any case"):
        load_dataset(f"imagefolder:{tmp_path}")


def _decoded(path: str) -> np.ndarray:
    """The pixels of an image file, ``(3, H, W)``, read back with PIL alone."""
    return np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)


def _check_files(images: ImageSet) -> None:
    """Each image of ``images`` is the decoded content of its file in ``paths``."""
    assert len(images.paths) == len(images)
    for picture, path in zip(images.images, images.paths, strict=True):
        assert np.array_equal(picture.numpy(), _decoded(path)), path


def test_image_folders_keep_each_images_file_through_the_split(tmp_path):
    for i in range(10):  # class folders: split 80/20 by class
        _save(tmp_path / "labeled" / ("cat" if i % 2 else "dog") / f"{i}.png", 20 * i)
    splits = _no_warning(f"imagefolder:{tmp_path / 'labeled'}")
    assert (len(splits.train), len(splits.test)) == (8, 2)
    for part in (splits.train, splits.test):
        _check_files(part)
        for label, path in zip(part.labels.tolist(), part.paths, strict=True):
            assert Path(path).parent.name == part.classes[label]
    every = set(splits.train.paths) | set(splits.test.paths)
    assert every == {str(p) for p in (tmp_path / "labeled").rglob("*.png")}
    for i, name in enumerate("cab"):  # a flat folder: unlabeled, sorted by name
        _save(tmp_path / "flat" / f"{name}.png", 10 * i)
    flat = _no_warning(f"imagefolder:{tmp_path / 'flat'}")
    assert flat.unlabeled is not None
    assert [Path(p).name for p in flat.unlabeled.paths] == ["a.png", "b.png", "c.png"]
    _check_files(flat.unlabeled)
    assert flat.train.paths == flat.test.paths == ()


def test_arrays_carry_no_files(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((10, 4, 4, 3), np.uint8))
    splits = load_dataset(f"npz:{tmp_path / 'x.npz'}")
    assert splits.unlabeled is not None and splits.unlabeled.paths == ()
    digits = load_dataset("digits")
    assert digits.train.paths == digits.test.paths == ()


# --- file lists -------------------------------------------------------------------------------


def test_file_list_reads_relative_and_absolute_paths_and_skips_comments(tmp_path):
    _save(tmp_path / "lists" / "near.png", 1)
    _save(tmp_path / "lists" / "sub" / "below.png", 2)
    far = tmp_path / "elsewhere" / "far.png"
    _save(far, 3)
    listing = tmp_path / "lists" / "images.txt"
    listing.write_text(
        f"# my pictures\n\nsub/below.png\n  {far}  \n   # indented comment\nnear.png\nnear.png\n"
    )
    splits = _no_warning(f"filelist:{listing}")
    assert _pixels(splits) == [2, 3, 1, 1]  # the list's order, duplicates kept
    assert splits.unlabeled is not None
    near = str(tmp_path / "lists" / "near.png")
    below = str(tmp_path / "lists" / "sub" / "below.png")
    assert splits.unlabeled.paths == (below, str(far), near, near)
    _check_files(splits.unlabeled)
    assert not splits.has_labels and splits.name == f"filelist:{listing}"


def test_file_list_naming_a_missing_file_gives_the_line(tmp_path):
    _save(tmp_path / "a.png", 1)
    listing = tmp_path / "list.txt"
    listing.write_text("# header\na.png\n\nmissing.png\n")
    with pytest.raises(ValueError) as error:
        load_dataset(f"filelist:{listing}")
    assert str(error.value) == (
        f"file list {str(listing)!r}, line 4: 'missing.png' ({str(tmp_path / 'missing.png')!r}) "
        "does not exist; relative paths are read from the list's folder"
    )


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("# only a comment\n\n", r"names no image file; expected a text file with one image"),
        ("sub\n", r"line 1: 'sub' .* is a folder, not an image file"),
        (b"\xff\xfe\x00bad", r"is not UTF-8 text"),
        ("notes.txt\n", r"list.txt' holds no readable image: .*'notes.txt' \(not an image PIL"),
    ],
    ids=["empty", "folder-entry", "binary", "not-an-image"],
)
def test_bad_file_lists_are_refused(tmp_path, content, pattern):
    (tmp_path / "sub").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    listing = tmp_path / "list.txt"
    if isinstance(content, bytes):
        listing.write_bytes(content)
    else:
        listing.write_text(content)
    with pytest.raises(ValueError, match=pattern):
        load_dataset(f"filelist:{listing}")


def test_file_list_path_must_be_a_file(tmp_path):
    with pytest.raises(ValueError, match=r"filelist path '.*' is a folder; .* use imagefolder"):
        load_dataset(f"filelist:{tmp_path}")
    with pytest.raises(ValueError, match=r"filelist path '.*no.txt' does not exist"):
        load_dataset(f"filelist:{tmp_path / 'no.txt'}")
    with pytest.raises(ValueError, match=r"dataset 'filelist' needs a path"):
        load_dataset("filelist:")


# --- npz without labels -----------------------------------------------------------------------


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8), dtype=np.uint8)


def test_npz_without_labels_is_kept_whole_with_its_own_statistics(tmp_path):
    images = _images(30)
    np.savez(tmp_path / "x.npz", images=images)
    splits = _no_warning(f"npz:{tmp_path / 'x.npz'}")
    assert not splits.has_labels
    assert torch.equal(splits.pretrain_images[:, 0], torch.from_numpy(images))
    pixels = images.astype(np.float64) / 255.0
    assert splits.mean == pytest.approx((pixels.mean(),), abs=1e-6)
    assert splits.std == pytest.approx((pixels.std(ddof=1),), abs=1e-6)
    np.savez(tmp_path / "minus.npz", images=images, labels=np.full(30, -1))
    assert not load_dataset(f"npz:{tmp_path / 'minus.npz'}").has_labels


def test_npz_with_some_labels_missing_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", images=_images(30), labels=np.r_[np.arange(27) % 3, [-1] * 3])
    with pytest.raises(ValueError, match=r"3 of 30 images have no label \(-1\); .* or for none"):
        load_dataset(f"npz:{tmp_path / 'x.npz'}")


def test_npz_folder_without_labels_pretrains_on_train_only(tmp_path):
    np.savez(tmp_path / "train.npz", images=_images(20, 1))
    np.savez(tmp_path / "test.npz", images=_images(5, 2))
    with pytest.warns(UserWarning, match=re.escape("pretraining on train.npz only")):
        splits = load_dataset(f"npz:{tmp_path}")
    assert torch.equal(splits.pretrain_images[:, 0], torch.from_numpy(_images(20, 1)))
    assert not splits.has_labels


def test_npz_folder_with_labels_only_in_test_is_refused(tmp_path):
    np.savez(tmp_path / "train.npz", images=_images(20, 1))
    np.savez(tmp_path / "test.npz", images=_images(6, 2), labels=np.arange(6) % 2)
    with pytest.raises(ValueError, match=r"'.*test.npz' has labels but '.*train.npz' has none"):
        load_dataset(f"npz:{tmp_path}")


def test_dataset_splits_refuse_no_images_and_mismatched_unlabeled_shapes():
    empty = ImageSet(torch.zeros(0, 1, 8, 8, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="holds no images to pretrain on"):
        DatasetSplits("none", empty, empty)
    other = ImageSet(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.full((2,), UNLABELED))
    with pytest.raises(ValueError, match=r"train and unlabeled images of 'x' differ in shape"):
        DatasetSplits("x", empty, empty, other)
