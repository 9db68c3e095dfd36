"""The jobs behind the command line: train then evaluate and draw; evaluate a run folder.

``train_and_evaluate`` is what ``eblearn train`` runs: pretraining (:func:`eblearn.train.pretrain`),
then the evaluation protocol on the frozen encoder and on raw pixels, then the figures. Every
output lands in the run folder:

    results.json       accuracies of the encoder and of raw pixels, time taken
                       (``eblearn eval`` writes eval.json)
    loss_curve.png     loss terms, collapse metrics and online probe during training
    embedding.png      t-SNE of the test-set features, colored by class
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from eblearn.evaluate.protocol import (
    EvaluationReport,
    evaluate_features,
    evaluate_raw_pixels,
    extract_features,
)
from eblearn.plot.curves import plot_training_curves
from eblearn.plot.embedding import plot_embedding
from eblearn.train.checkpoint import atomic_write_bytes
from eblearn.train.config import TrainConfig
from eblearn.train.history import read_history
from eblearn.train.runs import LOG_FILE, Pretrained, load_pretrained, pretrain, uses_gpu

RESULTS_FILE = "results.json"
EVAL_FILE = "eval.json"
CURVE_FILE = "loss_curve.png"
EMBEDDING_FILE = "embedding.png"
TABLE_FRACTIONS = (0.1,)
"""Few-label fractions shown in the printed table (results.json holds 1% as well)."""


@dataclass
class RunSummary:
    """What a run measured.

    Attributes:
        run_dir: The run folder.
        encoder: Probe accuracies of the pretrained encoder.
        pixels: The same probes on raw pixels.
        seconds: Wall-clock time of the job.
        figures: Paths of the PNGs written.
    """

    run_dir: Path
    config: TrainConfig
    encoder: EvaluationReport
    pixels: EvaluationReport
    seconds: float
    figures: list[Path] = field(default_factory=list)

    def table(self, fractions: Sequence[float] = TABLE_FRACTIONS) -> str:
        """A small text table: each probe on the encoder beside the same probe on pixels."""
        rows = [
            (f"kNN (k={self.config.knn_k}, cosine)", self.encoder.knn, self.pixels.knn),
            ("linear probe", self.encoder.linear, self.pixels.linear),
        ]
        rows += [
            (
                f"linear probe, {f:.0%} of labels",
                self.encoder.few_label[f],
                self.pixels.few_label[f],
            )
            for f in fractions
        ]
        name = f"{self.config.method} ({self.config.backbone})"
        width = max(len(r[0]) for r in rows)
        lines = [
            f"{'test accuracy on ' + self.config.data:<{width}}  {name:>18}  {'raw pixels':>10}"
        ]
        lines += [
            f"{label:<{width}}  {ours:>18.1%}  {pixels:>10.1%}" for label, ours, pixels in rows
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "data": self.config.data,
            "method": self.config.method,
            "backbone": self.config.backbone,
            "encoder": self.encoder.as_dict(),
            "raw_pixels": self.pixels.as_dict(),
            "seconds": round(self.seconds, 1),
        }


def evaluation_device(config: TrainConfig) -> torch.device:
    """The GPU when the run may use one, else the CPU."""
    return torch.device("cuda" if uses_gpu(config) else "cpu")


def evaluate_pretrained(
    pretrained: Pretrained,
) -> tuple[EvaluationReport, EvaluationReport, torch.Tensor]:
    """Probes the frozen encoder and raw pixels; returns both reports and the test features."""
    config, data = pretrained.config, pretrained.data
    device = evaluation_device(config)
    encoder = pretrained.method.encoder.to(device)
    transform = pretrained.eval_transform.to(device)
    train = extract_features(encoder, data.train.images, transform, device=device)
    test = extract_features(encoder, data.test.images, transform, device=device)
    protocol = {
        "knn_k": config.knn_k,
        "knn_temperature": config.knn_temperature,
        "seed": config.seed,
    }
    encoder_report = evaluate_features(
        train,
        data.train.labels,
        test,
        data.test.labels,
        **protocol,  # type: ignore[arg-type]
    )
    pixel_report = evaluate_raw_pixels(data, **protocol)
    return encoder_report, pixel_report, test


def _write_outputs(
    summary: RunSummary, test_features: torch.Tensor, pretrained: Pretrained, results_file: str
) -> None:
    run_dir = summary.run_dir
    title = f"{summary.config.method} on {summary.config.data}"
    summary.figures.append(
        plot_training_curves(read_history(run_dir / LOG_FILE), run_dir / CURVE_FILE, title)
    )
    summary.figures.append(
        plot_embedding(
            test_features,
            pretrained.data.test.labels,
            run_dir / EMBEDDING_FILE,
            pretrained.data.test.classes,
            title=f"{title}: t-SNE of test features (kNN {summary.encoder.knn:.1%})",
            seed=summary.config.seed,
        )
    )
    atomic_write_bytes(json.dumps(summary.to_json(), indent=2).encode(), run_dir / results_file)


def train_and_evaluate(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunSummary | None:
    """Pretrains, evaluates and draws (``eblearn train``). Returns ``None`` on non-zero ranks."""
    start = time.perf_counter()
    pretrained = pretrain(config, resume=resume, overwrite=overwrite, callbacks=callbacks)
    if not pretrained.is_global_zero:
        return None
    return _evaluate_and_write(pretrained, start, RESULTS_FILE)


def evaluate_run(run_dir: str | Path) -> RunSummary:
    """Evaluates the last checkpoint of a run folder (``eblearn eval``)."""
    start = time.perf_counter()
    return _evaluate_and_write(load_pretrained(run_dir), start, EVAL_FILE)


def _evaluate_and_write(pretrained: Pretrained, start: float, results_file: str) -> RunSummary:
    """Probes the encoder beside raw pixels, then writes the results file and the figures."""
    encoder_report, pixel_report, test_features = evaluate_pretrained(pretrained)
    summary = RunSummary(
        pretrained.run_dir,
        pretrained.config,
        encoder_report,
        pixel_report,
        time.perf_counter() - start,
    )
    _write_outputs(summary, test_features, pretrained, results_file)
    return summary
