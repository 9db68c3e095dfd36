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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eblearn.data.images import stratified_split
from eblearn.data.tokenizers import NUM_SPECIAL, PAD, Tokenizer
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


def bag_of_characters(windows: Tensor, vocab_size: int) -> Tensor:
    """Each ordinary token's frequency among a window's non-padding tokens, ``(N, V)``.

    Example:
        >>> bag_of_characters(torch.tensor([[3, 3, 4, 0]]), 5)
        tensor([[0.0000, 0.0000, 0.0000, 0.6667, 0.3333]])
    """
    counts = torch.zeros(len(windows), vocab_size)
    counts.scatter_add_(1, windows, torch.ones_like(windows, dtype=torch.float32))
    counts[:, :NUM_SPECIAL] = 0.0
    return counts / counts.sum(1, keepdim=True).clamp_min(1.0)


@torch.no_grad()
def encode_windows(encoder: nn.Module, windows: Tensor, batch_size: int = 256) -> Tensor:
    """The encoder's features of ``windows``, in evaluation mode, on its device: ``(N, D)``."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    parts = [
        encoder(windows[i : i + batch_size].to(device)).float().cpu()
        for i in range(0, len(windows), batch_size)
    ]
    encoder.train(was_training)
    return torch.cat(parts)


def speaker_probe(
    encoder: nn.Module,
    tokenizer: Tokenizer,
    text: str,
    seq_len: int,
    speakers: int = SPEAKERS,
    seed: int = 0,
) -> SpeakerProbeResult:
    """Probes ``encoder`` for the speaker of each speech of the ``speakers`` most frequent.

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
    labels = torch.tensor([label for label, _ in kept])
    windows = speech_windows([body for _, body in kept], tokenizer, seq_len)
    train, test = stratified_split(labels, TEST_FRACTION, seed)

    def accuracy(features: Tensor) -> float:
        probe = LinearProbe(seed=seed).fit(features[train], labels[train], len(top))
        return probe.score(features[test], labels[test])

    majority = float((labels[test] == labels[train].mode().values).float().mean())
    return SpeakerProbeResult(
        tuple(top),
        len(train),
        len(test),
        accuracy(encode_windows(encoder, windows)),
        accuracy(bag_of_characters(windows, tokenizer.vocab_size)),
        majority,
    )
