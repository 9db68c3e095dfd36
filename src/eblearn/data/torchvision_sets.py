"""torchvision's data sets, read whole into memory: CIFAR-10/100, STL-10, MNIST, Fashion-MNIST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from eblearn.data.images import UNLABELED, DatasetSplits, ImageSet, to_uint8_images
from eblearn.data.registry import DATASETS, DatasetRequest


class DatasetFilesMissingError(ValueError):
    """A downloadable data set is absent from disk and could not (or may not) be downloaded."""


def _open(factory: Callable[..., Any], title: str, request: DatasetRequest, **kwargs: Any) -> Any:
    root = request.root / title
    try:
        return factory(root=str(root), download=request.download, **kwargs)
    except (RuntimeError, OSError) as error:  # torchvision: "Dataset not found"; offline: URLError
        how = (
            "the download failed (no network?)"
            if request.download
            else "pass --download (Python: download=True) to fetch it"
        )
        raise DatasetFilesMissingError(
            f"{title} was not found under {str(root)!r} and {how}. Put torchvision's files for "
            f"{title} in {str(root)!r} (or set $EBLEARN_DATA / --data-root), or convert it to "
            f"arrays and use 'npz:PATH'. Cause: {error}"
        ) from error


def _labels(values: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=torch.int64)


def _train_test(request: DatasetRequest, title: str, factory: Callable[..., Any]) -> DatasetSplits:
    """Reads a data set whose torchvision class takes ``train=True/False``."""
    parts = [_open(factory, title, request, train=flag) for flag in (True, False)]
    train, test = (
        ImageSet(to_uint8_images(p.data, title), _labels(p.targets), tuple(p.classes))
        for p in parts
    )
    return DatasetSplits(title.lower(), train, test)


@DATASETS.register("cifar10")
def load_cifar10(request: DatasetRequest) -> DatasetSplits:
    """CIFAR-10: 50,000 train and 10,000 test 32×32 color images, 10 classes (torchvision)."""
    from torchvision.datasets import CIFAR10

    return _train_test(request, "CIFAR10", CIFAR10)


@DATASETS.register("cifar100")
def load_cifar100(request: DatasetRequest) -> DatasetSplits:
    """CIFAR-100: 50,000 train and 10,000 test 32×32 color images, 100 classes (torchvision)."""
    from torchvision.datasets import CIFAR100

    return _train_test(request, "CIFAR100", CIFAR100)


@DATASETS.register("mnist")
def load_mnist(request: DatasetRequest) -> DatasetSplits:
    """MNIST: 60,000 train and 10,000 test 28×28 handwritten digits (torchvision)."""
    from torchvision.datasets import MNIST

    return _train_test(request, "MNIST", MNIST)


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(request: DatasetRequest) -> DatasetSplits:
    """Fashion-MNIST: 60,000 train and 10,000 test 28×28 clothing images (torchvision)."""
    from torchvision.datasets import FashionMNIST

    return _train_test(request, "FashionMNIST", FashionMNIST)


@DATASETS.register("stl10")
def load_stl10(request: DatasetRequest) -> DatasetSplits:
    """STL-10: 5,000 train, 8,000 test and 100,000 unlabeled 96×96 color images (torchvision)."""
    from torchvision.datasets import STL10

    def read(split: str) -> ImageSet:
        part = _open(STL10, "STL10", request, split=split)
        labels = _labels(part.labels)
        labels[labels < 0] = UNLABELED
        return ImageSet(to_uint8_images(part.data, "STL10"), labels, tuple(part.classes))

    return DatasetSplits("stl10", read("train"), read("test"), unlabeled=read("unlabeled"))
