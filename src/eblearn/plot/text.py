"""The masking diagram: a window of text, which tokens BERT's corruption selects, and how."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from matplotlib.patches import Rectangle

from eblearn.data.masking import TokenMask, apply_token_mask
from eblearn.data.tokenizers import CharTokenizer
from eblearn.plot._figure import new_figure, save_figure

KIND_COLORS = {
    "not selected": "#f2f2f2",
    "[MASK] (80%)": "#e4572e",
    "random token (10%)": "#f3a712",
    "unchanged, still predicted (10%)": "#29335c",
}


def _shown(symbol: str) -> str:
    return {"\n": "↵", " ": "␣", "[MASK]": "M", "[PAD]": "·", "[UNK]": "?"}.get(symbol, symbol)


def plot_token_masking(
    text: str,
    tokenizer: CharTokenizer,
    draw: TokenMask,
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """Draws ``text`` (one window) above its corrupted copy, each cell colored by what the
    corruption ``draw`` (of shape ``(1, T)``) did to it.

    Raises:
        ValueError: If the draw does not cover exactly the window's tokens.
    """
    tokens = tokenizer.encode(text).unsqueeze(0)  # (1, T)
    if draw.selected.shape != tokens.shape:
        raise ValueError(
            f"the draw covers {tuple(draw.selected.shape)} tokens, the text {tuple(tokens.shape)}"
        )
    corrupted = apply_token_mask(tokens, draw)[0]
    kinds = torch.zeros(tokens.shape[1], dtype=torch.int64)  # 0: not selected
    kinds[draw.selected[0]] = 3
    kinds[draw.to_mask[0]] = 1
    kinds[draw.to_random[0]] = 2
    colors = list(KIND_COLORS.values())
    T = tokens.shape[1]
    figure = new_figure(max(6.0, 0.26 * T), 2.2)
    axes = figure.subplots()
    for row, (label, ids) in enumerate((("clean y", tokens[0]), ("corrupted x", corrupted))):
        y = 1 - row
        for t in range(T):
            kind = int(kinds[t])
            axes.add_patch(Rectangle((t, y), 0.92, 0.8, color=colors[kind]))
            symbol = _shown(tokenizer.itos[int(ids[t])])
            dark = kind in (1, 3)
            axes.text(
                t + 0.46,
                y + 0.4,
                symbol,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
                family="monospace",
            )
        axes.text(-0.3, y + 0.4, label, ha="right", va="center", fontsize=9)
    for name, color in KIND_COLORS.items():
        axes.scatter([], [], marker="s", color=color, label=name, edgecolors="#999999")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=4, fontsize=8, frameon=False)
    axes.set(xlim=(-4.5, T), ylim=(-0.1, 2.0))
    axes.axis("off")
    axes.set_title(
        title or "BERT's corruption: the loss predicts every colored token of y from x", fontsize=10
    )
    return save_figure(figure, path)
