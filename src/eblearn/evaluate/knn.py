"""Weighted k-nearest-neighbour classification on cosine similarity.

Each of the ``k`` most similar training features votes for its class with weight
``exp(s / T)``, ``s`` the cosine similarity (Wu et al. [0], the protocol of InstDisc, MoCo and
DINO's kNN monitor).

[0] Wu et al., Unsupervised Feature Learning via Non-Parametric Instance Discrimination, CVPR
    2018, https://arxiv.org/abs/1805.01978
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn._validate import check_ndim, check_positive


@torch.no_grad()
def knn_scores(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> Tensor:
    """Class scores ``(N_test, num_classes)``: summed ``exp(cos/T)`` votes of the k nearest.

    Args:
        train_features: ``(N, D)`` features of the labeled set.
        train_labels: ``(N,)`` labels in ``[0, num_classes)``.
        test_features: ``(M, D)`` features to classify.
        k: Number of neighbours (capped at N).
        temperature: Vote temperature ``T``.
        num_classes: Number of classes; inferred from the labels when ``None``.
        chunk_size: Test features scored at once (bounds memory at ``chunk_size × N``).

    Raises:
        ValueError: On mismatched shapes or a non-positive ``k`` or ``temperature``.
    """
    check_ndim(train_features, 2, "train_features", "(N, D)")
    check_ndim(test_features, 2, "test_features", "(M, D)")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features differ in dimension: "
            f"{train_features.shape[1]} vs {test_features.shape[1]}"
        )
    if train_labels.shape != (len(train_features),):
        raise ValueError(
            f"train_labels must have shape ({len(train_features)},), "
            f"got {tuple(train_labels.shape)}"
        )
    check_positive(k, "k")
    check_positive(temperature, "temperature")
    classes = int(train_labels.max()) + 1 if num_classes is None else num_classes
    k = min(k, len(train_features))
    bank = F.normalize(train_features.float(), dim=1)
    scores = []
    for chunk in test_features.float().split(chunk_size):
        similarity = F.normalize(chunk, dim=1) @ bank.T  # (m, N)
        top_similarity, top_index = similarity.topk(k, dim=1)  # (m, k)
        votes = torch.zeros(len(chunk), classes, device=chunk.device)
        votes.scatter_add_(1, train_labels[top_index], (top_similarity / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of the weighted kNN classifier (see :func:`knn_scores`).

    Example:
        >>> train = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> knn_accuracy(train, torch.tensor([0, 1]), train * 2, torch.tensor([0, 1]), k=1)
        1.0
    """
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_scores(train_features, train_labels, test_features, k, temperature, num_classes)
    return float((scores.argmax(1) == test_labels.to(scores.device)).float().mean())
