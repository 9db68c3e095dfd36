"""The evaluation step of ``train`` and ``eval``: probes on the frozen encoder and on pixels.

The probes draw their subsets with :data:`~eblearn.evaluate.protocol.PROBE_SEED`, not the run's
seed, so the raw-pixel baseline depends only on the data and the protocol: it is computed once
per data set and cached (:func:`raw_pixel_baseline`); the encoder's probes run every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import torch
from torch import Tensor

from eblearn._io import cache_dir, write_json
from eblearn.data.images import DatasetSplits
from eblearn.evaluate.distributed import extract_features_distributed
from eblearn.evaluate.inference import Inference
from eblearn.evaluate.protocol import (
    PROBE_SEED,
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


def _encoder_and_transform(pretrained: Any) -> tuple[Any, Any, torch.device, Inference]:
    """The run's encoder and evaluation transform on its device, and the precision and
    layout it extracts features in (the run's own where this device runs it natively:
    :func:`eblearn.train.precision.inference_setting`)."""
    from eblearn.train.precision import inference_setting
    from eblearn.train.runs import uses_gpu

    config = pretrained.config
    device = torch.device("cuda" if uses_gpu(config) else "cpu")
    encoder = pretrained.method.encoder.to(device)
    inference = inference_setting(config.precision, config.memory_format, encoder, device)
    return encoder, pretrained.eval_transform.to(device), device, inference


def probe_features(pretrained: Any, data: DatasetSplits | None = None) -> tuple[Tensor, Tensor]:
    """Train and test features ``(N, F)`` of the data probed (``data``, else the pretraining
    data), through the run's evaluation transform.

    In a distributed run (an initialized process group, as Lightning leaves it after
    training) every process must call this: each encodes its shard of the images and all
    receive every feature (:func:`~eblearn.evaluate.distributed.extract_features_distributed`),
    the same features one process computes.

    Raises:
        ValueError: If the encoder's features are not finite.
    """
    data = data if data is not None else pretrained.data
    encoder, transform, device, inference = _encoder_and_transform(pretrained)
    train = extract_features_distributed(
        encoder, data.train.images, transform, device=device, inference=inference
    )
    test = extract_features_distributed(
        encoder, data.test.images, transform, device=device, inference=inference
    )
    check_features(train, "training")
    check_features(test, "test")
    return train, test


def evaluate_pretrained(
    pretrained: Any,
    data: DatasetSplits | None = None,
    features: tuple[Tensor, Tensor] | None = None,
) -> tuple[EvaluationReport, EvaluationReport, Tensor]:
    """Probes the frozen encoder and raw pixels; returns both reports and the test features.

    The probes' subsets and splits are drawn with
    :data:`~eblearn.evaluate.protocol.PROBE_SEED`, whatever the run's seed.

    Args:
        pretrained: A trained or loaded run (``eblearn.train.runs.Pretrained``).
        data: A labeled data set to probe instead of the pretraining data (``--eval-data``).
            Its images go through the run's evaluation transform: resized to the run's image
            size and normalized with the *pretraining* data's mean and std, the inputs the
            encoder was trained on; the raw-pixel baseline is computed on its own pixels.
        features: The train and test features of :func:`probe_features`, when every process
            of a distributed run has extracted them together (default: extracted here).

    Raises:
        ValueError: If the encoder's features are not finite.
    """
    config = pretrained.config
    data = data if data is not None else pretrained.data
    train, test = features if features is not None else probe_features(pretrained, data)
    protocol: dict[str, Any] = {
        "knn_k": config.knn_k,
        "knn_temperature": config.knn_temperature,
        "seed": PROBE_SEED,  # not the run's: every run on this data is scored alike
    }
    encoder_report = evaluate_features(train, data.train.labels, test, data.test.labels, **protocol)
    pixel_report = raw_pixel_baseline(data, **protocol)
    return encoder_report, pixel_report, test


def sample_features(pretrained: Any, limit: int) -> Tensor:
    """Features ``(min(N, limit), D)`` of pretraining images drawn without replacement.

    The draw depends only on ``pretrained.config.seed`` and ``N``, so a rerun draws the same
    images.

    Raises:
        ValueError: If the encoder's features are not finite.
    """
    images = pretrained.data.pretrain_images
    if len(images) > limit:
        generator = torch.Generator().manual_seed(pretrained.config.seed)
        keep = torch.randperm(len(images), generator=generator)[:limit].sort().values
        images = images[keep]
    encoder, transform, device, inference = _encoder_and_transform(pretrained)
    features = extract_features(encoder, images, transform, device=device, inference=inference)
    check_features(features, "pretraining")
    return features


def cluster_features(features: Tensor, clusters: int, seed: int = 0) -> Tensor:
    """K-means cluster ids ``(N,)`` of L2-normalized features (the cosine geometry the kNN
    probe uses), ``0..clusters-1``, by :class:`eblearn.latent.KMeans` (k-means++, seeded)."""
    from eblearn.latent import KMeans

    unit = torch.nn.functional.normalize(features.float(), dim=1)
    return KMeans(n_clusters=clusters, random_state=seed).fit(unit).labels_.cpu()


BASELINE_CACHE = "baselines"


def baseline_key(data: Any, protocol: dict[str, Any]) -> str:
    """A fingerprint of the data (every image and label) and the protocol's settings."""
    from eblearn import __version__

    digest = hashlib.sha256()
    digest.update(json.dumps({"version": __version__, **protocol}, sort_keys=True).encode())
    for split in (data.train, data.test):
        digest.update(str(tuple(split.images.shape)).encode())
        digest.update(split.images.contiguous().numpy().tobytes())
        digest.update(split.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def raw_pixel_baseline(data: Any, **protocol: Any) -> EvaluationReport:
    """:func:`evaluate_raw_pixels`, cached per data set and protocol.

    The raw-pixel probes depend only on the images, the labels and the protocol, so every run
    on the same data computes the same figures: they are computed once and kept in
    ``<cache>/baselines/<fingerprint>.json`` (see :func:`eblearn._io.cache_dir`; the
    fingerprint covers every image and label). A missing, corrupt or unwritable cache only
    means computing them again.
    """
    folder = cache_dir(BASELINE_CACHE)
    path = folder / f"{baseline_key(data, protocol)}.json" if folder is not None else None
    if path is not None and path.is_file():
        try:
            return report_from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # recomputed and rewritten below
    report = evaluate_raw_pixels(data, **protocol)
    if path is not None:
        with contextlib.suppress(OSError):
            write_json(report.as_dict(), path)
    return report


def report_from_dict(values: dict[str, Any]) -> EvaluationReport:
    """The inverse of ``EvaluationReport.as_dict`` after a JSON round trip (float keys)."""
    return EvaluationReport(
        knn=float(values["knn"]),
        linear=float(values["linear"]),
        linear_top5=float(values["linear_top5"]),
        few_label={float(k): float(v) for k, v in values["few_label"].items()},
        few_label_std={float(k): float(v) for k, v in values["few_label_std"].items()},
    )
