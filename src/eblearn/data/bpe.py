"""Byte-pair encoding (BPE) fitted on a corpus: merge the most frequent adjacent pair, repeat.

Sennrich, Haddow and Birch (2016) adapt Gage's compression scheme to build a subword
vocabulary: start from the corpus's characters; count every adjacent pair of symbols inside
the words; replace the most frequent pair ``(a, b)`` by a new symbol ``ab`` everywhere;
repeat until the vocabulary holds the size asked for. Encoding applies the learned merges,
in the order they were learned, to each word of a new text.

Here a "word" is a chunk of :func:`chunks`: a run of non-space characters with the single
space before it, or one whitespace character alone, so that the chunks of a text joined
give the text back and decoding is exact. Ties between equally frequent pairs go to the
smallest pair in string order, ``(a, b) < (a', b')``, so a fit is deterministic; fitting
stops early once no pair occurs twice.

[0] Sennrich, Haddow, Birch, Neural Machine Translation of Rare Words with Subword Units,
    ACL 2016, https://arxiv.org/abs/1508.07909

>>> merges = fit_merges("low lower lowest", num_merges=3)
>>> merges
[('l', 'o'), ('lo', 'w'), (' ', 'low')]
>>> apply_merges(list(" lowly"), merge_ranks(merges))
[' low', 'l', 'y']
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from itertools import pairwise

Pair = tuple[str, str]

CHUNK_PATTERN = re.compile(r" ?\S+|\s")
"""A chunk: non-space characters with at most one space before them, or one whitespace."""


def chunks(text: str) -> list[str]:
    """The text cut into chunks that merges never cross; ``"".join(chunks(t)) == t``.

    Example:
        >>> chunks("To be,  or\\nnot")
        ['To', ' be,', ' ', ' or', '\\n', 'not']
    """
    return CHUNK_PATTERN.findall(text)


def merge_pair(symbols: list[str], pair: Pair) -> list[str]:
    """``symbols`` with every occurrence of ``pair`` joined, scanning left to right.

    Example:
        >>> merge_pair(["a", "a", "a", "b"], ("a", "a"))
        ['aa', 'a', 'b']
    """
    first, second = pair
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
            merged.append(first + second)
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


def _pairs(symbols: list[str]) -> Counter[Pair]:
    """Adjacent pairs of ``symbols`` with their multiplicity in the word."""
    return Counter(pairwise(symbols))


def fit_merges(text: str, num_merges: int) -> list[Pair]:
    """The first ``num_merges`` merges of BPE on ``text`` (fewer when no pair occurs twice).

    Pair counts are kept up to date incrementally: a merge recounts only the word types
    that held the merged pair, each weighted by how often it occurs in the text.

    Raises:
        ValueError: If ``num_merges`` is negative or not an integer.
    """
    if isinstance(num_merges, bool) or not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be a non-negative integer, got {num_merges!r}")
    frequency = Counter(chunks(text))
    words = [list(word) for word in frequency]  # each word type as its current symbols
    weights = list(frequency.values())
    counts: Counter[Pair] = Counter()  # pair → occurrences in the whole text
    holders: defaultdict[Pair, set[int]] = defaultdict(set)  # pair → word types holding it
    for index, symbols in enumerate(words):
        for pair, n in _pairs(symbols).items():
            counts[pair] += n * weights[index]
            holders[pair].add(index)
    merges: list[Pair] = []
    while len(merges) < num_merges and counts:
        top = max(counts.values())
        if top < 2:
            break
        best = min(pair for pair, n in counts.items() if n == top)  # ties: smallest pair
        merges.append(best)
        for index in holders.pop(best):
            before = _pairs(words[index])
            words[index] = merge_pair(words[index], best)
            after = _pairs(words[index])
            for pair in before.keys() | after.keys():
                change = (after[pair] - before[pair]) * weights[index]
                if change:
                    counts[pair] += change
                    if counts[pair] == 0:
                        del counts[pair]
                if after[pair]:
                    holders[pair].add(index)
                elif pair in holders:
                    holders[pair].discard(index)
        counts.pop(best, None)
    return merges


def merge_ranks(merges: list[Pair]) -> dict[Pair, int]:
    """Each merge's position in the learned order (a pair learned twice keeps its first)."""
    ranks: dict[Pair, int] = {}
    for rank, pair in enumerate(merges):
        ranks.setdefault(pair, rank)
    return ranks


def apply_merges(symbols: list[str], ranks: dict[Pair, int]) -> list[str]:
    """Applies the merges to one chunk: the earliest-learned pair present first, until none.

    Equal to applying every merge in the learned order, since a merge only creates pairs
    that hold its new symbol, which were learned after it.
    """
    while len(symbols) > 1:
        present = [p for p in pairwise(symbols) if p in ranks]
        if not present:
            break
        symbols = merge_pair(symbols, min(present, key=ranks.__getitem__))
    return symbols
