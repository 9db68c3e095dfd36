"""Text corpora as token sequences: read, split, tokenize, cut into windows.

A corpus is split *contiguously* (the first 90% of the characters to train, the last 10%
held out), so that no held-out sentence leaks into training through an overlapping window;
a tokenizer (characters, words or BPE subwords) is fitted on the training part; each part
is cut into non-overlapping windows of ``seq_len`` tokens, ``int64`` of shape ``(N, T)``:
the "images" of the text modality, which the engine gathers by index exactly as it gathers images.

Two data sets: ``shakespeare`` (Tiny Shakespeare, 1,115,394 characters, public domain,
shipped inside the package) and ``text:PATH`` (any UTF-8 text file, or a gzipped one).

>>> splits = load_text("shakespeare", seq_len=64)
>>> splits.modality, splits.tokenizer.vocab_size, tuple(splits.pretrain_inputs.shape)
('tokens', 68, (15685, 64))
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import torch
from torch import Tensor, nn

from eblearn.data.images import UNLABELED
from eblearn.data.tokenizers import BPETokenizer, CharTokenizer, Tokenizer, WordTokenizer
from eblearn.registry import Registry

TOKENS = "tokens"
"""The modality of token sequences (text)."""
HELD_OUT_FRACTION = 0.1
"""The last tenth of a corpus is held out for evaluation."""
SHAKESPEARE_FILE = "tinyshakespeare.txt.gz"


def read_text(path: str | os.PathLike[str]) -> str:
    """Reads a UTF-8 text file, gunzipping it when its name ends in ``.gz``.

    Raises:
        ValueError: If the file is missing, not UTF-8 (with the byte offset), not gzip
            despite its name, or empty.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"text file {str(path)!r} does not exist")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        raise ValueError(f"text file {str(path)!r} is not a valid gzip file: {error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"text file {str(path)!r} is not UTF-8 text (byte {error.start}); expected a UTF-8 "
            "text file or a gzipped one (.gz)"
        ) from None
    if not text:
        raise ValueError(f"text file {str(path)!r} is empty")
    return text


def split_text(text: str, held_out: float = HELD_OUT_FRACTION) -> tuple[str, str]:
    """The first ``1 - held_out`` of the characters, and the rest.

    Example:
        >>> split_text("abcdefghij")
        ('abcdefghi', 'j')
    """
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must lie in (0, 1), got {held_out}")
    cut = round(len(text) * (1.0 - held_out))
    if cut < 1 or cut >= len(text):
        raise ValueError(
            f"a text of {len(text)} characters is too short to hold out {held_out:.0%} of it"
        )
    return text[:cut], text[cut:]


def windows(ids: Tensor, seq_len: int) -> Tensor:
    """Non-overlapping windows of ``seq_len`` tokens, shape ``(N, T)``; a last partial
    window is dropped.

    Example:
        >>> windows(torch.arange(7), 3).tolist()
        [[0, 1, 2], [3, 4, 5]]

    Raises:
        ValueError: If ``ids`` is not 1-D or holds fewer than ``seq_len`` tokens.
    """
    if ids.ndim != 1:
        raise ValueError(f"token ids must be 1-D (T,), got shape {tuple(ids.shape)}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
        raise ValueError(f"seq_len must be an integer >= 2, got {seq_len!r}")
    n = len(ids) // seq_len
    if n == 0:
        raise ValueError(f"{len(ids)} tokens are fewer than one window of seq_len={seq_len}")
    return ids[: n * seq_len].reshape(n, seq_len)  # (N, T)


@dataclass(frozen=True)
class TextSplits:
    """A tokenized corpus: the training and held-out text, their ids and windows.

    Attributes:
        name: How the data set was asked for (``"shakespeare"``, ``"text:/path/a.txt"``).
        train_text, test_text: The contiguous 90% / 10% of the corpus.
        tokenizer: Fitted on ``train_text`` (characters, the most frequent words, or BPE
            subwords), or the run's saved one.
        seq_len: Tokens per window T.
    """

    name: str
    train_text: str
    test_text: str
    tokenizer: Tokenizer
    seq_len: int

    modality = TOKENS

    @cached_property
    def train_ids(self) -> Tensor:
        """Ids of the training text, ``(T_train,)``."""
        return self.tokenizer.encode(self.train_text)

    @cached_property
    def test_ids(self) -> Tensor:
        """Ids of the held-out text, ``(T_test,)`` (characters unseen in training are [UNK])."""
        return self.tokenizer.encode(self.test_text)

    @cached_property
    def pretrain_inputs(self) -> Tensor:
        """Training windows ``(N, T)`` int64: what the engine gathers by index."""
        return windows(self.train_ids, self.seq_len)

    @property
    def pretrain_count(self) -> int:
        """Number of training windows."""
        return len(self.pretrain_inputs)

    @property
    def test_windows(self) -> Tensor:
        """Held-out windows ``(N_test, T)``."""
        return windows(self.test_ids, self.seq_len)

    @property
    def pretrain_labels(self) -> Tensor:
        """No labels: all ``-1`` (the online probe is off)."""
        return torch.full((len(self.pretrain_inputs),), UNLABELED, dtype=torch.int64)

    @property
    def num_classes(self) -> int:
        return 0

    @property
    def has_labels(self) -> bool:
        return False


class TokenViews(nn.Module):
    """The views of a token method: the gathered windows themselves, ``num_views`` times.

    The text engine's counterpart of :class:`~eblearn.data.MultiViewAugment`: a masked model
    corrupts its windows itself, since its loss needs to know where.

    Example:
        >>> views = TokenViews(1)(torch.ones(2, 4, dtype=torch.int64))
        >>> len(views), tuple(views[0].shape)
        (1, (2, 4))
    """

    def __init__(self, num_views: int = 1) -> None:
        super().__init__()
        self.num_views = num_views

    def forward(self, windows: Tensor) -> list[Tensor]:
        if windows.ndim != 2:
            raise ValueError(f"token views take windows (B, T), got {tuple(windows.shape)}")
        return [windows] * self.num_views


TextLoader = Callable[[str | None], str]
"""Reads a corpus given the spec's argument (a path, or ``None``)."""

TEXT_DATASETS: Registry[TextLoader] = Registry("text data set")
"""Corpora by name; :func:`load_text` is the way to read them."""
TEXT_NEEDS_ARGUMENT = ("text",)


@TEXT_DATASETS.register("shakespeare")
def shakespeare(argument: str | None = None) -> str:
    """Tiny Shakespeare: 1,115,394 characters of the plays (public domain), embedded."""
    data = resources.files("eblearn.data").joinpath("embedded", SHAKESPEARE_FILE).read_bytes()
    return gzip.decompress(data).decode("utf-8")


@TEXT_DATASETS.register("text")
def text_file(argument: str | None) -> str:
    """Any UTF-8 text file, or a gzipped one: text:PATH."""
    if not argument:
        raise ValueError("dataset 'text' needs a path: use 'text:PATH'")
    return read_text(argument)


TOKENIZER_KINDS = ("char", "word", "bpe")
MAX_WORDS = 5000
"""Words a word tokenizer keeps (the rest are [UNK])."""
BPE_VOCAB_SIZE = 512
"""Vocabulary of a BPE tokenizer when none is given (special tokens included)."""


def fit_tokenizer(text: str, kind: str, vocab_size: int | None = None) -> Tokenizer:
    """A tokenizer of ``kind`` fitted on ``text``; ``vocab_size`` is the BPE vocabulary.

    Raises:
        ValueError: On an unknown kind (naming the valid ones), or ``vocab_size`` given for
            another kind than ``bpe``.
    """
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, got {kind!r}")
    if kind != "bpe" and vocab_size is not None:
        raise ValueError(f"vocab_size applies to the 'bpe' tokenizer, not {kind!r}")
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "word":
        return WordTokenizer.fit(text, MAX_WORDS)
    return BPETokenizer.fit(text, vocab_size or BPE_VOCAB_SIZE)


def load_text(
    spec: str,
    seq_len: int = 64,
    tokenizer: str | Tokenizer = "char",
    vocab_size: int | None = None,
) -> TextSplits:
    """Reads, splits (90/10, contiguous) and tokenizes a corpus.

    Args:
        spec: ``"shakespeare"`` or ``"text:PATH"``.
        seq_len: Tokens per window.
        tokenizer: ``"char"`` (every character), ``"word"`` (the :data:`MAX_WORDS` most
            frequent lowercased words of the training part), ``"bpe"`` (subwords learned on
            the training part, :class:`~eblearn.data.tokenizers.BPETokenizer`), or a fitted
            tokenizer (a run's saved one), used as it is.
        vocab_size: The BPE vocabulary, special tokens included (default
            :data:`BPE_VOCAB_SIZE`).

    Raises:
        ValueError: On an unknown name (listing the valid ones), a bad path or file, or a
            corpus too short for one window of ``seq_len`` in each split.
    """
    if not isinstance(spec, str):
        raise ValueError(f"dataset spec must be a string such as 'shakespeare', got {spec!r}")
    name, _, argument = spec.partition(":")
    loader = TEXT_DATASETS.get(name)
    if name not in TEXT_NEEDS_ARGUMENT and argument:
        raise ValueError(f"dataset {name!r} takes no argument, got {spec!r}")
    if isinstance(tokenizer, str) and tokenizer not in TOKENIZER_KINDS:
        raise ValueError(
            f"tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, got {tokenizer!r}"
        )
    train_text, test_text = split_text(loader(argument or None))
    fitted = (
        fit_tokenizer(train_text, tokenizer, vocab_size)
        if isinstance(tokenizer, str)
        else tokenizer
    )
    splits = TextSplits(spec, train_text, test_text, fitted, seq_len)
    for part, ids in (("training", splits.train_ids), ("held-out", splits.test_ids)):
        if len(ids) < seq_len:
            raise ValueError(
                f"the {part} part of {spec!r} holds {len(ids)} tokens, fewer than one "
                f"window of seq_len={seq_len}; use a longer text or a smaller --seq-len"
            )
    return splits
