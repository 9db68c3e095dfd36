"""Evaluation: kNN, linear and few-label probes on frozen features, collapse metrics."""

from eblearn.evaluate.collapse import (
    CollapseReport,
    CollapseWarning,
    collapse_report,
    effective_rank,
)
from eblearn.evaluate.distributed import extract_features_distributed, shard_bounds
from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.evaluate.knn import knn_accuracy, knn_scores
from eblearn.evaluate.linear import (
    FewLabelResult,
    LinearProbe,
    few_label_indices,
    few_label_probe,
)
from eblearn.evaluate.protocol import (
    EvaluationReport,
    evaluate_encoder,
    evaluate_features,
    evaluate_raw_pixels,
    extract_features,
    raw_pixel_features,
)

__all__ = [
    "FLOAT32",
    "CollapseReport",
    "CollapseWarning",
    "EvaluationReport",
    "FewLabelResult",
    "Inference",
    "LinearProbe",
    "collapse_report",
    "effective_rank",
    "evaluate_encoder",
    "evaluate_features",
    "evaluate_raw_pixels",
    "extract_features",
    "extract_features_distributed",
    "few_label_indices",
    "few_label_probe",
    "knn_accuracy",
    "knn_scores",
    "raw_pixel_features",
    "shard_bounds",
]
