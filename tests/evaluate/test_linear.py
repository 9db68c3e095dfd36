import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from eblearn.evaluate import LinearProbe, few_label_indices, few_label_probe


def test_probe_matches_scikit_learn_logistic_regression():
    """Same objective as sklearn's LogisticRegression(C) on standardized features."""
    generator = np.random.default_rng(0)
    features = generator.normal(size=(300, 6))
    labels = (features[:, 0] + 0.5 * features[:, 1] + generator.normal(size=300) > 0).astype(int)
    labels += (features[:, 2] > 1).astype(int)  # three classes
    probe = LinearProbe(c_values=(0.5,), max_iter=500).fit(
        torch.tensor(features, dtype=torch.float64).float(), torch.tensor(labels)
    )
    # sklearn's StandardScaler uses the biased std; ours the unbiased one: match it.
    x = (features - features.mean(0)) / features.std(0, ddof=1)
    reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(x, labels)
    ours = torch.softmax(probe.decision_function(torch.tensor(features).float()), 1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(x), atol=2e-3)
    assert probe.c_ == 0.5


def test_top_k_and_selection_of_c():
    features = torch.cat([torch.randn(60, 4) + 3 * torch.eye(4)[c % 4] for c in range(4)])
    labels = torch.arange(4).repeat_interleave(60)
    probe = LinearProbe(c_values=(0.01, 1.0, 100.0)).fit(features, labels)
    assert probe.score(features, labels, top_k=4) == 1.0
    assert probe.score(features, labels) > 0.9
    # Well-separated classes: every C is perfect on the validation split, and the tie goes
    # to the first C of the grid, in either order.
    separable = torch.cat([0.1 * torch.randn(60, 4) + 3 * torch.eye(4)[c] for c in range(4)])
    for grid in ((0.01, 1.0, 100.0), (100.0, 1.0, 0.01)):
        assert LinearProbe(c_values=grid).fit(separable, labels).c_ == grid[0]
    # Under 5 samples per class there is no validation split: C = 1, else the middle C.
    few = separable[::20], labels[::20]  # 3 per class
    assert LinearProbe(c_values=(0.01, 1.0, 100.0)).fit(*few).c_ == 1.0
    assert LinearProbe(c_values=(0.01, 0.1, 100.0)).fit(*few).c_ == 0.1


def test_few_label_indices_are_class_balanced():
    labels = torch.tensor([0] * 100 + [1] * 50 + [2] * 5)
    index = few_label_indices(labels, 0.1, seed=0)
    assert torch.bincount(labels[index]).tolist() == [10, 5, 1]
    assert not torch.equal(index, few_label_indices(labels, 0.1, seed=1))
    with pytest.raises(ValueError, match="fraction"):
        few_label_indices(labels, 0.0, seed=0)


def test_few_label_probe_reports_mean_and_spread():
    features = torch.cat([torch.randn(50, 3) + 4, torch.randn(50, 3) - 4])
    labels = torch.tensor([0] * 50 + [1] * 50)
    result = few_label_probe(features, labels, features, labels, 0.1, repeats=3)
    assert result.mean == 1.0 and result.labels_used == 10 and result.std == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_features_are_refused_before_the_solver_runs(bad):
    features = torch.randn(40, 3)
    features[[3, 7], 1] = bad
    labels = torch.arange(40) % 2
    with pytest.raises(ValueError, match=r"NaN or Inf in 2 of 40 rows"):
        LinearProbe().fit(features, labels)
