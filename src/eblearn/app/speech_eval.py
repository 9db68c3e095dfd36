"""The evaluation of a speech run: spoken-digit accuracy with few labels, beside log-mel.

A linear probe is fitted on the encoder's pooled features of the training takes, with 1, 5
and all labeled takes per (digit, speaker) cell (three draws for the few-label settings), and
on every speaker but one (scored on the speaker left out); the same fits on pooled log-mel
features (mean and standard deviation of 40 bands, logistic regression) are the baseline.
Every setting is scored on the test takes (FSDD: takes 0–4). Both feature sets are computed
on the same center crops of :data:`EVAL_CROPS` × the run's crop length.

[0] Baevski, Zhou, Mohamed, Auli, wav2vec 2.0, NeurIPS 2020, https://arxiv.org/abs/2006.11477
    (section 5.1: few labels after self-supervised pretraining)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eblearn.app.run_folder import RunFolder
from eblearn.app.timing import timing_line
from eblearn.app.train import CURVE_FILE, LOG_FILE
from eblearn.data.mel import pooled_log_mel
from eblearn.data.waveforms import SpeechSplits
from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.evaluate.linear import LinearProbe
from eblearn.evaluate.protocol import PROBE_SEED
from eblearn.evaluate.speech import (
    BudgetResult,
    encode_recordings,
    evaluate_budgets,
    held_out_speaker_budgets,
    label_budgets,
    probe_scorer,
)
from eblearn.train.config import RunConfig

EVAL_CROPS = 2
"""Evaluation crops are this many times the training crop (1 s at the default 0.5 s)."""
SHOTS = (1, 5, None)
"""Labeled takes per (digit, speaker) cell: 1, 5 and all."""
REPEATS = 3
"""Draws of the labeled takes in each few-label setting."""
PROBE: Callable[[], LinearProbe] = LinearProbe
"""The probe fitted per setting (multinomial logistic regression, its C chosen by
validation): the same on both feature sets."""


@dataclass
class SpeechRunSummary:
    """What a speech run measured, and how long it took.

    Attributes:
        run_dir: The run folder.
        config: The resolved configuration.
        encoder: Probe accuracy on the encoder's pooled features, per setting.
        log_mel: The same settings on pooled log-mel features.
        test_size: Test recordings scored.
        seconds: Wall-clock time of the job.
        training_seconds: The part of ``seconds`` before evaluation (``None`` for ``eval``).
    """

    run_dir: Path
    config: RunConfig
    encoder: list[BudgetResult]
    log_mel: list[BudgetResult]
    test_size: int
    seconds: float
    training_seconds: float | None = None
    figures: list[Path] = field(default_factory=list)

    def timing(self) -> str:
        """``"123 s: training 100 s, evaluation 23 s"`` (or the total alone for ``eval``)."""
        return timing_line(self.seconds, self.training_seconds)

    def table(self) -> str:
        """Accuracy per label budget: the encoder beside log-mel features."""
        name = f"{self.config.method} ({self.config.backbone})"
        head = (
            f"spoken digits of {self.config.data}: linear probe on pooled features, scored on "
            f"{self.test_size} test takes (mean ± std over draws)"
        )
        width = max(len(f"{r.setting} ({r.labels} labels)") for r in self.encoder)
        lines = [head, f"{'labels':<{width}}  {name:>24}  {'log-mel + logistic':>20}"]
        for mine, base in zip(self.encoder, self.log_mel, strict=True):
            label = f"{mine.setting} ({mine.labels} labels)"
            lines.append(f"{label:<{width}}  {_score(mine):>24}  {_score(base):>20}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "data": self.config.data,
            "method": self.config.method,
            "backbone": self.config.backbone,
            "modality": "waveforms",
            "test_size": self.test_size,
            "probe": [_as_dict(r) for r in self.encoder],
            "log_mel_baseline": [_as_dict(r) for r in self.log_mel],
            "seconds": round(self.seconds, 1),
            "training_seconds": (
                None if self.training_seconds is None else round(self.training_seconds, 1)
            ),
        }


def _score(result: BudgetResult) -> str:
    spread = f" ± {result.std:.1%}" if result.fits > 1 else ""
    return f"{result.accuracy:.1%}{spread}"


def _as_dict(result: BudgetResult) -> dict[str, object]:
    return {
        "setting": result.setting,
        "labels": result.labels,
        "accuracy": round(result.accuracy, 4),
        "std": round(result.std, 4),
        "fits": result.fits,
    }


def score_speech_run(
    encoder: Any,
    data: SpeechSplits,
    crop_length: int,
    seed: int = 0,
    inference: Inference = FLOAT32,
) -> tuple[list[BudgetResult], list[BudgetResult]]:
    """Probe accuracies per setting on ``encoder``'s features (extracted in ``inference``'s
    precision) and on pooled log-mel, in the order of :data:`SHOTS` then the held-out
    speaker."""
    length = EVAL_CROPS * crop_length
    train_x, train_n = data.train.batch(length=length, crop="center")
    test_x, test_n = data.test.batch(length=length, crop="center")
    budgets = label_budgets(data.train, data.test, SHOTS, REPEATS, seed)
    if len(data.test.speaker_names) > 1:
        budgets += held_out_speaker_budgets(data.train, data.test)
    rate = data.train.sample_rate
    features = probe_scorer(
        encode_recordings(encoder, train_x, train_n, inference=inference),
        data.train.labels,
        encode_recordings(encoder, test_x, test_n, inference=inference),
        data.test.labels,
        PROBE,
    )
    log_mel = probe_scorer(
        pooled_log_mel(train_x, train_n, rate),
        data.train.labels,
        pooled_log_mel(test_x, test_n, rate),
        data.test.labels,
        PROBE,
    )
    return evaluate_budgets(budgets, features), evaluate_budgets(budgets, log_mel)


def evaluate_speech_and_write(
    pretrained: Any,
    folder: RunFolder,
    start: float,
    results_file: str,
    trained_at: float | None = None,
) -> SpeechRunSummary:
    """Scores a speech run, writes the results file and the loss curve, returns the summary.

    The encoder's features are extracted in the precision the run trained in, where its
    device runs it natively (:func:`eblearn.train.precision.inference_setting`).
    """
    from eblearn.plot.curves import plot_training_curves
    from eblearn.train.history import read_history
    from eblearn.train.precision import inference_setting

    config = pretrained.config
    data: SpeechSplits = pretrained.data
    encoder = pretrained.method.encoder
    device = next(encoder.parameters()).device
    inference = inference_setting(config.precision, config.memory_format, encoder, device)
    encoder_results, log_mel_results = score_speech_run(
        encoder, data, config.seq_len, PROBE_SEED, inference
    )
    summary = SpeechRunSummary(
        folder.path,
        config,
        encoder_results,
        log_mel_results,
        len(data.test),
        time.perf_counter() - start,
    )
    history = read_history(folder.path / LOG_FILE)
    title = f"{config.method} on {config.data}"
    summary.figures.append(plot_training_curves(history, folder.file(CURVE_FILE), title))
    summary.seconds = time.perf_counter() - start
    if trained_at is not None:
        summary.training_seconds = trained_at - start
    folder.write_json(results_file, summary.to_json())
    return summary
