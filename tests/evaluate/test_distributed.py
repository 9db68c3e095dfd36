"""Features extracted by two gloo processes, each its shard, equal one process's, and so do
the kNN and linear-probe figures computed on them, and a training curve's kNN point
(``--eval-every``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.data.images import DatasetSplits, ImageSet
from eblearn.evaluate import (
    evaluate_features,
    extract_features,
    extract_features_distributed,
    knn_accuracy,
)
from eblearn.evaluate.distributed import knn_accuracy_distributed, shard_bounds
from tests.gloo import spawn_gloo

N_TRAIN, N_TEST = 23, 9  # odd: the shards differ in size


def encoder() -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh())


def images_and_labels(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.randint(0, 256, (n, 3, 2, 2), generator=generator, dtype=torch.uint8)
    images[:, 0] = (labels * 80).to(torch.uint8).view(-1, 1, 1)  # a class signal to find
    return images, labels


def transform(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0


def figures(train: torch.Tensor, test: torch.Tensor) -> dict[str, object]:
    (_, train_labels), (_, test_labels) = (
        images_and_labels(N_TRAIN, 0),
        images_and_labels(N_TEST, 1),
    )
    return evaluate_features(train, train_labels, test, test_labels, knn_k=5).as_dict()


def rank_evaluation(rank: int, world_size: int) -> dict[str, object]:
    net = encoder()
    train = extract_features_distributed(net, images_and_labels(N_TRAIN, 0)[0], transform, 4)
    test = extract_features_distributed(net, images_and_labels(N_TEST, 1)[0], transform, 4)
    return {"train": train, "test": test, "figures": figures(train, test)}


def test_two_processes_extract_and_probe_as_one(tmp_path):
    ranks = spawn_gloo(rank_evaluation, 2, tmp_path)
    net = encoder()
    train = extract_features(net, images_and_labels(N_TRAIN, 0)[0], transform)
    test = extract_features(net, images_and_labels(N_TEST, 1)[0], transform)
    expected = figures(train, test)
    for result in ranks:
        torch.testing.assert_close(result["train"], train, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(result["test"], test, rtol=1e-6, atol=1e-7)
        assert result["figures"] == expected
    assert 0.5 < expected["knn"] <= 1.0  # the probes saw the class signal


def test_one_process_is_plain_extraction():
    net, (images, _) = encoder(), images_and_labels(N_TRAIN, 0)
    torch.testing.assert_close(
        extract_features_distributed(net, images, transform),
        extract_features(net, images, transform),
    )


@pytest.mark.parametrize(("n", "parts"), [(7, 3), (2, 4), (0, 2), (12, 1)])
def test_shards_cover_every_image_once_in_order(n, parts):
    bounds = shard_bounds(n, parts)
    assert len(bounds) == parts
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(n))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_bad_shards_are_refused():
    with pytest.raises(ValueError, match="parts >= 1"):
        shard_bounds(5, 0)


def curve_data() -> DatasetSplits:
    """Train: 23 images, the last 4 unlabeled (-1, out of the kNN's bank); test: 9."""
    train_images, train_labels = images_and_labels(N_TRAIN, 0)
    train_labels[-4:] = -1
    test_images, test_labels = images_and_labels(N_TEST, 1)
    return DatasetSplits(
        "tiny", ImageSet(train_images, train_labels), ImageSet(test_images, test_labels)
    )


class Counted(nn.Module):
    """``encoder()``, counting the images it encodes."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.seen = encoder(), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return self.net(x)


def rank_knn_point(rank: int, world_size: int) -> tuple[float, int]:
    net = Counted()
    accuracy = knn_accuracy_distributed(net, curve_data(), transform, k=5, temperature=0.1)
    return accuracy, net.seen


def one_process_knn_point() -> float:
    """The curve point written from the definition: labeled train features as the bank."""
    data, net = curve_data(), encoder()
    labeled = data.train.labels >= 0
    bank = extract_features(net, data.train.images[labeled], transform)
    queries = extract_features(net, data.test.images, transform)
    return knn_accuracy(bank, data.train.labels[labeled], queries, data.test.labels, 5, 0.1)


def test_a_knn_curve_point_on_two_processes_is_one_process_point(tmp_path):
    expected = one_process_knn_point()
    ranks = spawn_gloo(rank_knn_point, 2, tmp_path)
    assert [accuracy for accuracy, _ in ranks] == [expected, expected]
    # each process encoded its half of the 19 labeled and 9 test images, not all 28
    assert [seen for _, seen in ranks] == [10 + 5, 9 + 4]
    assert 0.5 < expected <= 1.0  # the class signal was found: not a vacuous agreement
    assert knn_accuracy_distributed(encoder(), curve_data(), transform, 5, 0.1) == expected


def test_a_knn_curve_point_needs_labeled_training_images():
    data = curve_data()
    data.train.labels[:] = -1
    with pytest.raises(ValueError, match=r"needs labeled training images.*'tiny' has none"):
        knn_accuracy_distributed(encoder(), data, transform)
