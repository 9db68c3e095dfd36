"""Bad data inputs get a ValueError naming the file, the problem and what is expected.

Every case builds its own tiny files (20 images of 8×8) in ``tmp_path``; none of them may end
in a raw numpy/PIL/torch traceback or in a silently wrong data set.
"""

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eblearn.data import DatasetSplits, ImageSet, load_dataset, to_labels, to_uint8_images

N = 20


def _images(n: int = N, shape: tuple[int, ...] = (8, 8, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _labels(n: int = N) -> np.ndarray:
    return np.arange(n) % 2


def _npz(path: Path, **arrays: object) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


def _refused(spec: str, pattern: str) -> str:
    with pytest.raises(ValueError, match=pattern) as error:
        load_dataset(spec)
    return str(error.value)


# --- npz: array kinds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "labels", "pattern"),
    [
        (np.array(["a", "b"] * 10), _labels(), r"'images' in .* holds strings \(dtype <U1\)"),
        (_images(), np.array(["a", "b"] * 10), r"'labels' in .* holds strings \(dtype <U1\)"),
        (_images().astype(np.complex64), _labels(), r"'images' in .* holds complex numbers"),
        (_images(), _labels().astype(np.complex64), r"'labels' in .* holds complex numbers"),
        (_images() > 128, _labels(), r"'images' in .* are booleans; .*multiply binary"),
    ],
    ids=["str-images", "str-labels", "complex-images", "complex-labels", "bool-images"],
)
def test_npz_arrays_of_the_wrong_kind_are_refused(tmp_path, images, labels, pattern):
    spec = _npz(tmp_path / "bad.npz", images=images, labels=labels)
    message = _refused(spec, pattern)
    assert repr(str(tmp_path / "bad.npz")) in message and "expected" in message


def test_npz_object_arrays_are_refused_without_unpickling(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[:] = [_images(1), _images(2)]
    spec = _npz(tmp_path / "objects.npz", images=ragged, labels=_labels())
    _refused(spec, r"'images' in '.*objects.npz' is an object array \(pickled Python objects\)")


def test_unreadable_npz_files_say_why(tmp_path):
    np.savez(tmp_path / "good.npz", images=_images(), labels=_labels())
    whole = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    _refused(f"npz:{tmp_path / 'cut.npz'}", r"'.*cut.npz' is not a readable .npz archive: trunc")
    (tmp_path / "text.npz").write_text("images,labels\n1,2\n")
    _refused(f"npz:{tmp_path / 'text.npz'}", "neither a zip archive of arrays nor a .npy array")
    (tmp_path / "empty.npz").write_bytes(b"")
    _refused(f"npz:{tmp_path / 'empty.npz'}", "not a readable .npz archive: the file is empty")
    np.save(tmp_path / "one.npy", _images())
    _refused(f"npz:{tmp_path / 'one.npy'}", r"one .npy array of shape \(20, 8, 8, 3\)")


def test_npz_member_with_a_bad_crc_is_reported_as_corrupt(tmp_path):
    np.savez(tmp_path / "good.npz", images=np.zeros((N, 8, 8), np.uint8), labels=_labels())
    data = bytearray((tmp_path / "good.npz").read_bytes())
    start = data.index(bytes(64))  # inside the stored (uncompressed) pixels of 'images'
    data[start : start + 8] = b"\xff" * 8
    (tmp_path / "flipped.npz").write_bytes(bytes(data))
    _refused(f"npz:{tmp_path / 'flipped.npz'}", r"'images' is truncated or corrupt \(Bad CRC")


# --- npz: labels -------------------------------------------------------------------------------


def test_labels_below_the_unlabeled_marker_are_refused(tmp_path):
    spec = _npz(tmp_path / "neg.npz", images=_images(), labels=np.r_[_labels(N - 1), -3])
    _refused(spec, r"hold 1 value\(s\) below -1 \(first: -3 at index 19\); expected integer")


def test_fractional_labels_are_refused_and_whole_floats_accepted(tmp_path):
    half = np.r_[_labels(N - 1).astype(float), 1.5]
    _refused(
        _npz(tmp_path / "half.npz", images=_images(), labels=half),
        r"1 value\(s\) with a fractional part \(first: 1.5 at index 19\)",
    )
    nan = np.r_[_labels(N - 1).astype(float), np.nan]
    _refused(_npz(tmp_path / "nan.npz", images=_images(), labels=nan), "NaN or Inf value")
    whole = load_dataset(_npz(tmp_path / "w.npz", images=_images(), labels=_labels() * 1.0))
    exact = load_dataset(_npz(tmp_path / "i.npz", images=_images(), labels=_labels()))
    assert whole.train.labels.dtype == torch.int64
    assert torch.equal(whole.train.labels, exact.train.labels)
    assert torch.equal(whole.test.labels, exact.test.labels)


def test_labels_shape_and_count_must_match_the_images(tmp_path):
    _refused(
        _npz(tmp_path / "short.npz", images=_images(), labels=_labels(15)),
        r"holds 20 images but 15 labels; expected one label per image",
    )
    _refused(
        _npz(tmp_path / "wide.npz", images=_images(), labels=np.stack([_labels()] * 2, 1)),
        r"must have shape \(N,\) or \(N, 1\), got shape \(20, 2\)",
    )
    column = load_dataset(_npz(tmp_path / "col.npz", images=_images(), labels=_labels()[:, None]))
    assert len(column.train) + len(column.test) == N


def test_too_few_class_names_are_refused(tmp_path):
    labels = np.r_[np.arange(N - 1) % 3, 7]
    spec = _npz(tmp_path / "c.npz", images=_images(), labels=labels, classes=np.array(list("abc")))
    _refused(spec, r"has 3 names but the labels reach 7; expected at least 8 names")


@pytest.mark.parametrize("top", [10**6, 50])
def test_more_classes_than_labeled_images_are_refused(tmp_path, top):
    spec = _npz(tmp_path / "sparse.npz", images=_images(), labels=np.r_[_labels(N - 1), top])
    _refused(
        spec,
        rf"largest label is {top}, so there are {top + 1} classes but only 20 images are "
        r"labeled; .*remap sparse ids to 0..K-1",
    )


def test_class_count_limit_counts_train_and_test_together(tmp_path):
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.savez(folder / "train.npz", images=_images(), labels=np.arange(N))  # 20 classes
    np.savez(folder / "test.npz", images=_images(4), labels=np.arange(4))
    splits = load_dataset(f"npz:{folder}")  # K = 20 <= 24 labeled images
    assert splits.num_classes == N
    np.savez(folder / "train.npz", images=_images(), labels=np.r_[np.arange(N - 1), 24])
    _refused(f"npz:{folder}", "there are 25 classes but only 24 images are labeled")
    names = np.array([f"c{i}" for i in range(30)])
    np.savez(folder / "train.npz", images=_images(), labels=_labels(), classes=names)
    np.savez(folder / "test.npz", images=_images(4), labels=_labels(4))
    _refused(f"npz:{folder}", "'classes' names 30 classes but only 24 images are labeled")


def test_npz_folder_files_must_agree_on_classes(tmp_path):
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.savez(folder / "train.npz", images=_images(), labels=_labels(), classes=np.array(["x", "y"]))
    np.savez(
        folder / "test.npz", images=_images(4), labels=_labels(4), classes=np.array(["p", "q"])
    )
    _refused(f"npz:{folder}", r"'classes' differ between '.*train.npz' \('x', 'y'\) and")
    np.savez(folder / "train.npz", images=_images(), labels=_labels())
    np.savez(folder / "test.npz", images=_images(4), labels=np.array([0, 1, 5, 2]))
    _refused(f"npz:{folder}", r"test.npz' hold class id\(s\) 2, 5 that no image of '.*train.npz'")


def test_class_names_must_be_a_flat_list_of_distinct_names(tmp_path):
    grid = np.array([["a", "b"]])
    _refused(
        _npz(tmp_path / "grid.npz", images=_images(), labels=_labels(), classes=grid),
        r"'classes' in .* has dtype <U1 and shape \(1, 2\); expected a 1-D array",
    )
    twice = np.array(["a", "a"])
    _refused(
        _npz(tmp_path / "twice.npz", images=_images(), labels=_labels(), classes=twice),
        "'classes' in .* repeats 'a'; expected K distinct class names",
    )


# --- npz: image layouts and ranges -------------------------------------------------------------


def _sixteen_bit() -> np.ndarray:
    images = np.full((N, 8, 8), 7, np.uint16)
    images[3, 2, 1] = 300
    return images


@pytest.mark.parametrize(
    ("images", "pattern"),
    [
        (_images(shape=(8, 8, 5)), r"have shape \(20, 8, 8, 5\): neither \(N, H, W, C\) nor"),
        (_images(shape=(8,)), r"must have shape \(N, H, W\).*got shape \(20, 8\)"),
        (_sixteen_bit(), r"must lie in \[0, 255\], got \[7, 300\]; expected 8-bit images"),
        (np.zeros((N, 0, 8), np.uint8), r"have an empty side: .* = \(20, 1, 0, 8\)"),
        (np.zeros((0, 8, 8), np.uint8), "is empty: it holds 0 images"),
    ],
    ids=["five-channels", "2d", "uint16", "zero-height", "no-images"],
)
def test_bad_image_arrays_are_refused(tmp_path, images, pattern):
    labels = _labels(len(images))
    _refused(_npz(tmp_path / "x.npz", images=images, labels=labels), rf"'images' in .*{pattern}")


def test_tiny_channels_last_images_keep_their_layout():
    pixels = _images(2, (4, 4, 3))  # 4×4 RGB: also readable as 4 channels of 4×3
    assert torch.equal(to_uint8_images(pixels, "x"), torch.from_numpy(pixels).permute(0, 3, 1, 2))
    planes = _images(2, (3, 4, 4))  # 3 channels of 4×4: also readable as 3×4 with 4 channels
    assert torch.equal(to_uint8_images(planes, "x"), torch.from_numpy(planes))


def test_to_labels_refuses_values_and_keeps_whole_numbers():
    assert to_labels(np.array([[2.0], [0.0], [-1.0]]), "y").tolist() == [2, 0, -1]
    assert to_labels(torch.tensor([True, False]), "y").tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"y hold 1 value\(s\) below -1 \(first: -2 at index 1\)"):
        to_labels(torch.tensor([0, -2]), "y")
    with pytest.raises(ValueError, match="y holds complex numbers"):
        to_labels(torch.tensor([1j]), "y")
    with pytest.raises(ValueError, match=r"cannot be read as one array"):
        to_uint8_images([np.zeros((4, 4)), np.zeros((5, 5))], "x")


# --- ImageSet and DatasetSplits ---------------------------------------------------------------


def test_image_set_checks_labels_against_its_classes():
    pixels = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    per_name = r"labels lie in \[-3, 1\]; expected class ids 0..1 \(one per class name\)"
    with pytest.raises(ValueError, match=per_name):
        ImageSet(pixels, torch.tensor([0, 1, -3]), ("a", "b"))
    with pytest.raises(ValueError, match=r"labels lie in \[0, 2\]; expected class ids 0..1"):
        ImageSet(pixels, torch.tensor([0, 1, 2]), ("a", "b"))
    with pytest.raises(ValueError, match=r"labels must be an int64 tensor, got torch\.float32"):
        ImageSet(pixels, torch.tensor([0.0, 1.0, 1.5]), ("a", "b"))
    unnamed = ImageSet(pixels, torch.tensor([0, 5, -1]))  # no names: any id >= -1
    assert unnamed.labels.tolist() == [0, 5, -1]


def test_splits_must_name_the_same_classes():
    pixels = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    train = ImageSet(pixels, torch.tensor([0, 1]), ("cat", "dog"))
    test = ImageSet(pixels, torch.tensor([0, 1]), ("dog", "cat"))
    with pytest.raises(ValueError, match=r"train and test splits of 'toy' name different classes"):
        DatasetSplits("toy", train, test)


# --- imagefolder -------------------------------------------------------------------------------


def _tree(root: Path, classes: tuple[str, ...] = ("a", "b"), n: int = 3) -> Path:
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(_images(1, seed=10 * k + i)[0]).save(root / cls / f"{i}.png")
    return root


def _strictly_refused(spec: str, pattern: str) -> str:
    """Skipped with a warning matching ``pattern`` by default; refused under ``strict``."""
    with pytest.warns(UserWarning, match=pattern):
        load_dataset(spec)
    with pytest.raises(ValueError, match=pattern) as error:
        load_dataset(spec, strict=True)
    return str(error.value)


def test_truncated_jpeg_is_named(tmp_path):
    root = _tree(tmp_path / "tree")
    encoded = io.BytesIO()
    Image.fromarray(_images(1, (32, 32, 3))[0]).save(encoded, "JPEG")
    (root / "a" / "cut.jpg").write_bytes(encoded.getvalue()[:200])
    message = _strictly_refused(f"imagefolder:{root}", r"'a/cut.jpg' \(truncated or corrupt: ")
    assert "replace or delete them" in message


def test_non_image_file_with_an_image_suffix_is_named(tmp_path):
    root = _tree(tmp_path / "tree")
    (root / "b" / "notes.png").write_text("not a picture")
    _strictly_refused(f"imagefolder:{root}", r"'b/notes.png' \(not an image PIL recognizes\)")


def test_image_modes_are_converted_to_rgb(tmp_path):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    rgba = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    index = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    deep = rng.integers(0, 65536, (8, 8), dtype=np.uint16)
    train = tmp_path / "tree" / "train"
    for cls in ("a", "b"):
        (train / cls).mkdir(parents=True)
        (tmp_path / "tree" / "test" / cls).mkdir(parents=True)
        Image.fromarray(gray).save(tmp_path / "tree" / "test" / cls / "0.png")
    Image.fromarray(gray).save(train / "a" / "0_gray.png")
    Image.fromarray(rgba, "RGBA").save(train / "a" / "1_rgba.png")
    paletted = Image.fromarray(index, "P")
    paletted.putpalette(palette.tobytes())
    paletted.save(train / "a" / "2_palette.png")
    Image.fromarray(deep).save(train / "a" / "3_deep.png")  # 16-bit gray
    Image.fromarray(gray > 127).save(train / "b" / "0_bits.bmp")
    splits = load_dataset(f"imagefolder:{tmp_path / 'tree'}")
    expected = [
        np.stack([gray] * 3),
        rgba[..., :3].transpose(2, 0, 1),
        palette[index].transpose(2, 0, 1),
        np.stack([np.round(deep / 257.0).astype(np.uint8)] * 3),
        np.stack([np.where(gray > 127, 255, 0).astype(np.uint8)] * 3),
    ]
    assert splits.train.labels.tolist() == [0, 0, 0, 0, 1]
    for got, want in zip(splits.train.images, expected, strict=True):
        assert np.array_equal(got.numpy(), want)


def test_float_images_are_skipped_or_refused_by_name(tmp_path):
    root = _tree(tmp_path / "tree")
    Image.fromarray(np.ones((8, 8), np.float32)).save(root / "a" / "depth.tif")
    _strictly_refused(
        f"imagefolder:{root}", r"'a/depth.tif' \(cannot be converted: its pixels are floats"
    )


def test_imagefolder_path_must_be_a_folder(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    _refused(
        f"imagefolder:{tmp_path / 'x.png'}",
        re.escape(f"imagefolder path {str(tmp_path / 'x.png')!r} must be a folder of images, ")
        + "got a file; .* use filelist:PATH",
    )


def test_empty_class_folders_are_refused(tmp_path):
    root = _tree(tmp_path / "tree")
    (root / "c").mkdir()
    _refused(f"imagefolder:{root}", r"class folder\(s\) 'c' under '.*tree' hold no readable image")
    (root / "c").rmdir()
    (root / "d").mkdir()
    (root / "d" / "readme.txt").write_text("no images here")
    _refused(f"imagefolder:{root}", r"class folder\(s\) 'd' under")
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir()
    _refused(f"imagefolder:{empty}", r"image folder '.*empty' is empty: no image files")


def test_test_classes_must_be_training_classes(tmp_path):
    _tree(tmp_path / "tree" / "train")
    _tree(tmp_path / "tree" / "test", ("a", "b", "zebra"), n=1)
    _refused(
        f"imagefolder:{tmp_path / 'tree'}",
        r"test folder '.*test' has class folder\(s\) 'zebra' that '.*train' lacks",
    )


# --- specs -------------------------------------------------------------------------------------


def test_bad_specs_and_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="image_size must be a positive integer or None, got 0"):
        load_dataset(f"imagefolder:{_tree(tmp_path / 'tree')}", image_size=0)
    with pytest.raises(ValueError, match=r"dataset spec must be a string .*, got PosixPath"):
        load_dataset(tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown dataset ''; valid datasets: cifar10"):
        load_dataset(":x")
    with pytest.raises(ValueError, match=r"dataset 'npz' needs a path: use 'npz:PATH'"):
        load_dataset("npz:")
    with pytest.raises(ValueError, match=r"dataset 'digits' takes no argument, got 'digits:foo'"):
        load_dataset("digits:foo")


def test_hidden_files_are_skipped_and_a_lone_train_folder_is_refused(tmp_path):
    root = _tree(tmp_path / "tree")
    (root / "a" / "._0.png").write_bytes(b"\x00\x05 AppleDouble")  # macOS metadata
    (root / ".ipynb_checkpoints").mkdir()
    splits = load_dataset(f"imagefolder:{root}")
    assert splits.train.classes == ("a", "b")
    assert len(splits.train) + len(splits.test) == 6
    _tree(tmp_path / "split" / "train")
    _refused(
        f"imagefolder:{tmp_path / 'split'}",
        r"has a 'train' folder but no test or val folder beside it",
    )
