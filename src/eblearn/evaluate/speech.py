"""Spoken-digit evaluation with few labels: which labels a probe sees, and three ways to use them.

The protocol (issue 15, after wav2vec 2.0's low-resource evaluation): a classifier of the
digit is fitted on the training takes with ``n`` labeled takes per (digit, speaker) cell
(1, 5 or all; draws repeated), or on every take of all speakers but one, and scored on the
test takes (of the held-out speaker in the second case). The classifier is

- a linear probe (multinomial logistic regression, :class:`~eblearn.evaluate.linear.LinearProbe`)
  on frozen time-pooled features of a pretrained encoder (:func:`probe_scorer`), or on
  pooled log-mel features (the classical baseline), or
- the same network trained from scratch on the labeled takes (:func:`supervised_scorer`).

[0] Baevski et al., wav2vec 2.0, NeurIPS 2020, https://arxiv.org/abs/2006.11477 (section 4)
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.data.speech import Recordings
from eblearn.data.speech_views import SpeechViews
from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.evaluate.linear import LinearProbe
from eblearn.nn.audio import AudioEncoder, masked_mean

Scorer = Callable[[Tensor, Tensor], float]
"""Fits on the training recordings at an index, returns the accuracy on test ones."""


@dataclass(frozen=True)
class LabelBudget:
    """One probe fit: which training recordings are labeled, which test ones are scored.

    Attributes:
        setting: Name of the setting (``"1 per cell"``, ``"all"``, ``"held-out speaker"``).
        train_index: ``(M,)`` indices into the training recordings.
        test_index: ``(N,)`` indices into the test recordings.
    """

    setting: str
    train_index: Tensor
    test_index: Tensor


@dataclass(frozen=True)
class BudgetResult:
    """Accuracy of a setting, mean and standard deviation over its fits.

    Attributes:
        setting: The setting's name.
        labels: Labeled recordings per fit (the mean, when it varies).
        accuracy: Mean top-1 accuracy.
        std: Standard deviation over fits (0 for a single fit).
        fits: Number of fits.
    """

    setting: str
    labels: int
    accuracy: float
    std: float
    fits: int


def takes_per_cell(
    recordings: Recordings, takes: int | None, generator: torch.Generator | None = None
) -> Tensor:
    """Indices of ``takes`` recordings drawn without replacement in each (digit, speaker)
    cell (all of a cell's when ``None`` or when it holds fewer), sorted.

    Raises:
        ValueError: If ``takes < 1``.
    """
    if takes is not None and takes < 1:
        raise ValueError(f"takes per cell must be >= 1 or None (all), got {takes}")
    cells = recordings.labels * len(recordings.speaker_names) + recordings.speakers
    chosen = []
    for cell in torch.unique(cells):
        members = torch.nonzero(cells == cell).flatten()
        if takes is not None and takes < len(members):
            members = members[torch.randperm(len(members), generator=generator)[:takes]]
        chosen.append(members)
    return torch.cat(chosen).sort().values


def label_budgets(
    train: Recordings,
    test: Recordings,
    shots: Sequence[int | None] = (1, 5, None),
    repeats: int = 3,
    seed: int = 0,
) -> list[LabelBudget]:
    """Fits with ``shots`` labeled takes per cell (``None``: all), ``repeats`` draws each
    (one for all), scored on every test recording."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    generator = torch.Generator().manual_seed(seed)
    everything = torch.arange(len(test))
    budgets = []
    for shot in shots:
        name = "all per cell" if shot is None else f"{shot} per cell"
        for _ in range(1 if shot is None else repeats):
            budgets.append(LabelBudget(name, takes_per_cell(train, shot, generator), everything))
    return budgets


def held_out_speaker_budgets(train: Recordings, test: Recordings) -> list[LabelBudget]:
    """One fit per speaker ``s``: all training takes of the other speakers labeled, scored on
    the test takes of ``s`` (a speaker the classifier never heard)."""
    budgets = []
    for s in torch.unique(test.speakers).tolist():
        budgets.append(
            LabelBudget(
                "held-out speaker",
                torch.nonzero(train.speakers != s).flatten(),
                torch.nonzero(test.speakers == s).flatten(),
            )
        )
    return budgets


def evaluate_budgets(budgets: Sequence[LabelBudget], scorer: Scorer) -> list[BudgetResult]:
    """Runs ``scorer`` on every budget and summarizes each setting, in first-seen order."""
    scores: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {}
    for budget in budgets:
        scores.setdefault(budget.setting, []).append(scorer(budget.train_index, budget.test_index))
        sizes.setdefault(budget.setting, []).append(len(budget.train_index))
    return [
        BudgetResult(
            setting,
            round(statistics.mean(sizes[setting])),
            statistics.mean(values),
            statistics.stdev(values) if len(values) > 1 else 0.0,
            len(values),
        )
        for setting, values in scores.items()
    ]


@torch.no_grad()
def encode_recordings(
    encoder: nn.Module,
    waveforms: Tensor,
    lengths: Tensor,
    batch_size: int = 64,
    inference: Inference = FLOAT32,
) -> Tensor:
    """Pooled features ``(N, feature_dim)``, float32 on the CPU, of
    ``encoder(waveforms, lengths)`` in eval mode, batch by batch (the encoder's mode is
    restored afterwards), in ``inference``'s precision (a run's, from
    :func:`eblearn.train.precision.inference_setting`; waveforms have no layout)."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    with inference.precision(device):
        features = [
            encoder(
                waveforms[i : i + batch_size].to(device), lengths[i : i + batch_size].to(device)
            ).float()
            for i in range(0, len(waveforms), batch_size)
        ]
    encoder.train(was_training)
    return torch.cat(features).cpu()


POOLINGS = ("mean", "mean+std")


def pool_frames(x: Tensor, lengths: Tensor, pooling: str = "mean") -> Tensor:
    """Pools frames ``(B, T, D)`` over each row's first ``lengths[b]`` steps.

    ``"mean"``: ``(B, D)`` means ``μ_b``; ``"mean+std"``: ``(B, 2D)``, ``[μ_b, σ_b]`` with
    ``σ_b² = mean_t (x_bt - μ_b)²`` (the statistics the log-mel baseline pools).

    Raises:
        ValueError: On an unknown ``pooling`` (naming the valid ones).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; valid choices: {', '.join(POOLINGS)}")
    mean = masked_mean(x, lengths)
    if pooling == "mean":
        return mean
    spread = masked_mean((x - mean[:, None, :]) ** 2, lengths).sqrt()
    return torch.cat([mean, spread], dim=1)


@torch.no_grad()
def encode_layers(
    encoder: AudioEncoder,
    waveforms: Tensor,
    lengths: Tensor,
    pooling: str = "mean",
    batch_size: int = 64,
    inference: Inference = FLOAT32,
) -> dict[str, Tensor]:
    """Pooled features ``(N, ·)``, float32 on the CPU, of every layer of
    :meth:`AudioEncoder.layers` (``"frames"``, ``"block1"``, ...), in eval mode, batch by
    batch (the mode is restored afterwards), the forward passes in ``inference``'s precision
    (a run's, from :func:`eblearn.train.precision.inference_setting`) and the pooling in
    float32."""
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; valid choices: {', '.join(POOLINGS)}")
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    pooled: dict[str, list[Tensor]] = {}
    for i in range(0, len(waveforms), batch_size):
        with inference.precision(device):
            layers = encoder.layers(
                waveforms[i : i + batch_size].to(device), lengths[i : i + batch_size].to(device)
            )
        frame_lengths = layers.pop("lengths")
        for name, x in layers.items():
            pooled.setdefault(name, []).append(pool_frames(x.float(), frame_lengths, pooling).cpu())
    encoder.train(was_training)
    return {name: torch.cat(chunks) for name, chunks in pooled.items()}


def probe_scorer(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    probe: Callable[[], LinearProbe] = LinearProbe,
) -> Scorer:
    """A scorer fitting a fresh linear probe on ``train_features[train_index]``."""
    classes = int(max(int(train_labels.max()), int(test_labels.max()))) + 1

    def score(train_index: Tensor, test_index: Tensor) -> float:
        fitted = probe().fit(train_features[train_index], train_labels[train_index], classes)
        return fitted.score(test_features[test_index], test_labels[test_index])

    return score


class AudioClassifier(nn.Module):
    """An :class:`~eblearn.nn.audio.AudioEncoder` with a linear head on its pooled features."""

    def __init__(self, encoder: AudioEncoder, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Class scores ``(B, num_classes)``."""
        return self.head(self.encoder(waveforms, lengths))


def fit_classifier(
    model: AudioClassifier,
    waveforms: Tensor,
    lengths: Tensor,
    labels: Tensor,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    views: SpeechViews | None = None,
    seed: int = 0,
) -> AudioClassifier:
    """Trains ``model`` with cross-entropy for ``steps`` AdamW steps on random batches (with
    ``views`` applied to each batch when given); returns it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        index = torch.randint(
            len(waveforms), (min(batch_size, len(waveforms)),), generator=generator
        )
        x, n = waveforms[index], lengths[index]
        if views is not None:
            x, n = views(x, n, generator)
        loss = F.cross_entropy(model(x.to(device), n.to(device)), labels[index].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def supervised_scorer(
    build: Callable[[], AudioClassifier],
    train_waveforms: Tensor,
    train_lengths: Tensor,
    train_labels: Tensor,
    test_waveforms: Tensor,
    test_lengths: Tensor,
    test_labels: Tensor,
    **training: object,
) -> Scorer:
    """A scorer training a fresh network from scratch (``build()``) on the labeled
    recordings with :func:`fit_classifier` (``training`` its keyword arguments)."""

    def score(train_index: Tensor, test_index: Tensor) -> float:
        model = fit_classifier(
            build(),
            train_waveforms[train_index],
            train_lengths[train_index],
            train_labels[train_index],
            **training,  # type: ignore[arg-type]
        )
        scores = []
        with torch.no_grad():
            for i in range(0, len(test_index), 64):
                chunk = test_index[i : i + 64]
                device = next(model.parameters()).device
                predicted = model(test_waveforms[chunk].to(device), test_lengths[chunk].to(device))
                scores.append(predicted.argmax(1).cpu() == test_labels[chunk])
        return float(torch.cat(scores).float().mean())

    return score
