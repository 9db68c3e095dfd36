"""scikit-learn's embedded 8×8 handwritten digits: the default data set, no download needed."""

from __future__ import annotations

import torch

from eblearn.data.images import DatasetSplits, ImageSet, to_uint8_images
from eblearn.data.registry import DATASETS, DatasetRequest

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


@DATASETS.register("digits")
def load_digits(request: DatasetRequest) -> DatasetSplits:
    """scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes), embedded.

    The split is fixed and class-stratified, the one scikit-learn users know:
    ``train_test_split(test_size=0.25, stratify=y, random_state=0)`` (1,347 train, 450 test).
    Pixel values 0..16 are scaled to 0..255.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = to_uint8_images(torch.tensor(bunch.images, dtype=torch.float32) / 16.0, "digits")
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    classes = tuple(str(c) for c in bunch.target_names)
    train_index, test_index = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=DIGITS_TEST_FRACTION,
        stratify=bunch.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    train_index, test_index = torch.as_tensor(train_index), torch.as_tensor(test_index)
    every = ImageSet(images, labels, classes)
    return DatasetSplits("digits", every.subset(train_index), every.subset(test_index))
