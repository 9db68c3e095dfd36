"""The evaluation of a text run: masked-token scores on held-out text beside n-gram baselines
(masked language models), or held-out ranking accuracy and word neighbors (Collobert–Weston).

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

import torch

from eblearn.app.run_folder import RunFolder
from eblearn.app.timing import timing_line
from eblearn.app.train import CURVE_FILE, LOG_FILE
from eblearn.data.text import TextSplits
from eblearn.evaluate.masked_tokens import (
    TokenScore,
    held_out_draw,
    masked_token_score,
    ngram_score,
)
from eblearn.evaluate.ngram import NgramModel
from eblearn.evaluate.protocol import PROBE_SEED
from eblearn.evaluate.speakers import SpeakerProbeResult, speaker_probe, speeches
from eblearn.methods.collobert_weston import CollobertWeston
from eblearn.methods.mlm import MaskedLanguageModel
from eblearn.train.config import RunConfig

BASELINE_ORDERS = {1: "unigram", 2: "bigram", 3: "trigram"}
"""The n-gram baselines, by order."""
BASELINE_K = 0.1
"""Their add-k pseudo-count."""
TOKENIZER_FILE = "tokenizer.json"
RANKING = "ranking"
"""The name of a Collobert–Weston run's score (held-out ranking accuracy)."""
"""The run's tokenizer, written beside config.yaml."""


@dataclass
class TextRunSummary:
    """What a text run measured, and how long it took.

    For a masked language model, ``model`` and ``baselines`` hold the masked-token scores
    (the model's, then the n-gram models' at the same positions); for Collobert–Weston,
    ``model`` holds the held-out ranking accuracy and ``neighbors`` the nearest words of a
    few frequent ones in the learned lookup table.

    Attributes:
        run_dir: The run folder.
        config: The resolved configuration.
        model: The method's score.
        baselines: The n-gram models' scores (masked language models only).
        seconds: Wall-clock time of the job.
        neighbors: Word → its nearest words (Collobert–Weston only).
        speaker: The speaker probe on the encoder's features beside a bag of characters
            (masked language models on plays).
        training_seconds: The part of ``seconds`` before evaluation (``None`` for ``eval``).
    """

    run_dir: Path
    config: RunConfig
    model: TokenScore
    baselines: list[TokenScore]
    seconds: float
    neighbors: dict[str, list[str]] = field(default_factory=dict)
    speaker: SpeakerProbeResult | None = None
    figures: list[Path] = field(default_factory=list)
    training_seconds: float | None = None

    def timing(self) -> str:
        """``"123 s: training 100 s, evaluation 23 s"`` (or the total alone for ``eval``)."""
        return timing_line(self.seconds, self.training_seconds)

    @property
    def unit(self) -> str:
        """What a token is: ``"char"``, or ``"token"`` for words and BPE subwords."""
        return "token" if self.config.tokenizer in ("word", "bpe") else "char"

    def table(self) -> str:
        """The scores as a small text table (and the word neighbors, where there are some)."""
        name = f"{self.config.method} ({self.config.backbone})"
        if self.model.name == RANKING:
            lines = [
                f"held-out {self.config.data}: {self.model.positions} word windows, center "
                "word replaced by a random word",
                f"{name}: ranks the true window first in {self.model.accuracy:.1%} (chance 50%)",
                "nearest words in the learned lookup table (cosine):"
                if self.neighbors
                else "(none of the neighbor words is in the vocabulary)",
            ]
            width = max((len(w) for w in self.neighbors), default=0)
            lines += [f"  {w:<{width}}  {', '.join(n)}" for w, n in self.neighbors.items()]
            return "\n".join(lines)
        head = (
            f"held-out {self.config.data}: {self.model.positions} masked tokens "
            f"(15% of the held-out text, BERT's 80/10/10)"
        )
        rows = [(name, self.model)] + [
            (f"{s.name} (add-{BASELINE_K:g}, preceding text)", s) for s in self.baselines
        ]
        width = max(len(r[0]) for r in rows)
        lines = [head, f"{'':<{width}}  {'accuracy':>8}  {'nats/' + self.unit:>10}"]
        lines += [f"{label:<{width}}  {s.accuracy:>8.1%}  {s.nats:>10.3f}" for label, s in rows]
        if self.speaker is not None:
            p = self.speaker
            lines += [
                "",
                f"speaker of a speech ({len(p.speakers)} most frequent, first "
                f"{self.config.seq_len} {self.unit}s; linear probe, {p.test_size} test speeches):",
                f"  encoder features {p.encoder:.1%}, bag of characters "
                f"{p.bag_of_characters:.1%}, majority class {p.majority:.1%}",
            ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        scores: dict[str, object] = (
            {"ranking": self.model.as_dict(), "neighbors": self.neighbors}
            if self.model.name == RANKING
            else {
                "masked_tokens": self.model.as_dict(),
                "baselines": [s.as_dict() for s in self.baselines],
                "speaker_probe": None if self.speaker is None else self.speaker.as_dict(),
            }
        )
        return {
            "data": self.config.data,
            "method": self.config.method,
            "backbone": self.config.backbone,
            "modality": "tokens",
            **scores,
            "seconds": round(self.seconds, 1),
            "training_seconds": (
                None if self.training_seconds is None else round(self.training_seconds, 1)
            ),
        }


NEIGHBOR_WORDS = ("king", "lord", "love", "good", "death", "night", "he", "thee", "sweet", "man")
"""Words whose nearest neighbors a Collobert–Weston run prints (those in its vocabulary)."""


@torch.no_grad()
def score_ranking(
    method: CollobertWeston, data: TextSplits, seed: int = 0, batch_size: int = 1024
) -> tuple[TokenScore, dict[str, list[str]]]:
    """Held-out ranking accuracy (true window below its corrupted copy in energy) with a
    seeded corruption, and the nearest words of :data:`NEIGHBOR_WORDS`."""
    windows = data.test_windows  # (N, T)
    generator = torch.Generator().manual_seed(seed)
    device = next(method.parameters()).device
    was_training = method.training
    method.eval()
    wins = []
    for start in range(0, len(windows), batch_size):
        part = windows[start : start + batch_size].to(device)
        corrupted = method.corrupt(part, generator)
        wins.append(method.energy(part) < method.energy(corrupted))
    method.train(was_training)
    ranked = torch.cat(wins).float()
    words = [w for w in NEIGHBOR_WORDS if w in data.tokenizer.stoi]
    ids = torch.tensor([data.tokenizer.stoi[w] for w in words], dtype=torch.int64)
    nearest = method.word_neighbors(ids.to(device)).cpu() if words else torch.zeros(0, 5)
    neighbors = {w: [data.tokenizer.itos[int(i)] for i in row] for w, row in zip(words, nearest)}
    score = TokenScore(RANKING, float(ranked.mean()), float("nan"), len(ranked))
    return score, neighbors


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
    """Scores a text run, writes the results file and the loss curve, returns the summary.

    The speaker probe's features are extracted in the precision the run trained in, where
    its device runs it natively (:func:`eblearn.train.precision.inference_setting`); the
    masked-token scores are the model's float32 log-likelihoods.
    """
    from eblearn.plot.curves import plot_training_curves
    from eblearn.train.history import read_history
    from eblearn.train.precision import inference_setting

    config = pretrained.config
    device = next(pretrained.method.parameters()).device
    if isinstance(pretrained.method, CollobertWeston):
        model, neighbors = score_ranking(pretrained.method, pretrained.data)
        summary = TextRunSummary(
            folder.path, config, model, [], time.perf_counter() - start, neighbors
        )
    else:
        model, baselines = score_text_run(pretrained.method, pretrained.data, device)
        summary = TextRunSummary(folder.path, config, model, baselines, time.perf_counter() - start)
        corpus = pretrained.data.train_text + pretrained.data.test_text
        if len({name for name, _ in speeches(corpus)}) >= 2:
            encoder = pretrained.method.encoder
            summary.speaker = speaker_probe(
                encoder,
                pretrained.data.tokenizer,
                corpus,
                config.seq_len,
                seed=PROBE_SEED,
                inference=inference_setting(
                    config.precision, config.memory_format, encoder, device
                ),
            )
    history = read_history(folder.path / LOG_FILE)
    title = f"{config.method} on {config.data}"
    summary.figures.append(plot_training_curves(history, folder.file(CURVE_FILE), title))
    summary.seconds = time.perf_counter() - start
    if trained_at is not None:
        summary.training_seconds = trained_at - start
    folder.write_json(results_file, summary.to_json())
    return summary
