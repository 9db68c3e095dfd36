"""Who is speaking? A linear probe on a text encoder's features against a bag of characters.

A play's text is a sequence of speeches, ``"NAME:\\n text...\\n\\n"``
(:func:`speeches`). The probe labels each speech of the ``top`` most frequent speakers with
its speaker, keeps the first ``seq_len`` characters of the speech (padded with ``[PAD]``),
splits the speeches 80/20 stratified by speaker, and fits the same multinomial logistic
regression (:class:`~eblearn.evaluate.linear.LinearProbe`) on

- the frozen encoder's pooled features, and
- a bag of characters: each character's frequency in the same ``seq_len`` characters.

The encoder has seen the training text without speaker names' labels; the probe's labels
are the only supervision, the same for both feature sets.

To look for better features without touching the test speeches, :func:`speech_window_stack`
gives up to ``count`` consecutive windows of each speech (more of its text, for both feature
sets), :func:`layer_features` pools a Transformer's states from every stage (embeddings,
each block, the output), and :func:`cross_validated_accuracy` scores a choice by k-fold
cross-validation inside the probe's training speeches (``benchmarks/bench_text.py``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eblearn.data.images import stratified_split
from eblearn.data.tokenizers import NUM_SPECIAL, PAD, Tokenizer
from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.evaluate.linear import LinearProbe

SPEAKERS = 10
"""Speakers the probe tells apart (the most frequent ones)."""
TEST_FRACTION = 0.2


def speeches(text: str) -> list[tuple[str, str]]:
    """``(speaker, speech)`` pairs of blocks that start with a ``NAME:`` line.

    Example:
        >>> speeches("ROMEO:\\nBut soft!\\n\\nJULIET:\\nAy me.\\nO Romeo.\\n\\nstage direction")
        [('ROMEO', 'But soft!'), ('JULIET', 'Ay me.\\nO Romeo.')]
    """
    found = []
    for block in text.split("\n\n"):
        head, _, body = block.strip("\n").partition("\n")
        if head.endswith(":") and body.strip():
            found.append((head[:-1], body.strip()))
    return found


@dataclass(frozen=True)
class SpeakerProbeResult:
    """Test accuracy of the probe on the encoder's features and on a bag of characters."""

    speakers: tuple[str, ...]
    train_size: int
    test_size: int
    encoder: float
    bag_of_characters: float
    majority: float

    def as_dict(self) -> dict[str, object]:
        return {
            "speakers": list(self.speakers),
            "train_speeches": self.train_size,
            "test_speeches": self.test_size,
            "encoder": self.encoder,
            "bag_of_characters": self.bag_of_characters,
            "majority": self.majority,
        }


def speech_windows(texts: list[str], tokenizer: Tokenizer, seq_len: int) -> Tensor:
    """The first ``seq_len`` tokens of each text, padded with ``[PAD]``: ``(N, seq_len)``."""
    windows = torch.full((len(texts), seq_len), PAD, dtype=torch.int64)
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text)[:seq_len]
        windows[i, : len(ids)] = ids
    return windows


def speech_window_stack(texts: list[str], tokenizer: Tokenizer, seq_len: int, count: int) -> Tensor:
    """The first ``count · seq_len`` tokens of each text as ``count`` consecutive windows,
    ``[PAD]`` after the text: ``(N, count, seq_len)`` (``count = 1``: :func:`speech_windows`).

    Example:
        >>> from eblearn.data.tokenizers import CharTokenizer
        >>> speech_window_stack(["abcde"], CharTokenizer.fit("abcde"), 2, 2).tolist()
        [[[3, 4], [5, 6]]]

    Raises:
        ValueError: If ``count`` is not a positive integer.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    flat = speech_windows(texts, tokenizer, count * seq_len)  # (N, count·T)
    return flat.reshape(len(texts), count, seq_len)


def windows_to_cover(texts: list[str], tokenizer: Tokenizer, seq_len: int) -> int:
    """The fewest windows of ``seq_len`` tokens that hold the longest text whole,
    ``max_n ⌈len(tokens_n) / seq_len⌉`` (at least 1): the ``count`` of
    :func:`speech_window_stack` that reads every speech to its end.

    Example:
        >>> from eblearn.data.tokenizers import CharTokenizer
        >>> windows_to_cover(["abcde", "ab"], CharTokenizer.fit("abcde"), 2)
        3

    Raises:
        ValueError: If ``seq_len`` is not a positive integer.
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
    longest = max((len(tokenizer.encode(text)) for text in texts), default=0)
    return max(1, -(-longest // seq_len))


def bag_of_characters(windows: Tensor, vocab_size: int) -> Tensor:
    """Each ordinary token's frequency among a window's non-padding tokens, ``(N, V)``; a
    stack of windows ``(N, K, T)`` counts as one window per row.

    Example:
        >>> bag_of_characters(torch.tensor([[3, 3, 4, 0]]), 5)
        tensor([[0.0000, 0.0000, 0.0000, 0.6667, 0.3333]])
    """
    windows = windows.reshape(len(windows), -1)  # (N, K·T)
    counts = torch.zeros(len(windows), vocab_size)
    counts.scatter_add_(1, windows, torch.ones_like(windows, dtype=torch.float32))
    counts[:, :NUM_SPECIAL] = 0.0
    return counts / counts.sum(1, keepdim=True).clamp_min(1.0)


@torch.no_grad()
def encode_windows(
    encoder: nn.Module, windows: Tensor, batch_size: int = 256, inference: Inference = FLOAT32
) -> Tensor:
    """The encoder's features of ``windows``, in evaluation mode, on its device: ``(N, D)``,
    float32 on the CPU.

    ``inference`` is the arithmetic precision of the forward passes (a run's, from
    :func:`eblearn.train.precision.inference_setting`); windows of token ids have no layout.
    """
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    with inference.precision(device):
        parts = [
            encoder(windows[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(windows), batch_size)
        ]
    encoder.train(was_training)
    return torch.cat(parts)


LAYERS = ("final", "all")
"""Which states :func:`layer_features` pools: the encoder's output, or every stage's."""


@torch.no_grad()
def layer_features(
    encoder: nn.Module,
    windows: Tensor,
    layers: str = "final",
    batch_size: int = 256,
    inference: Inference = FLOAT32,
) -> Tensor:
    """Mean of a token Transformer's states over the non-padding tokens of each row's windows.

    ``f = Σ_{k,t} m_kt h_kt / Σ_{k,t} m_kt`` with ``m_kt = [x_kt ≠ PAD]``, for the output
    states (``layers="final"``: for one window, the encoder's own features), or for every
    stage of ``encoder.layer_states`` (embeddings, each block, output), concatenated
    (``"all"``: ``(N, (L + 2)·D)``).

    Args:
        encoder: A token encoder with ``layer_states(tokens) -> [(B, T, D), ...]``
            (:class:`~eblearn.nn.sequence.TokenTransformer`).
        windows: ``(N, K, T)`` stacks of windows, or ``(N, T)``.
        layers: One of :data:`LAYERS`.
        batch_size: Windows per forward pass.
        inference: The precision of the forward passes (a run's, from
            :func:`eblearn.train.precision.inference_setting`); the states are summed and
            averaged in float32 whatever it is.

    Raises:
        ValueError: On an unknown ``layers`` or an encoder without ``layer_states``.
    """
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {', '.join(LAYERS)}, got {layers!r}")
    if not callable(getattr(encoder, "layer_states", None)):
        raise ValueError(
            f"layer_features needs a token encoder with layer_states() (the 'transformer' "
            f"backbone), got {type(encoder).__name__}"
        )
    stack = windows if windows.ndim == 3 else windows[:, None]  # (N, K, T)
    n, k, t = stack.shape
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    # only windows with a real token are encoded: an all-[PAD] window (past the end of a
    # short speech) has no key to attend to and adds nothing to the sums
    flat = stack.reshape(n * k, t)  # (N·K, T)
    owner = torch.arange(n).repeat_interleave(k)  # (N·K,) the speech of each window
    used = (flat != PAD).any(1)
    used[0] = used[0] or not used.any()  # nothing real anywhere: one window gives the width
    flat, owner = flat[used], owner[used]
    parts = []  # each (b, S·D): the states summed over a window's real tokens
    for start in range(0, len(flat), batch_size):
        rows = flat[start : start + batch_size].to(device)  # (b, T)
        with inference.precision(device):
            states = encoder.layer_states(rows)  # type: ignore[operator]
        chosen = states if layers == "all" else states[-1:]
        keep = (rows != PAD).unsqueeze(-1)  # (b, T, 1)
        parts.append(torch.cat([h.float().masked_fill(~keep, 0.0).sum(1) for h in chosen], 1).cpu())
    encoder.train(was_training)
    summed = torch.cat(parts)  # (windows used, S·D)
    sums = torch.zeros(n, summed.shape[1]).index_add_(0, owner, summed)  # (N, S·D)
    count = (stack != PAD).reshape(n, k * t).sum(1, keepdim=True).clamp_min(1)  # (N, 1)
    return sums / count


def _fold_predictions(
    features: Tensor, labels: Tensor, index: Tensor, folds: int, seed: int
) -> list[tuple[Tensor, Tensor]]:
    """``(held-out rows, their predicted labels)`` of each of ``folds`` folds of ``index``."""
    if not 2 <= folds <= len(index):
        raise ValueError(f"folds must lie in 2..{len(index)}, got {folds}")
    order = index[torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))]
    classes = int(labels.max()) + 1
    predicted = []
    for fold in range(folds):
        held = order[fold::folds]
        fitted = torch.cat([order[other::folds] for other in range(folds) if other != fold])
        probe = LinearProbe(seed=seed).fit(features[fitted], labels[fitted], classes)
        predicted.append((held, probe.predict(features[held]).cpu()))
    return predicted


def cross_validated_accuracy(
    features: Tensor, labels: Tensor, index: Tensor, folds: int = 5, seed: int = 0
) -> float:
    """Mean accuracy of the linear probe over ``folds`` folds of ``index`` alone.

    ``index`` is shuffled (seeded) and dealt into ``folds`` parts; each part is scored by a
    probe fitted on the others. Only the rows in ``index`` are read, so choosing features by
    this score on the probe's training speeches leaves the test speeches untouched.

    Raises:
        ValueError: If ``folds`` is below 2 or above ``len(index)``.
    """
    parts = _fold_predictions(features, labels, index, folds, seed)
    return sum(float((guess == labels[held]).float().mean()) for held, guess in parts) / folds


def cross_validated_hits(
    features: Tensor, labels: Tensor, index: Tensor, folds: int = 5, seed: int = 0
) -> Tensor:
    """Whether the probe fitted on the other folds gets each row of ``index`` right,
    ``(len(index),)`` booleans in the order of ``index`` (the same folds as
    :func:`cross_validated_accuracy`): per-speech hits for a paired comparison of two
    feature sets (:func:`~eblearn.evaluate.bootstrap.paired_bootstrap`) on the training
    speeches alone.

    Raises:
        ValueError: If ``folds`` is below 2 or above ``len(index)``.
    """
    hits = torch.zeros(len(labels), dtype=torch.bool)
    for held, guess in _fold_predictions(features, labels, index, folds, seed):
        hits[held] = guess == labels[held]
    return hits[index]


def speaker_speeches(text: str, speakers: int = SPEAKERS) -> tuple[list[str], Tensor, list[str]]:
    """The speeches of the ``speakers`` most frequent speakers: their texts, their labels
    ``(N,)`` (the speaker's rank) and the speakers' names, most frequent first.

    Raises:
        ValueError: If ``text`` holds speeches of fewer than two speakers.
    """
    found = speeches(text)
    top = [name for name, _ in Counter(name for name, _ in found).most_common(speakers)]
    if len(top) < 2:
        raise ValueError(
            "the speaker probe needs speeches ('NAME:' lines, blank lines between them) of at "
            f"least two speakers, found {len(top)}"
        )
    kept = [(top.index(name), body) for name, body in found if name in top]
    return [body for _, body in kept], torch.tensor([label for label, _ in kept]), top


def speaker_probe(
    encoder: nn.Module,
    tokenizer: Tokenizer,
    text: str,
    seq_len: int,
    speakers: int = SPEAKERS,
    seed: int = 0,
    inference: Inference = FLOAT32,
) -> SpeakerProbeResult:
    """Probes ``encoder`` for the speaker of each speech of the ``speakers`` most frequent.

    The encoder's features are extracted in ``inference``'s precision (a run's, from
    :func:`eblearn.train.precision.inference_setting`).

    Raises:
        ValueError: If ``text`` holds speeches of fewer than two speakers.
    """
    texts, labels, top = speaker_speeches(text, speakers)
    windows = speech_windows(texts, tokenizer, seq_len)
    train, test = stratified_split(labels, TEST_FRACTION, seed)

    def accuracy(features: Tensor) -> float:
        probe = LinearProbe(seed=seed).fit(features[train], labels[train], len(top))
        return probe.score(features[test], labels[test])

    majority = float((labels[test] == labels[train].mode().values).float().mean())
    return SpeakerProbeResult(
        tuple(top),
        len(train),
        len(test),
        accuracy(encode_windows(encoder, windows, inference=inference)),
        accuracy(bag_of_characters(windows, tokenizer.vocab_size)),
        majority,
    )
