"""Tokenizers fitted on a corpus: characters (the MLM's) and words (Collobert–Weston's).

Both share one vocabulary layout: the special tokens first, at fixed ids, then the corpus's
symbols. ``[PAD]`` (0) fills, ``[MASK]`` (1) hides a token from a masked language model,
``[UNK]`` (2) stands for a symbol the corpus did not hold when the tokenizer was fitted. A
tokenizer is saved as a JSON-ready dict (:meth:`CharTokenizer.to_dict`) beside the run.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar

import torch
from torch import Tensor

PAD, MASK, UNK = 0, 1, 2
"""Ids of the special tokens, the same in every tokenizer."""
SPECIAL_TOKENS = ("[PAD]", "[MASK]", "[UNK]")
NUM_SPECIAL = len(SPECIAL_TOKENS)


class _Vocabulary:
    """Symbols ↔ ids, the special tokens first; subclasses split text into symbols."""

    kind: ClassVar[str] = ""
    joiner: ClassVar[str] = ""

    def __init__(self, symbols: list[str]) -> None:
        duplicates = sorted(s for s, n in Counter(symbols).items() if n > 1)
        if duplicates:
            raise ValueError(f"vocabulary symbols must be distinct, repeated: {duplicates[:5]}")
        clash = sorted(set(symbols) & set(SPECIAL_TOKENS))
        if clash:
            raise ValueError(f"vocabulary symbols may not be special tokens, got {clash}")
        self.symbols = list(symbols)
        self.itos = [*SPECIAL_TOKENS, *self.symbols]
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        """Special tokens plus symbols."""
        return len(self.itos)

    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def encode(self, text: str) -> Tensor:
        """The ids of ``text``'s symbols, ``int64`` of shape ``(T,)``; unknown ones are [UNK]."""
        if not isinstance(text, str):
            raise ValueError(f"encode takes a string, got {type(text).__name__}")
        return torch.tensor([self.stoi.get(s, UNK) for s in self.split(text)], dtype=torch.int64)

    def decode(self, ids: Tensor | list[int]) -> str:
        """The symbols of ``ids`` joined (special tokens written as ``[PAD]``, ``[MASK]``...).

        Raises:
            ValueError: If an id is outside ``0 .. vocab_size - 1``.
        """
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        bad = [i for i in values if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids must lie in 0..{self.vocab_size - 1}, got {bad[:5]}")
        return self.joiner.join(self.itos[i] for i in values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``{"kind": ..., "symbols": [...]}``."""
        return {"kind": self.kind, "symbols": list(self.symbols)}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.symbols == self.symbols  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.kind, tuple(self.symbols)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class CharTokenizer(_Vocabulary):
    """One token per character: the corpus's characters, sorted, after the special tokens.

    Example:
        >>> tok = CharTokenizer.fit("abca")
        >>> tok.vocab_size, tok.encode("cab").tolist(), tok.decode([5, 3, 1])
        (6, [5, 3, 4], 'ca[MASK]')
        >>> tok.encode("z").tolist()  # not in the corpus: [UNK]
        [2]
    """

    kind = "char"
    joiner = ""

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """The tokenizer of ``text``'s distinct characters.

        Raises:
            ValueError: If ``text`` is empty or not a string.
        """
        if not isinstance(text, str) or not text:
            raise ValueError("a character tokenizer is fitted on a non-empty string")
        return cls(sorted(set(text)))

    def split(self, text: str) -> list[str]:
        return list(text)


WORD_PATTERN = re.compile(r"[a-z']+|[^\sa-z']")
"""A word: a run of lowercase letters and apostrophes; any other non-space character alone."""


class WordTokenizer(_Vocabulary):
    """Lowercased words, the ``max_words`` most frequent kept (ties by first appearance);
    the others are ``[UNK]``. Decoding joins words with spaces.

    Example:
        >>> tok = WordTokenizer.fit("the cat. The dog, the end", max_words=3)
        >>> tok.symbols
        ['the', 'cat', '.']
        >>> tok.decode(tok.encode("The dog"))
        'the [UNK]'
    """

    kind = "word"
    joiner = " "

    @classmethod
    def fit(cls, text: str, max_words: int = 5000) -> WordTokenizer:
        """Keeps the ``max_words`` most frequent words of ``text``.

        Raises:
            ValueError: If ``text`` holds no word or ``max_words`` < 1.
        """
        if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
            raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
        if not isinstance(text, str):
            raise ValueError(f"a word tokenizer is fitted on a string, got {type(text).__name__}")
        counts = Counter(cls.split_text(text))  # insertion order breaks ties: first seen first
        if not counts:
            raise ValueError("a word tokenizer is fitted on text holding at least one word")
        return cls([w for w, _ in counts.most_common(max_words)])

    @staticmethod
    def split_text(text: str) -> list[str]:
        return WORD_PATTERN.findall(text.lower())

    def split(self, text: str) -> list[str]:
        return self.split_text(text)


TOKENIZERS: dict[str, type[_Vocabulary]] = {"char": CharTokenizer, "word": WordTokenizer}


def tokenizer_from_dict(values: dict[str, Any]) -> CharTokenizer | WordTokenizer:
    """Rebuilds a tokenizer saved by ``to_dict``.

    Raises:
        ValueError: If ``values`` is not such a dict (naming the valid kinds).
    """
    kind = values.get("kind") if isinstance(values, dict) else None
    symbols = values.get("symbols") if isinstance(values, dict) else None
    if kind not in TOKENIZERS or not isinstance(symbols, list):
        raise ValueError(
            f"a saved tokenizer is {{'kind': one of {sorted(TOKENIZERS)}, 'symbols': [...]}}, "
            f"got {str(values)[:80]}"
        )
    if not all(isinstance(s, str) for s in symbols):
        raise ValueError("a saved tokenizer's symbols must be strings")
    return CharTokenizer(symbols) if kind == "char" else WordTokenizer(symbols)
