"""The speaker probe: parsing speeches, the bag of characters, probes that can and cannot tell."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.data.tokenizers import CharTokenizer
from eblearn.evaluate.speakers import bag_of_characters, speaker_probe, speech_windows, speeches

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
