"""Token corruptions for masked language models: BERT's 15% with 80/10/10 replacement.

BERT [0] selects each token with probability ``rate`` (15%) and replaces a selected token by
``[MASK]`` with probability 0.8, by a token drawn uniformly from the ordinary vocabulary
with probability 0.1, and leaves it unchanged with probability 0.1; the loss is computed at
the selected positions only. The random and unchanged replacements keep the encoder from
learning that only ``[MASK]`` positions matter (there is no ``[MASK]`` at test time).

As everywhere in :mod:`eblearn.data`, the random parameters are drawn first
(:func:`draw_token_mask`: which positions, which replacement) and then applied
(:func:`apply_token_mask`), so a test can fix the draw and check the corruption exactly.

[0] Devlin, Chang, Lee, Toutanova, BERT: Pre-training of Deep Bidirectional Transformers for
    Language Understanding, NAACL 2019, https://arxiv.org/abs/1810.04805
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from eblearn.data.tokenizers import MASK, NUM_SPECIAL, PAD


@dataclass(frozen=True)
class TokenMask:
    """One draw of BERT's corruption for a batch of windows ``(B, T)``.

    Attributes:
        selected: Positions whose token the loss predicts, bool ``(B, T)``.
        to_mask: Selected positions set to ``[MASK]``.
        to_random: Selected positions set to ``random_tokens``.
        random_tokens: A random ordinary token per position, ``(B, T)`` int64.
    """

    selected: Tensor
    to_mask: Tensor
    to_random: Tensor
    random_tokens: Tensor


def _check_probability(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")


def draw_token_mask(
    tokens: Tensor,
    vocab_size: int,
    rate: float = 0.15,
    mask_fraction: float = 0.8,
    random_fraction: float = 0.1,
    generator: torch.Generator | None = None,
) -> TokenMask:
    """Draws which tokens are selected and how each is replaced.

    Padding (``[PAD]``) is never selected. Every window with a non-padding token gets at least
    one selected position (its first draw's smallest uniform), so that no window is loss-free.

    Args:
        tokens: Windows ``(B, T)`` int64.
        vocab_size: The tokenizer's vocabulary (random tokens are drawn from the ordinary
            ids ``NUM_SPECIAL .. vocab_size - 1``).
        rate: Probability that a token is selected.
        mask_fraction: Of the selected, the fraction set to ``[MASK]``.
        random_fraction: Of the selected, the fraction set to a random token; the rest,
            ``1 - mask_fraction - random_fraction``, is left unchanged.
        generator: Random source (default: torch's global one).

    Raises:
        ValueError: On tokens that are not a 2-D integer tensor, a vocabulary without ordinary
            tokens, or fractions outside [0, 1] or summing above 1.
    """
    if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"tokens must be integer windows of shape (B, T), got {tuple(tokens.shape)} "
            f"{tokens.dtype}"
        )
    if vocab_size <= NUM_SPECIAL:
        raise ValueError(
            f"vocab_size must exceed the {NUM_SPECIAL} special tokens, got {vocab_size}"
        )
    for value, name in ((rate, "rate"), (mask_fraction, "mask_fraction")):
        _check_probability(value, name)
    _check_probability(random_fraction, "random_fraction")
    if mask_fraction + random_fraction > 1.0 + 1e-9:
        raise ValueError(
            f"mask_fraction + random_fraction must be at most 1, got {mask_fraction} + "
            f"{random_fraction}"
        )
    device = tokens.device
    u = torch.rand(tokens.shape, generator=generator, device=device)  # selection
    v = torch.rand(tokens.shape, generator=generator, device=device)  # replacement kind
    random_tokens = torch.randint(
        NUM_SPECIAL, vocab_size, tokens.shape, generator=generator, device=device
    )
    real = tokens != PAD
    u = u.masked_fill(~real, 2.0)  # padding is never selected
    selected = u < rate
    first = u.argmin(1, keepdim=True)  # (B, 1): each window's most likely position
    has_real = real.any(1, keepdim=True)
    selected = selected | (torch.zeros_like(selected).scatter(1, first, True) & has_real)
    to_mask = selected & (v < mask_fraction)
    to_random = selected & (v >= mask_fraction) & (v < mask_fraction + random_fraction)
    return TokenMask(selected, to_mask, to_random, random_tokens)


def apply_token_mask(tokens: Tensor, draw: TokenMask) -> Tensor:
    """The corrupted windows: ``[MASK]`` and random tokens put where ``draw`` says.

    Example:
        >>> tokens = torch.tensor([[5, 6, 7]])
        >>> yes, no = torch.tensor([[True, False, False]]), torch.zeros(1, 3, dtype=torch.bool)
        >>> draw = TokenMask(yes | no, yes, no, torch.full((1, 3), 9))
        >>> apply_token_mask(tokens, draw).tolist()
        [[1, 6, 7]]
    """
    corrupted = torch.where(draw.to_random, draw.random_tokens, tokens)
    return corrupted.masked_fill(draw.to_mask, MASK)
