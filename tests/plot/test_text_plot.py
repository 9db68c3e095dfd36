"""The masking diagram is drawn from a given draw, and refuses one of another length."""

from __future__ import annotations

import pytest
import torch

from eblearn.data.masking import draw_token_mask
from eblearn.data.tokenizers import CharTokenizer
from eblearn.plot.text import plot_token_masking


def test_masking_diagram_writes_a_png_and_checks_the_draw(tmp_path):
    text = "ROMEO:\nBut soft, what light."
    tok = CharTokenizer.fit(text)
    draw = draw_token_mask(
        tok.encode(text).unsqueeze(0),
        tok.vocab_size,
        rate=0.4,
        generator=torch.Generator().manual_seed(0),
    )
    path = plot_token_masking(text, tok, draw, tmp_path / "m.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="covers"):
        plot_token_masking(text[:-1], tok, draw, tmp_path / "n.png")
