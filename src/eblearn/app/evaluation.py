"""The evaluation step of ``train`` and ``eval``: probes on the frozen encoder and on pixels."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eblearn.evaluate.protocol import (
    EvaluationReport,
    evaluate_features,
    evaluate_raw_pixels,
    extract_features,
)


def check_features(features: Tensor, split: str) -> None:
    """Raises ``ValueError`` if the encoder produced NaN or Inf features."""
    bad = ~torch.isfinite(features)
    if bool(bad.any()):
        rows = int(bad.any(dim=1).sum())
        raise ValueError(
            f"the encoder gives NaN or Inf features for {rows} of {len(features)} {split} "
            "images, so they cannot be probed; the weights have diverged (retrain with a "
            "lower --lr)"
        )


def evaluate_pretrained(
    pretrained: Any,
) -> tuple[EvaluationReport, EvaluationReport, Tensor]:
    """Probes the frozen encoder and raw pixels; returns both reports and the test features.

    Raises:
        ValueError: If the encoder's features are not finite.
    """
    from eblearn.train.runs import uses_gpu

    config, data = pretrained.config, pretrained.data
    device = torch.device("cuda" if uses_gpu(config) else "cpu")
    encoder = pretrained.method.encoder.to(device)
    transform = pretrained.eval_transform.to(device)
    train = extract_features(encoder, data.train.images, transform, device=device)
    test = extract_features(encoder, data.test.images, transform, device=device)
    check_features(train, "training")
    check_features(test, "test")
    protocol: dict[str, Any] = {
        "knn_k": config.knn_k,
        "knn_temperature": config.knn_temperature,
        "seed": config.seed,
    }
    encoder_report = evaluate_features(train, data.train.labels, test, data.test.labels, **protocol)
    pixel_report = evaluate_raw_pixels(data, **protocol)
    return encoder_report, pixel_report, test
