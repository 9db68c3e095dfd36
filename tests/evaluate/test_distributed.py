"""Features extracted by two gloo processes, each its shard, equal one process's, and so do
the kNN and linear-probe figures computed on them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.evaluate import evaluate_features, extract_features, extract_features_distributed
from eblearn.evaluate.distributed import shard_bounds
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
