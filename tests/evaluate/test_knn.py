import math

import pytest
import torch

from eblearn.evaluate import knn_accuracy, knn_scores


def naive_knn_scores(train, labels, test, k, temperature, classes):
    scores = torch.zeros(len(test), classes)
    for i, query in enumerate(test):
        sims = []
        for j, key in enumerate(train):
            cos = float(query @ key) / (float(query.norm()) * float(key.norm()))
            sims.append((cos, j))
        sims.sort(key=lambda pair: -pair[0])
        for cos, j in sims[:k]:
            scores[i, int(labels[j])] += math.exp(cos / temperature)
    return scores


def test_scores_match_a_loop_reference():
    train, test = torch.randn(40, 6), torch.randn(9, 6)
    labels = torch.randint(0, 4, (40,))
    ours = knn_scores(train, labels, test, k=7, temperature=0.5, num_classes=4, chunk_size=4)
    torch.testing.assert_close(
        ours, naive_knn_scores(train, labels, test, 7, 0.5, 4), rtol=1e-4, atol=1e-4
    )


def test_accuracy_on_separable_clusters_and_cosine_invariance():
    centers = torch.eye(3) * 10
    train = torch.cat([centers[c] + torch.randn(20, 3) for c in range(3)])
    labels = torch.arange(3).repeat_interleave(20)
    assert knn_accuracy(train, labels, train, labels, k=5) == 1.0
    # Cosine similarity ignores scale.
    assert knn_accuracy(train * 7, labels, train, labels, k=5) == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="differ in dimension"):
        knn_scores(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), torch.randn(2, 5))
    with pytest.raises(ValueError, match="k must be > 0"):
        knn_scores(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), torch.randn(2, 3), k=0)
    with pytest.raises(ValueError, match="train_labels must have shape"):
        knn_scores(torch.randn(4, 3), torch.zeros(3, dtype=torch.long), torch.randn(2, 3))
