"""The evaluation protocol: features of a frozen encoder scored by kNN and linear probes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from eblearn.data.images import UNLABELED, DatasetSplits
from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.evaluate.knn import knn_accuracy
from eblearn.evaluate.linear import LinearProbe, few_label_probe

PROBE_SEED = 0
"""Seed of the probes' random draws (the few-label subsets, the linear probe's validation
split) in ``eblearn train``, ``eval`` and ``bench``: a property of the data set, not of the run.

Every run on a data set is scored on the same label subsets and splits, whatever its training
seed, as the published 1% and 10% ImageNet subsets fix them for every paper (Chen et al.
2020, SimCLR, appendix B.5). Two seeds' scores then differ by their encoders alone, and the
raw-pixel baseline, which depends on nothing else, is computed once per data set."""


@dataclass(frozen=True)
class EvaluationReport:
    """Accuracies (fractions in [0, 1]) of the probes on one set of features.

    Attributes:
        knn: Weighted cosine kNN top-1.
        linear: Linear probe top-1 with all training labels.
        linear_top5: Linear probe top-5.
        few_label: Mean top-1 of linear probes on class-balanced label fractions, by fraction.
        few_label_std: Standard deviation of those over the random subsets, by fraction.
    """

    knn: float
    linear: float
    linear_top5: float
    few_label: dict[float, float]
    few_label_std: dict[float, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate_features(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    knn_k: int = 20,
    knn_temperature: float = 0.07,
    label_fractions: Sequence[float] = (0.01, 0.1),
    repeats: int = 3,
    seed: int = 0,
) -> EvaluationReport:
    """Scores features with kNN, a linear probe and few-label probes.

    Samples labeled :data:`~eblearn.data.UNLABELED` are left out.
    """
    train_keep = train_labels != UNLABELED
    test_keep = test_labels != UNLABELED
    train_features, train_labels = train_features[train_keep], train_labels[train_keep]
    test_features, test_labels = test_features[test_keep], test_labels[test_keep]
    if len(train_labels) == 0 or len(test_labels) == 0:
        raise ValueError("evaluation needs labeled train and test samples; found none")
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    probe = LinearProbe(seed=seed).fit(train_features, train_labels, num_classes)
    few = {
        f: few_label_probe(
            train_features, train_labels, test_features, test_labels, f, repeats, seed
        )
        for f in label_fractions
    }
    return EvaluationReport(
        knn=knn_accuracy(
            train_features, train_labels, test_features, test_labels, knn_k, knn_temperature
        ),
        linear=probe.score(test_features, test_labels),
        linear_top5=probe.score(test_features, test_labels, top_k=5),
        few_label={f: r.mean for f, r in few.items()},
        few_label_std={f: r.std for f, r in few.items()},
    )


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    images: Tensor,
    transform: Callable[[Tensor], Tensor],
    batch_size: int = 512,
    device: torch.device | str | None = None,
    inference: Inference = FLOAT32,
) -> Tensor:
    """Features ``(N, F)`` of ``images`` ``(N, C, H, W)`` by a frozen encoder in eval mode.

    Each batch is transformed, put in ``inference``'s layout and encoded under its precision
    (:class:`~eblearn.evaluate.inference.Inference`; default float32, contiguous). The
    encoder's train/eval mode is restored afterwards. Features are returned on the CPU, in
    float32.
    """
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        outputs = []
        for chunk in images.split(batch_size):
            batch = inference.layout(transform(chunk.to(device)))
            with inference.precision(device):
                outputs.append(encoder(batch).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(outputs)


def raw_pixel_features(images: Tensor) -> Tensor:
    """Flattened pixels in [0, 1]: the baseline every encoder must beat."""
    return images.float().div(255.0).flatten(1)


def evaluate_encoder(
    encoder: nn.Module,
    data: DatasetSplits,
    transform: Callable[[Tensor], Tensor],
    device: torch.device | str | None = None,
    inference: Inference = FLOAT32,
    **protocol: object,
) -> EvaluationReport:
    """Extracts train and test features with ``encoder`` (in ``inference``'s precision and
    layout) and runs :func:`evaluate_features`."""
    train = extract_features(
        encoder, data.train.images, transform, device=device, inference=inference
    )
    test = extract_features(
        encoder, data.test.images, transform, device=device, inference=inference
    )
    return evaluate_features(
        train,
        data.train.labels,
        test,
        data.test.labels,
        **protocol,  # type: ignore[arg-type]
    )


def evaluate_raw_pixels(data: DatasetSplits, **protocol: object) -> EvaluationReport:
    """The same protocol on raw pixels."""
    return evaluate_features(
        raw_pixel_features(data.train.images),
        data.train.labels,
        raw_pixel_features(data.test.images),
        data.test.labels,
        **protocol,  # type: ignore[arg-type]
    )
