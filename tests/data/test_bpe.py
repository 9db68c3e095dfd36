"""Byte-pair encoding against a naive reference written from Sennrich et al. (2016)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from eblearn.data.bpe import apply_merges, chunks, fit_merges, merge_ranks
from eblearn.data.tokenizers import NUM_SPECIAL, UNK, BPETokenizer, tokenizer_from_dict

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to "
    "famish?\n\nAll:\nResolved. resolved.\n\nlow lower lowest newer newest wider  aaaa\taaa\n"
)


def naive_merges(text: str, num_merges: int) -> list[tuple[str, str]]:
    """Recounts every adjacent pair of every word occurrence from scratch at each merge."""
    words = [list(w) for w in chunks(text)]  # every occurrence, not word types
    merges = []
    for _ in range(num_merges):
        counts: Counter[tuple[str, str]] = Counter()
        for w in words:
            for i in range(len(w) - 1):
                counts[(w[i], w[i + 1])] += 1
        if not counts or max(counts.values()) < 2:
            break
        top = max(counts.values())
        best = sorted(p for p, n in counts.items() if n == top)[0]
        merges.append(best)
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


def naive_encode(text: str, merges: list[tuple[str, str]]) -> list[str]:
    """Applies every merge, in the learned order, to every chunk."""
    pieces = []
    for chunk in chunks(text):
        symbols = list(chunk)
        for a, b in merges:
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            symbols = out
        pieces.extend(symbols)
    return pieces


def test_chunks_join_back_to_the_text():
    for text in (TEXT, "  two  spaces\n\n\tand tabs ", "", " "):
        assert "".join(chunks(text)) == text


@pytest.mark.parametrize("num_merges", [0, 1, 7, 40, 500])
def test_merges_equal_the_naive_reference(num_merges):
    assert fit_merges(TEXT, num_merges) == naive_merges(TEXT, num_merges)


def test_the_first_merge_is_the_most_frequent_pair_with_ties_to_the_smallest():
    # ('c', 'd'), (' ', 'a'), ('a', 'b'), (' ', 'c') occur 3 times, (' ', 'x') once: the
    # tie goes to the smallest pair in string order, (' ', 'a')
    assert fit_merges("cd ab cd ab xy ab cd", 1) == [(" ", "a")]
    assert fit_merges("zz yy zz yy", 1) == [(" ", "y")]  # beside ('y', 'y') and ('z', 'z')
    assert fit_merges("abab", 5) == [("a", "b")]  # ('ab', 'ab') occurs once: stop


def test_encoding_equals_merging_in_the_learned_order():
    merges = fit_merges(TEXT, 60)
    ranks = merge_ranks(merges)
    for text in (TEXT, "Resolved, we speak lower than the newest citizen.", "zzz qq"):
        ours = [p for c in chunks(text) for p in apply_merges(list(c), ranks)]
        assert ours == naive_encode(text, merges)


def test_tokenizer_round_trips_and_reaches_its_vocabulary_size():
    tok = BPETokenizer.fit(TEXT, vocab_size=60)
    assert tok.vocab_size == 60
    assert tok.symbols[: len(set(TEXT))] == sorted(set(TEXT))
    assert tok.decode(tok.encode(TEXT)) == TEXT
    held_out = "Speak lower, citizen, we die resolved."
    assert tok.decode(tok.encode(held_out)) == held_out
    assert [tok.itos[i] for i in tok.encode(held_out)] == naive_encode(held_out, tok.merges)
    assert len(tok.encode(TEXT)) < len(TEXT)  # subwords: fewer tokens than characters
    assert tok.encode("Speak!~").tolist()[-1] == UNK  # '~' never seen


def test_refitting_is_deterministic_and_the_saved_form_encodes_identically():
    tok = BPETokenizer.fit(TEXT, vocab_size=70)
    assert BPETokenizer.fit(TEXT, vocab_size=70) == tok
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again == tok and isinstance(again, BPETokenizer)
    assert torch.equal(again.encode(TEXT), tok.encode(TEXT))


def test_fitting_stops_when_no_pair_repeats():
    tok = BPETokenizer.fit("abab", vocab_size=100)
    assert tok.symbols == ["a", "b", "ab"] and tok.vocab_size == NUM_SPECIAL + 3


def test_bad_settings_are_refused_clearly():
    with pytest.raises(ValueError, match="at least 11"):
        BPETokenizer.fit("low lower lowest", vocab_size=10)
    with pytest.raises(ValueError, match="non-empty"):
        BPETokenizer.fit("", vocab_size=10)
    with pytest.raises(ValueError, match="num_merges"):
        fit_merges("ab", -1)
    with pytest.raises(ValueError, match="merges"):
        tokenizer_from_dict({"kind": "bpe", "symbols": ["a"], "merges": [["a"]]})
    with pytest.raises(ValueError, match="subwords of its merges in order"):
        BPETokenizer(["ba", "a", "b"], [("b", "a")])
