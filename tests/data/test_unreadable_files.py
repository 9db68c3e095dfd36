"""Unreadable image files in ``imagefolder:`` and ``filelist:`` data: skipped, counted and named
in one warning by default, refused by ``strict``; a folder with no readable image is an error.

Each test builds a tiny folder: a few good 6×6 PNGs beside the three kinds of broken file a
photo folder collects (a JPEG cut short, a zero-byte file, a text file named ``.png``). The
images kept are compared with the good files read independently by PIL.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eblearn.data import load_dataset
from eblearn.data.unreadable import Unreadable, name_files

BROKEN = {
    "cut.jpg": "truncated or corrupt: ",
    "empty.png": "empty file",
    "notes.png": "not an image PIL recognizes",
}


def _good(path: Path, shade: int) -> np.ndarray:
    """Writes a 6×6 RGB PNG of random pixels; returns its pixels as (3, 6, 6)."""
    pixels = np.random.default_rng(shade).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels.transpose(2, 0, 1)


def _broken(folder: Path) -> None:
    """The three broken files of :data:`BROKEN`, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    encoded = io.BytesIO()
    noise = np.random.default_rng(9).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(encoded, "JPEG")
    (folder / "cut.jpg").write_bytes(encoded.getvalue()[:200])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not a picture")


def _one_warning(spec: str, **options: object):
    """Loads ``spec``, checking that exactly one warning was given; returns (splits, text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_dataset(spec, **options)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert caught[0].category is UserWarning
    return splits, str(caught[0].message)


def test_a_flat_folder_skips_the_broken_files_and_names_them(tmp_path):
    root = tmp_path / "photos"
    expected = [_good(root / f"{i}.png", i) for i in range(3)]
    _broken(root)
    splits, message = _one_warning(f"imagefolder:{root}")
    assert message.startswith(f"imagefolder:{root}: skipped 3 of 6 image files that cannot be")
    for name, reason in BROKEN.items():
        assert f"{name!r} ({reason}" in message
    assert message.endswith("pass --strict to refuse them instead")
    assert "\n" not in message
    kept = splits.unlabeled.images.numpy()
    assert kept.shape == (3, 3, 6, 6)
    assert all(np.array_equal(got, want) for got, want in zip(kept, expected, strict=True))


def test_strict_refuses_the_broken_files_by_name(tmp_path):
    root = tmp_path / "photos"
    for i in range(3):
        _good(root / f"{i}.png", i)
    _broken(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused without a warning first
        with pytest.raises(ValueError) as error:
            load_dataset(f"imagefolder:{root}", strict=True)
    message = str(error.value)
    assert message.startswith(f"imagefolder:{root}: 3 of 6 image files cannot be read: ")
    for name, reason in BROKEN.items():
        assert f"{name!r} ({reason}" in message
    assert "strict mode (--strict) refuses unreadable files" in message


def test_a_folder_of_only_broken_files_is_an_error_naming_it_and_the_suffixes(tmp_path):
    root = tmp_path / "broken"
    _broken(root)
    for strict in (False, True):
        with pytest.raises(ValueError) as error:
            load_dataset(f"imagefolder:{root}", strict=strict)
        message = str(error.value)
        assert message.startswith(
            f"image folder {str(root)!r} holds no readable image: its 3 image file(s) cannot "
            "be read: "
        )
        assert all(repr(name) in message for name in BROKEN)
        assert "(.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff) that PIL can decode" in message
    (tmp_path / "void").mkdir()
    with pytest.raises(ValueError, match=r"'.*void' is empty: no image files under it \(\.png"):
        load_dataset(f"imagefolder:{tmp_path / 'void'}")


def test_class_folders_keep_the_labels_of_the_readable_images(tmp_path):
    root = tmp_path / "tree"
    cats = [_good(root / "cat" / f"{i}.png", i) for i in range(5)]
    dogs = [_good(root / "dog" / f"{i}.png", 10 + i) for i in range(5)]
    _broken(root / "cat")
    splits, message = _one_warning(f"imagefolder:{root}")
    assert "skipped 3 of 13 image files" in message and "'cat/cut.jpg' (truncated" in message
    images = np.concatenate([splits.train.images.numpy(), splits.test.images.numpy()])
    labels = np.concatenate([splits.train.labels.numpy(), splits.test.labels.numpy()])
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 5
    for image, label in zip(images, labels, strict=True):  # each image under its own class
        assert any(np.array_equal(image, good) for good in (cats, dogs)[label])


def test_a_class_folder_of_only_broken_files_is_refused(tmp_path):
    root = tmp_path / "tree"
    for i in range(3):
        _good(root / "cat" / f"{i}.png", i)
    _broken(root / "dog")
    refusal = r"class folder\(s\) 'dog' under '.*tree' hold no readable image files"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error alone, without a warning before it
        for strict in (False, True):
            with pytest.raises(ValueError, match=refusal):
                load_dataset(f"imagefolder:{root}", strict=strict)


def test_train_and_test_folders_give_one_warning_for_both(tmp_path):
    root = tmp_path / "split"
    for part in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(2):
                _good(root / part / cls / f"{i}.png", i)
    (root / "train" / "a" / "empty.png").write_bytes(b"")
    (root / "test" / "b" / "notes.png").write_text("hello")
    splits, message = _one_warning(f"imagefolder:{root}")
    assert "skipped 2 of 10 image files" in message
    assert "'train/a/empty.png' (empty file)" in message
    assert "'test/b/notes.png' (not an image" in message
    assert (len(splits.train), len(splits.test)) == (4, 4)
    with pytest.raises(ValueError, match=r"2 of 10 image files cannot be read: 'train/a/empty"):
        load_dataset(f"imagefolder:{root}", strict=True)


def test_many_broken_files_name_five_and_count_the_rest(tmp_path):
    root = tmp_path / "photos"
    _good(root / "good.png", 0)
    for i in range(8):
        (root / f"bad{i}.png").write_bytes(b"")
    _, message = _one_warning(f"imagefolder:{root}")
    assert "skipped 8 of 9 image files" in message
    named = re.findall(r"'(bad\d\.png)' \(empty file\)", message)
    assert named == [f"bad{i}.png" for i in range(5)]
    assert "and 3 more; pass --strict" in message


def test_name_files_counts_what_it_does_not_show():
    base = Path("/data")
    files = [Unreadable(base / "x" / f"{i}.png", "empty file") for i in range(3)]
    assert (
        name_files(files, base, shown=2)
        == "'x/0.png' (empty file), 'x/1.png' (empty file) and 1 more"
    )
    assert name_files(files[:1], base) == "'x/0.png' (empty file)"
    outside = [Unreadable(Path("/elsewhere/y.png"), "empty file")]
    assert name_files(outside, base) == "'/elsewhere/y.png' (empty file)"


def test_file_lists_skip_broken_entries_in_order_or_refuse_them(tmp_path):
    expected = [_good(tmp_path / "pics" / f"{i}.png", i) for i in range(2)]
    _broken(tmp_path / "pics")
    listing = tmp_path / "list.txt"
    listing.write_text("pics/1.png\npics/empty.png\npics/0.png\npics/cut.jpg\n")
    splits, message = _one_warning(f"filelist:{listing}")
    assert message.startswith(f"filelist:{listing}: skipped 2 of 4 image files")
    assert "'pics/empty.png' (empty file), 'pics/cut.jpg' (truncated or corrupt" in message
    kept = splits.unlabeled.images.numpy()
    assert np.array_equal(kept[0], expected[1]) and np.array_equal(kept[1], expected[0])
    with pytest.raises(ValueError, match=r"2 of 4 image files cannot be read: 'pics/empty.png'"):
        load_dataset(f"filelist:{listing}", strict=True)
    listing.write_text("pics/notes.png\npics/empty.png\n")
    with pytest.raises(ValueError, match=r"file list '.*list.txt' holds no readable image"):
        load_dataset(f"filelist:{listing}")


def test_clean_data_gives_no_warning_and_strict_must_be_a_bool(tmp_path):
    root = tmp_path / "photos"
    for i in range(2):
        _good(root / f"{i}.png", i)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_dataset(f"imagefolder:{root}", strict=True).unlabeled) == 2
    with pytest.raises(ValueError, match=r"strict must be True or False, got 'yes'"):
        load_dataset(f"imagefolder:{root}", strict="yes")  # type: ignore[arg-type]
