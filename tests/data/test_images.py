import numpy as np
import pytest
import torch

from eblearn.data import ImageSet, stratified_split, to_uint8_images


def test_layouts_become_nchw_uint8():
    assert to_uint8_images(np.zeros((5, 8, 8)), "x").shape == (5, 1, 8, 8)
    assert to_uint8_images(np.zeros((5, 8, 8, 3), np.uint8), "x").shape == (5, 3, 8, 8)
    assert to_uint8_images(np.zeros((5, 3, 8, 8), np.uint8), "x").shape == (5, 3, 8, 8)


def test_float_scales():
    unit = to_uint8_images(np.full((2, 4, 4), 0.5), "x")
    assert unit.dtype == torch.uint8 and int(unit[0, 0, 0, 0]) == 128
    wide = to_uint8_images(np.full((2, 4, 4), 200.0), "x")
    assert int(wide[0, 0, 0, 0]) == 200


def test_nan_and_inf_are_refused_with_location():
    images = np.zeros((3, 4, 4), np.float32)
    images[1, 2, 3] = np.nan
    with pytest.raises(
        ValueError, match=r"holds 1 NaN or Inf value\(s\) \(first at index \(1, 0, 2, 3\)\)"
    ):
        to_uint8_images(images, "my images")
    images[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        to_uint8_images(images, "my images")


def test_empty_and_out_of_range_are_refused():
    with pytest.raises(ValueError, match="is empty"):
        to_uint8_images(np.zeros((0, 4, 4)), "x")
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        to_uint8_images(np.full((1, 4, 4), 300, np.int64), "x")
    with pytest.raises(ValueError, match="shape"):
        to_uint8_images(np.zeros((4, 4)), "x")


def test_image_set_checks_its_fields():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must have shape"):
        ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="paths must name one file per image"):
        ImageSet(
            torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), (), ("a",)
        )


def test_subsets_keep_each_image_with_its_file():
    values = torch.tensor([5, 3, 8, 1, 9], dtype=torch.uint8)
    images = values.view(5, 1, 1, 1).expand(5, 1, 2, 2).contiguous()
    files = tuple(f"img{int(v)}.png" for v in values)
    every = ImageSet(images, torch.zeros(5, dtype=torch.long), (), files)
    for index in (torch.tensor([4, 0, 2]), values > 4, torch.tensor([], dtype=torch.long)):
        part = every.subset(index)
        assert part.paths == tuple(f"img{int(v)}.png" for v in part.images[:, 0, 0, 0])
    assert every.subset(torch.tensor([4, 0, 2])).paths == ("img9.png", "img5.png", "img8.png")
    no_files = ImageSet(images, torch.zeros(5, dtype=torch.long))
    assert no_files.subset(torch.tensor([1, 2])).paths == ()


def test_stratified_split_keeps_class_proportions_and_is_reproducible():
    labels = torch.tensor([0] * 40 + [1] * 20 + [2] * 8)
    train, test = stratified_split(labels, 0.25, seed=3)
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert len(train) + len(test) == len(labels)
    assert torch.bincount(labels[test]).tolist() == [10, 5, 2]
    again_train, again_test = stratified_split(labels, 0.25, seed=3)
    assert torch.equal(train, again_train) and torch.equal(test, again_test)
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(labels, 1.5, seed=0)
