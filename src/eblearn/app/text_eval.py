"""The evaluation of a text run: masked-token scores on held-out text beside n-gram baselines.

What ``eblearn train`` (and ``eblearn eval``) do after pretraining on a corpus, in place of the
image probes: one seeded draw of BERT's corruption picks held-out positions
(:mod:`eblearn.evaluate.masked_tokens`); the masked language model predicts them from the
corrupted windows, and unigram, bigram and trigram models (add-k, fitted on the training
part) from the clean characters before them. The results file holds every score; the loss
curve is drawn as for images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eblearn.app.run_folder import RunFolder
from eblearn.app.train import CURVE_FILE, LOG_FILE
from eblearn.data.text import TextSplits
from eblearn.evaluate.masked_tokens import (
    TokenScore,
    held_out_draw,
    masked_token_score,
    ngram_score,
)
from eblearn.evaluate.ngram import NgramModel
from eblearn.methods.mlm import MaskedLanguageModel
from eblearn.train.config import RunConfig

BASELINE_ORDERS = {1: "unigram", 2: "bigram", 3: "trigram"}
"""The n-gram baselines, by order."""
BASELINE_K = 0.1
"""Their add-k pseudo-count."""
TOKENIZER_FILE = "tokenizer.json"
"""The run's tokenizer, written beside config.yaml."""


@dataclass
class TextRunSummary:
    """What a text run measured: the model's and the baselines' masked-token scores.

    Attributes:
        run_dir: The run folder.
        config: The resolved configuration.
        model: The masked language model's score.
        baselines: The n-gram models' scores at the same positions.
        seconds: Wall-clock time of the job.
        training_seconds: The part of ``seconds`` before evaluation (``None`` for ``eval``).
    """

    run_dir: Path
    config: RunConfig
    model: TokenScore
    baselines: list[TokenScore]
    seconds: float
    figures: list[Path] = field(default_factory=list)
    training_seconds: float | None = None

    def timing(self) -> str:
        """``"123 s: training 100 s, evaluation 23 s"`` (or the total alone for ``eval``)."""
        if self.training_seconds is None:
            return f"{self.seconds:.0f} s"
        return (
            f"{self.seconds:.0f} s: training {self.training_seconds:.0f} s, "
            f"evaluation {self.seconds - self.training_seconds:.0f} s"
        )

    def table(self) -> str:
        """Accuracy and nats per token of the model and of each baseline."""
        head = (
            f"held-out {self.config.data}: {self.model.positions} masked tokens "
            f"(15% of the held-out text, BERT's 80/10/10)"
        )
        name = f"{self.config.method} ({self.config.backbone})"
        rows = [(name, self.model)] + [
            (f"{s.name} (add-{BASELINE_K:g}, preceding text)", s) for s in self.baselines
        ]
        width = max(len(r[0]) for r in rows)
        lines = [head, f"{'':<{width}}  {'accuracy':>8}  {'nats/char':>10}"]
        lines += [f"{label:<{width}}  {s.accuracy:>8.1%}  {s.nats:>10.3f}" for label, s in rows]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "data": self.config.data,
            "method": self.config.method,
            "backbone": self.config.backbone,
            "modality": "tokens",
            "masked_tokens": self.model.as_dict(),
            "baselines": [s.as_dict() for s in self.baselines],
            "seconds": round(self.seconds, 1),
            "training_seconds": (
                None if self.training_seconds is None else round(self.training_seconds, 1)
            ),
        }


def score_text_run(
    method: Any, data: TextSplits, device: Any = "cpu"
) -> tuple[TokenScore, list[TokenScore]]:
    """The masked language model's and the n-gram baselines' scores on ``data``'s held-out part.

    Raises:
        ValueError: If ``method`` is not a masked language model (the only text evaluation).
    """
    if not isinstance(method, MaskedLanguageModel):
        raise ValueError(
            f"the text evaluation scores masked language models; {type(method).__name__} is not one"
        )
    windows = data.test_windows  # (N, T)
    model = masked_token_score(method, windows, device=device)
    model = TokenScore("masked language model", model.accuracy, model.nats, model.positions)
    selected = held_out_draw(windows, method.vocab_size)
    vocab = data.tokenizer.vocab_size
    baselines = [
        ngram_score(
            NgramModel(vocab, order, BASELINE_K).fit(data.train_ids),
            data.train_ids,
            windows,
            selected,
            name,
        )
        for order, name in BASELINE_ORDERS.items()
    ]
    return model, baselines


def evaluate_text_and_write(
    pretrained: Any,
    folder: RunFolder,
    start: float,
    results_file: str,
    trained_at: float | None = None,
) -> TextRunSummary:
    """Scores a text run, writes the results file and the loss curve, returns the summary."""
    from eblearn.plot.curves import plot_training_curves
    from eblearn.train.history import read_history

    config = pretrained.config
    device = next(pretrained.method.parameters()).device
    model, baselines = score_text_run(pretrained.method, pretrained.data, device)
    summary = TextRunSummary(folder.path, config, model, baselines, time.perf_counter() - start)
    history = read_history(folder.path / LOG_FILE)
    title = f"{config.method} on {config.data}"
    summary.figures.append(plot_training_curves(history, folder.file(CURVE_FILE), title))
    summary.seconds = time.perf_counter() - start
    if trained_at is not None:
        summary.training_seconds = trained_at - start
    folder.write_json(results_file, summary.to_json())
    return summary
