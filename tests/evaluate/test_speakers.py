"""The speaker probe: parsing speeches, the bag of characters, probes that can and cannot tell."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.data.tokenizers import PAD, CharTokenizer
from eblearn.evaluate.speakers import (
    bag_of_characters,
    cross_validated_accuracy,
    cross_validated_hits,
    layer_features,
    speaker_probe,
    speaker_speeches,
    speech_window_stack,
    speech_windows,
    speeches,
    windows_to_cover,
)
from eblearn.nn.sequence import TokenTransformer

PLAY = "".join(
    f"{name}:\n{line}\n\n"
    for _ in range(8)
    for name, line in (("ANNA", "aaa ab aa"), ("BORIS", "bbb ba bb"), ("CARL", "ccc ca cc"))
)


class Bag(nn.Module):
    """An 'encoder' whose features are the bag of characters itself."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.unused = nn.Linear(1, 1)  # a parameter, so the probe finds the device

    def forward(self, windows):
        return bag_of_characters(windows.cpu(), self.vocab_size)


class Constant(Bag):
    def forward(self, windows):
        return torch.ones(len(windows), 3)


def test_speeches_and_windows():
    found = speeches(PLAY)
    assert len(found) == 24 and found[0] == ("ANNA", "aaa ab aa")
    tok = CharTokenizer.fit(PLAY)
    w = speech_windows(["ab", "abcd"], tok, 3)
    assert w.tolist() == [[*tok.encode("ab").tolist(), 0], tok.encode("abc").tolist()]


def test_bag_of_characters_is_a_frequency_over_ordinary_tokens():
    bag = bag_of_characters(torch.tensor([[3, 4, 4, 0], [1, 5, 0, 0]]), 6)
    torch.testing.assert_close(bag[0], torch.tensor([0, 0, 0, 1 / 3, 2 / 3, 0]))
    torch.testing.assert_close(bag[1], torch.tensor([0.0, 0, 0, 0, 0, 1]))  # [MASK] left out


def test_probe_reads_speakers_from_telling_features_and_not_from_constant_ones():
    tok = CharTokenizer.fit(PLAY)
    telling = speaker_probe(Bag(tok.vocab_size), tok, PLAY, seq_len=8, speakers=3)
    assert telling.speakers == ("ANNA", "BORIS", "CARL")
    assert telling.encoder == 1.0 and telling.bag_of_characters == 1.0
    blind = speaker_probe(Constant(tok.vocab_size), tok, PLAY, seq_len=8, speakers=3)
    assert blind.encoder <= 0.5
    with pytest.raises(ValueError, match="at least two speakers"):
        speaker_probe(Bag(tok.vocab_size), tok, "ANNA:\nhi\n\n", seq_len=4)


def test_window_stack_continues_the_speech_and_the_bag_counts_every_window():
    tok = CharTokenizer.fit("abcdefg")
    stack = speech_window_stack(["abcdefg", "ab"], tok, 3, 2)  # (N, K, T)
    assert stack.shape == (2, 2, 3)
    assert tok.decode(stack[0].flatten()) == "abcdef"  # the first 2·3 characters
    assert stack[1].flatten().tolist()[2:] == [PAD] * 4
    by_hand = torch.zeros(2, tok.vocab_size)
    for row, ids in enumerate([tok.encode("abcdef"), tok.encode("ab")]):
        for i in ids.tolist():
            by_hand[row, i] += 1 / len(ids)
    torch.testing.assert_close(bag_of_characters(stack, tok.vocab_size), by_hand)
    with pytest.raises(ValueError, match="count must be a positive integer"):
        speech_window_stack(["ab"], tok, 3, 0)


def test_layer_features_pool_every_stage_over_the_real_tokens_of_every_window():
    torch.manual_seed(0)
    net = TokenTransformer(vocab_size=9, seq_len=4, dim=8, depth=2, heads=2).eval()
    stack = torch.randint(3, 9, (3, 2, 4))
    stack[0, 1, 2:] = PAD
    stack[2, 1] = PAD  # a speech that fills one window only
    features = layer_features(net, stack, "all")
    assert features.shape == (3, 4 * 8)  # embeddings, 2 blocks, output
    with torch.no_grad():
        for n in range(3):  # naive: each window alone, then the mean over the real tokens
            rows = [net.layer_states(stack[n, k][None]) for k in range(2)]
            for stage in range(4):
                real = [
                    rows[k][stage][0, t]
                    for k in range(2)
                    for t in range(4)
                    if stack[n, k, t] != PAD
                ]
                expected = torch.stack(real).mean(0)
                got = features[n, stage * 8 : (stage + 1) * 8]
                torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        # one window, the output only: the encoder's own features
        final = layer_features(net, stack[:, 0], "final")
        torch.testing.assert_close(final, net(stack[:, 0]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(net.layer_states(stack[:, 0])[-1], net.hidden(stack[:, 0]))
        # windows of [PAD] alone: no state is read, the features are zeros of the right width
        empty = layer_features(net, torch.full((2, 3, 4), PAD), "all")
        assert torch.equal(empty, torch.zeros(2, 4 * 8))
    with pytest.raises(ValueError, match="layers must be one of final, all"):
        layer_features(net, stack, "best")
    with pytest.raises(ValueError, match="layer_states"):
        layer_features(Bag(9), stack)


def test_windows_to_cover_read_the_longest_speech_whole():
    tok = CharTokenizer.fit("abcdefg")
    texts = ["abcdefg", "ab", "abcd"]
    count = windows_to_cover(texts, tok, 3)
    assert count == 3  # ⌈7 / 3⌉
    stack = speech_window_stack(texts, tok, 3, count)
    assert [int((row != PAD).sum()) for row in stack] == [7, 2, 4]  # every token, once
    assert windows_to_cover(texts, tok, 7) == 1 and windows_to_cover([""], tok, 4) == 1
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        windows_to_cover(texts, tok, 0)


def test_cross_validation_reads_only_the_rows_it_is_given():
    labels = torch.arange(30) % 3
    features = nn.functional.one_hot(labels, 3).float() + 0.01 * torch.randn(30, 3)
    train = torch.arange(18)
    spoiled = features.clone()
    spoiled[18:] = torch.randn(12, 3) * 100  # rows outside the index: never read
    assert cross_validated_accuracy(spoiled, labels, train, folds=2) == 1.0
    noise = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
    assert cross_validated_accuracy(noise, labels, train, folds=2) < 0.8
    with pytest.raises(ValueError, match=r"folds must lie in 2\.\.18"):
        cross_validated_accuracy(features, labels, train, folds=1)
    # per-row hits: every row of the index once; 3 equal folds, so their mean is the accuracy
    index = torch.arange(3, 30)  # 27 rows
    hits = cross_validated_hits(noise, labels, index, folds=3)
    assert hits.shape == (27,) and hits.dtype == torch.bool
    assert float(hits.float().mean()) == pytest.approx(
        cross_validated_accuracy(noise, labels, index, folds=3)
    )
    assert cross_validated_hits(spoiled, labels, train, folds=2).all()


def test_speaker_speeches_rank_the_speakers_by_frequency():
    texts, labels, top = speaker_speeches(PLAY + "CARL:\nccc\n\n", speakers=2)
    assert top == ["CARL", "ANNA"] and len(texts) == len(labels) == 17
    assert texts[0] == "aaa ab aa" and labels[0] == 1
