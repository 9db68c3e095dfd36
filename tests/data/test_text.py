"""Text data: tokenizers, the contiguous split, windows, files and the embedded corpus."""

from __future__ import annotations

import gzip

import pytest
import torch

from eblearn.data import DATASETS, TEXT_DATASETS, load_dataset, load_text, modality_of
from eblearn.data.text import read_text, split_text, windows
from eblearn.data.tokenizers import (
    MASK,
    NUM_SPECIAL,
    PAD,
    UNK,
    CharTokenizer,
    WordTokenizer,
    tokenizer_from_dict,
)

CORPUS = "ROMEO:\nBut soft, what light.\n\nJULIET:\nAy me!\n\n" * 40


def test_char_tokenizer_round_trips_and_puts_specials_first():
    tok = CharTokenizer.fit("hello world")
    assert tok.itos[:NUM_SPECIAL] == ["[PAD]", "[MASK]", "[UNK]"]
    assert (PAD, MASK, UNK) == (0, 1, 2)
    assert tok.vocab_size == NUM_SPECIAL + len(set("hello world"))
    ids = tok.encode("world hello")
    assert ids.dtype == torch.int64
    assert tok.decode(ids) == "world hello"
    assert sorted(tok.symbols) == tok.symbols  # sorted characters: the same corpus, same ids
    assert tok.encode("hex").tolist()[-1] == UNK


def test_tokenizer_survives_its_saved_form():
    for tok in (CharTokenizer.fit(CORPUS), WordTokenizer.fit(CORPUS, max_words=5)):
        again = tokenizer_from_dict(tok.to_dict())
        assert again == tok and type(again) is type(tok)
        assert torch.equal(again.encode(CORPUS[:50]), tok.encode(CORPUS[:50]))
    with pytest.raises(ValueError, match="kind"):
        tokenizer_from_dict({"kind": "unigram-lm", "symbols": []})


def test_word_tokenizer_keeps_the_most_frequent_words():
    text = "a b a c a b d"
    tok = WordTokenizer.fit(text, max_words=2)
    assert tok.symbols == ["a", "b"]  # counts 3, 2; c and d are unknown
    assert tok.encode("a c b").tolist() == [NUM_SPECIAL, UNK, NUM_SPECIAL + 1]
    with pytest.raises(ValueError, match="max_words"):
        WordTokenizer.fit(text, max_words=0)


def test_split_is_contiguous_ninety_ten():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, test = split_text(text)
    assert train + test == text and len(train) == 900
    with pytest.raises(ValueError, match="too short"):
        split_text("ab")


def test_windows_cut_without_overlap_and_drop_the_remainder():
    ids = torch.arange(10)
    w = windows(ids, 4)
    assert w.shape == (2, 4) and w.dtype == torch.int64
    assert w.flatten().tolist() == list(range(8))
    with pytest.raises(ValueError, match="fewer than one window"):
        windows(torch.arange(3), 4)
    with pytest.raises(ValueError, match="seq_len"):
        windows(ids, 1)


def test_text_file_plain_and_gzipped(tmp_path):
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_text(CORPUS, encoding="utf-8")
    packed.write_bytes(gzip.compress(CORPUS.encode()))
    a, b = load_text(f"text:{plain}", seq_len=8), load_text(f"text:{packed}", seq_len=8)
    assert a.train_text == b.train_text and a.tokenizer == b.tokenizer
    assert a.train_text + a.test_text == CORPUS
    assert (
        a.tokenizer.decode(a.pretrain_inputs.flatten()) == a.train_text[: a.pretrain_inputs.numel()]
    )
    assert a.pretrain_labels.eq(-1).all() and not a.has_labels and a.modality == "tokens"


def test_bad_text_files_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_text(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"ok\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_text(tmp_path / "bin.txt")
    (tmp_path / "fake.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a valid gzip"):
        read_text(tmp_path / "fake.gz")
    (tmp_path / "short.txt").write_text("abcdefghij" * 3)
    with pytest.raises(ValueError, match="smaller --seq-len"):
        load_text(f"text:{tmp_path / 'short.txt'}", seq_len=16)
    with pytest.raises(ValueError, match="needs a path"):
        load_text("text", seq_len=4)
    with pytest.raises(ValueError, match="takes no argument"):
        load_text("shakespeare:x", seq_len=4)


def test_embedded_shakespeare_is_the_known_corpus():
    text = TEXT_DATASETS.get("shakespeare")(None)
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:\nBefore we proceed")


def test_modality_of_names_both_registries():
    assert modality_of("digits") == "images" and modality_of("npz:x.npz") == "images"
    assert modality_of("shakespeare") == "tokens" and modality_of("text:a.txt") == "tokens"
    assert not set(DATASETS.names()) & set(TEXT_DATASETS.names())
    with pytest.raises(ValueError, match=r"images: .*digits.*tokens: .*shakespeare"):
        modality_of("nope")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("shakespeare")
