"""Linear probes on frozen features, with all labels or a class-balanced few.

The probe is multinomial logistic regression on standardized features, fitted by full-batch
L-BFGS on any device. Its objective is scikit-learn's ``LogisticRegression`` divided by
``C·N``: ``mean_i CE(W f_i + b, y_i) + ||W||² / (2·C·N)``. When every class has enough
samples, ``C`` is chosen among ``c_values`` on a held-out fifth of the training set, then the
probe is refitted on all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn._validate import check_ndim
from eblearn.data.images import stratified_split

MIN_PER_CLASS_TO_SELECT_C = 5


class LinearProbe:
    """Multinomial logistic regression on standardized frozen features.

    Args:
        c_values: Inverse regularization strengths to choose from (scikit-learn's ``C``).
        max_iter: L-BFGS iterations.
        seed: Seed of the validation split used to choose ``C``.

    Attributes:
        c_: The chosen ``C``.
        mean_, scale_: Standardization statistics, shape ``(D,)``.
        weight_: ``(K, D)`` weights; ``bias_``: ``(K,)``.

    Example:
        >>> features = torch.cat([torch.randn(50, 3) + 4, torch.randn(50, 3) - 4])
        >>> labels = torch.tensor([0] * 50 + [1] * 50)
        >>> LinearProbe().fit(features, labels).score(features, labels)
        1.0
    """

    def __init__(
        self, c_values: tuple[float, ...] = (0.1, 1.0, 10.0), max_iter: int = 200, seed: int = 0
    ) -> None:
        self.c_values = c_values
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, features: Tensor, labels: Tensor, num_classes: int | None = None) -> LinearProbe:
        """Fits the probe on ``features`` ``(N, D)`` and ``labels`` ``(N,)``; returns ``self``."""
        check_ndim(features, 2, "features", "(N, D)")
        if labels.shape != (len(features),):
            raise ValueError(
                f"labels must have shape ({len(features)},), got {tuple(labels.shape)}"
            )
        if not self.c_values or min(self.c_values) <= 0:
            raise ValueError(f"c_values must be positive numbers, got {self.c_values}")
        features = features.float()
        bad_rows = int((~torch.isfinite(features)).any(1).sum())
        if bad_rows:
            raise ValueError(
                f"features hold NaN or Inf in {bad_rows} of {len(features)} rows: a linear "
                "probe cannot be fitted (has the encoder diverged?)"
            )
        labels = labels.to(features.device)
        classes = int(labels.max()) + 1 if num_classes is None else num_classes
        self.mean_ = features.mean(0)
        self.scale_ = (
            features.std(0).clamp_min(1e-6) if len(features) > 1 else torch.ones_like(self.mean_)
        )
        x = (features - self.mean_) / self.scale_
        self.c_ = self._select_c(x, labels, classes)
        self.weight_, self.bias_ = self._fit_standardized(x, labels, classes, self.c_)
        return self

    def _select_c(self, x: Tensor, labels: Tensor, classes: int) -> float:
        counts = torch.bincount(labels, minlength=classes)
        if len(self.c_values) == 1 or int(counts[counts > 0].min()) < MIN_PER_CLASS_TO_SELECT_C:
            return 1.0 if 1.0 in self.c_values else self.c_values[len(self.c_values) // 2]
        fit_index, val_index = stratified_split(labels.cpu(), 0.2, self.seed)
        fit_index, val_index = fit_index.to(x.device), val_index.to(x.device)
        accuracies = []
        for c in self.c_values:
            weight, bias = self._fit_standardized(x[fit_index], labels[fit_index], classes, c)
            predicted = (x[val_index] @ weight.T + bias).argmax(1)
            accuracies.append(float((predicted == labels[val_index]).float().mean()))
        return self.c_values[max(range(len(accuracies)), key=accuracies.__getitem__)]

    def _fit_standardized(
        self, x: Tensor, labels: Tensor, classes: int, c: float
    ) -> tuple[Tensor, Tensor]:
        weight = torch.zeros(classes, x.shape[1], device=x.device, requires_grad=True)
        bias = torch.zeros(classes, device=x.device, requires_grad=True)
        penalty = 1.0 / (2.0 * c * len(x))
        optimizer = torch.optim.LBFGS(
            [weight, bias],
            max_iter=self.max_iter,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-6,
            tolerance_change=1e-9,
            history_size=20,
        )

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(x @ weight.T + bias, labels) + penalty * weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        return weight.detach(), bias.detach()

    def decision_function(self, features: Tensor) -> Tensor:
        """Class scores ``(N, K)`` for ``features`` ``(N, D)``."""
        x = (features.float().to(self.mean_.device) - self.mean_) / self.scale_
        return x @ self.weight_.T + self.bias_

    def predict(self, features: Tensor) -> Tensor:
        """Predicted labels ``(N,)``."""
        return self.decision_function(features).argmax(1)

    def score(self, features: Tensor, labels: Tensor, top_k: int = 1) -> float:
        """Top-``k`` accuracy on ``features`` and ``labels``."""
        scores = self.decision_function(features)
        k = min(top_k, scores.shape[1])
        hits = (scores.topk(k, dim=1).indices == labels.to(scores.device)[:, None]).any(1)
        return float(hits.float().mean())


@dataclass(frozen=True)
class FewLabelResult:
    """Accuracy of probes trained on a class-balanced fraction of the labels.

    Attributes:
        fraction: Fraction of each class's labels used.
        mean, std: Top-1 accuracy over ``repeats`` random subsets.
        labels_used: Number of labeled samples in each subset.
    """

    fraction: float
    mean: float
    std: float
    labels_used: int


def few_label_indices(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """A class-balanced subset: ``max(1, round(fraction · n_c))`` samples of each class ``c``.

    Example:
        >>> few_label_indices(torch.tensor([0] * 10 + [1] * 20), 0.1, seed=0).numel()
        3
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    chosen = []
    for label in torch.unique(labels):
        members = (labels == label).nonzero().flatten()
        take = max(1, round(fraction * len(members)))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen).sort().values


def few_label_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    fraction: float,
    repeats: int = 3,
    seed: int = 0,
) -> FewLabelResult:
    """Trains :class:`LinearProbe` on ``repeats`` class-balanced subsets; reports mean and std."""
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    accuracies = []
    used = 0
    for repeat in range(repeats):
        index = few_label_indices(train_labels, fraction, seed + repeat)
        used = len(index)
        probe = LinearProbe(seed=seed + repeat).fit(
            train_features[index.to(train_features.device)],
            train_labels[index.to(train_labels.device)],
            num_classes,
        )
        accuracies.append(probe.score(test_features, test_labels))
    values = torch.tensor(accuracies)
    std = float(values.std()) if repeats > 1 else 0.0
    return FewLabelResult(fraction, float(values.mean()), std, used)
