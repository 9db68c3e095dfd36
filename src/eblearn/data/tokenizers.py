"""Tokenizers fitted on a corpus: characters (the MLM's), words (Collobert–Weston's) and
byte-pair encoding (subwords, :mod:`eblearn.data.bpe`).

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

from eblearn.data.bpe import Pair, apply_merges, chunks, fit_merges, merge_ranks

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


class BPETokenizer(_Vocabulary):
    """Subwords learned by byte-pair encoding (Sennrich et al. 2016, :mod:`eblearn.data.bpe`).

    The symbols are the training text's characters, sorted, then each merge's new subword
    in the order learned (a subword that two merges both make is listed once). Encoding cuts
    a text into :func:`~eblearn.data.bpe.chunks` and applies the merges to each (cached per
    chunk); decoding joins the subwords, so ``decode(encode(t)) == t`` for any text whose
    characters the training text held (the others are ``[UNK]``).

    [0] Sennrich, Haddow, Birch, Neural Machine Translation of Rare Words with Subword Units,
        ACL 2016, https://arxiv.org/abs/1508.07909

    Example:
        >>> tok = BPETokenizer.fit("low lower lowest", vocab_size=14)
        >>> tok.symbols[-3:], tok.merges
        (['lo', 'low', ' low'], [('l', 'o'), ('lo', 'w'), (' ', 'low')])
        >>> [tok.itos[i] for i in tok.encode("lowest low")]
        ['low', 'e', 's', 't', ' low']
        >>> tok.decode(tok.encode("slow owl"))
        'slow owl'
    """

    kind = "bpe"
    joiner = ""

    def __init__(self, symbols: list[str], merges: list[Pair]) -> None:
        made = [a + b for a, b in merges]
        letters = [s for s in symbols if s not in set(made)]
        if any(len(s) != 1 for s in letters):
            raise ValueError("a BPE tokenizer's symbols other than its subwords are characters")
        expected = list(dict.fromkeys([*letters, *made]))
        if expected != list(symbols):
            raise ValueError(
                "a BPE tokenizer's symbols must be its characters followed by the subwords of "
                "its merges in order"
            )
        super().__init__(symbols)
        self.merges = [(a, b) for a, b in merges]
        self._ranks = merge_ranks(self.merges)
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def fit(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Learns merges on ``text`` until the vocabulary (special tokens included) holds
        ``vocab_size`` tokens, or no pair of symbols occurs twice.

        Raises:
            ValueError: If ``text`` is empty or not a string, or ``vocab_size`` is not an
                integer larger than the special tokens plus the text's distinct characters.
        """
        if not isinstance(text, str) or not text:
            raise ValueError("a BPE tokenizer is fitted on a non-empty string")
        letters = sorted(set(text))
        smallest = NUM_SPECIAL + len(letters)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise ValueError(f"vocab_size must be an integer, got {vocab_size!r}")
        if vocab_size < smallest:
            raise ValueError(
                f"vocab_size {vocab_size} is below the {NUM_SPECIAL} special tokens plus the "
                f"text's {len(letters)} distinct characters; use at least {smallest}"
            )
        symbols = list(letters)
        merges: list[Pair] = []
        # a merge can make a subword that is already a symbol: ask for more until full
        while len(symbols) < vocab_size - NUM_SPECIAL:
            asked = len(merges) + vocab_size - NUM_SPECIAL - len(symbols)
            learned = fit_merges(text, asked)
            for first, second in learned[len(merges) :]:
                if len(symbols) == vocab_size - NUM_SPECIAL:
                    break
                merges.append((first, second))
                if first + second not in symbols:
                    symbols.append(first + second)
            if len(learned) < asked:  # no pair occurs twice any more
                break
        return cls(symbols, merges)

    def split(self, text: str) -> list[str]:
        pieces: list[str] = []
        for chunk in chunks(text):
            if chunk not in self._cache:
                self._cache[chunk] = apply_merges(list(chunk), self._ranks)
            pieces.extend(self._cache[chunk])
        return pieces

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "bpe", "symbols": [...], "merges": [[a, b], ...]}``."""
        return {**super().to_dict(), "merges": [list(pair) for pair in self.merges]}

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and other.merges == self.merges  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.kind, tuple(self.symbols), tuple(self.merges)))


Tokenizer = CharTokenizer | WordTokenizer | BPETokenizer
"""Any tokenizer eblearn fits."""

TOKENIZERS: dict[str, type[_Vocabulary]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "bpe": BPETokenizer,
}


def tokenizer_from_dict(values: dict[str, Any]) -> Tokenizer:
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
    if kind == "bpe":
        merges = values.get("merges")
        if not isinstance(merges, list) or not all(
            isinstance(m, list | tuple) and len(m) == 2 and all(isinstance(s, str) for s in m)
            for m in merges
        ):
            raise ValueError("a saved BPE tokenizer needs 'merges': a list of [str, str] pairs")
        return BPETokenizer(symbols, [(a, b) for a, b in merges])
    return CharTokenizer(symbols) if kind == "char" else WordTokenizer(symbols)
