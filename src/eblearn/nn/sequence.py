"""Sequence encoders for tokens: a small pre-LN Transformer, registered by name.

A token backbone maps windows of token ids ``(B, T)`` to per-token states ``(B, T, D)``
(:meth:`TokenTransformer.hidden`, what a masked language model reads) and to one feature
vector per window ``(B, D)`` (``forward``: the mean of the states over the non-padding
positions, what evaluation and the probes read). Builders in :data:`TOKEN_BACKBONES` are
called as ``builder(vocab_size=..., seq_len=..., **options)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.data.tokenizers import PAD
from eblearn.nn.backbones import Backbone
from eblearn.registry import Registry


class TokenTransformer(Backbone):
    """Token + learned position embeddings, a pre-LN Transformer encoder, mean pooling.

    ``h⁰_t = E[x_t] + P[t]``; ``L`` pre-LN blocks (``h ← h + MHA(LN(h))``,
    ``h ← h + MLP(LN(h))``) [0, 1]; a final LayerNorm; features
    ``f = Σ_t m_t h_t / Σ_t m_t`` with ``m_t = [x_t ≠ PAD]``.

    [0] Vaswani et al., Attention Is All You Need, NeurIPS 2017, https://arxiv.org/abs/1706.03762
    [1] Xiong et al., On Layer Normalization in the Transformer Architecture, ICML 2020,
        https://arxiv.org/abs/2002.04745

    Args:
        vocab_size: Tokens in the vocabulary (special tokens included).
        seq_len: Longest window (the number of learned positions).
        dim: Width D (``feature_dim``).
        depth: Number of blocks L.
        heads: Attention heads (must divide ``dim``).
        mlp_ratio: Hidden width of each block's MLP, in multiples of ``dim``.
        dropout: Dropout inside the blocks.

    Example:
        >>> net = TokenTransformer(vocab_size=10, seq_len=8, dim=16, depth=1, heads=2)
        >>> net(torch.randint(3, 10, (4, 8))).shape, net.hidden(torch.randint(3, 10, (4, 8))).shape
        (torch.Size([4, 16]), torch.Size([4, 8, 16]))
    """

    modality = "tokens"

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for value, name in ((vocab_size, "vocab_size"), (seq_len, "seq_len"), (dim, "dim")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if depth < 1 or heads < 1 or dim % heads:
            raise ValueError(
                f"depth and heads must be >= 1 and heads must divide dim, got depth={depth}, "
                f"heads={heads}, dim={dim}"
            )
        self.in_channels = 1
        self.vocab_size, self.seq_len, self.feature_dim = vocab_size, seq_len, dim
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Parameter(torch.zeros(seq_len, dim))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.02)
        block = nn.TransformerEncoderLayer(
            dim,
            heads,
            mlp_ratio * dim,
            dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def _check(self, tokens: Tensor) -> None:
        if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"{type(self).__name__} takes integer token windows of shape (B, T), got "
                f"{tuple(tokens.shape)} {tokens.dtype}"
            )
        if tokens.shape[1] > self.seq_len:
            raise ValueError(
                f"windows of {tokens.shape[1]} tokens exceed the {self.seq_len} positions the "
                "encoder was built with; build it with a larger seq_len"
            )

    def hidden(self, tokens: Tensor) -> Tensor:
        """Per-token states ``(B, T, D)`` of windows ``(B, T)``."""
        self._check(tokens)
        T = tokens.shape[1]
        h = self.token_embedding(tokens) + self.position_embedding[:T]  # (B, T, D)
        h = self.blocks(h, src_key_padding_mask=tokens == PAD)  # (B, T, D)
        return self.norm(h)

    def layer_states(self, tokens: Tensor) -> list[Tensor]:
        """The states after each stage, each ``(B, T, D)``: the embeddings ``h⁰``, the output
        of every block, and the final LayerNorm's (equal to :meth:`hidden`)."""
        self._check(tokens)
        T = tokens.shape[1]
        h = self.token_embedding(tokens) + self.position_embedding[:T]  # (B, T, D)
        states = [h]
        for block in self.blocks.layers:
            h = block(h, src_key_padding_mask=tokens == PAD)  # (B, T, D)
            states.append(h)
        states.append(self.norm(h))
        return states

    def forward(self, tokens: Tensor) -> Tensor:
        """Features ``(B, D)``: the states averaged over the non-padding positions."""
        return self.features(tokens)

    def features(self, tokens: Tensor) -> Tensor:
        h = self.hidden(tokens)  # (B, T, D)
        keep = (tokens != PAD).unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        return (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class WindowEncoder(Backbone):
    """Collobert–Weston's window network: look up each word, concatenate, one hidden layer.

    ``f(x) = hardtanh(W [E[x_1]; ...; E[x_T]] + b)``, features of size ``hidden``; the
    lookup table ``E`` (``vocab_size × dim``) is the word embedding [0].

    [0] Collobert, Weston, A Unified Architecture for Natural Language Processing, ICML 2008,
        https://doi.org/10.1145/1390156.1390177

    Args:
        vocab_size: Words in the vocabulary (special tokens included).
        seq_len: Words per window T.
        dim: Embedding size per word.
        hidden: Hidden units (``feature_dim``).

    Example:
        >>> WindowEncoder(20, 5, dim=4, hidden=8)(torch.randint(3, 20, (2, 5))).shape
        torch.Size([2, 8])
    """

    modality = "tokens"

    def __init__(self, vocab_size: int, seq_len: int, dim: int = 50, hidden: int = 100) -> None:
        super().__init__()
        self.in_channels = 1
        self.vocab_size, self.seq_len, self.feature_dim = vocab_size, seq_len, hidden
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.layer = nn.Linear(seq_len * dim, hidden)

    def forward(self, tokens: Tensor) -> Tensor:
        """Features ``(B, hidden)`` of windows ``(B, T)``."""
        return self.features(tokens)

    def features(self, tokens: Tensor) -> Tensor:
        if tokens.ndim != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(
                f"{type(self).__name__} takes windows of shape (B, {self.seq_len}), got "
                f"{tuple(tokens.shape)}"
            )
        looked_up = self.token_embedding(tokens).flatten(1)  # (B, T·dim)
        return F.hardtanh(self.layer(looked_up))


TokenBackboneBuilder = Callable[..., Backbone]

TOKEN_BACKBONES: Registry[TokenBackboneBuilder] = Registry("token backbone")
"""Token encoders by name, each called as ``builder(vocab_size=..., seq_len=..., **options)``."""


@TOKEN_BACKBONES.register("transformer")
def transformer(
    vocab_size: int,
    seq_len: int,
    dim: int = 128,
    depth: int = 2,
    heads: int = 4,
    dropout: float = 0.0,
) -> Backbone:
    """Small pre-LN Transformer encoder for token windows (features: mean over tokens)."""
    return TokenTransformer(vocab_size, seq_len, dim=dim, depth=depth, heads=heads, dropout=dropout)


@TOKEN_BACKBONES.register("window")
def window(vocab_size: int, seq_len: int, dim: int = 50, hidden: int = 100) -> Backbone:
    """Collobert–Weston window network: word lookup table, concatenation, hardtanh layer."""
    return WindowEncoder(vocab_size, seq_len, dim=dim, hidden=hidden)


def build_token_backbone(name: str, vocab_size: int, seq_len: int, **kwargs: object) -> Backbone:
    """Builds the token backbone registered as ``name``.

    Raises:
        ValueError: On an unknown name or option (listing the valid ones).
    """
    import inspect

    builder = TOKEN_BACKBONES.get(name)
    accepted = [
        p for p in inspect.signature(builder).parameters if p not in ("vocab_size", "seq_len")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"token backbone {name!r} has no option(s) {', '.join(unknown)}; "
            f"valid: {', '.join(accepted)}"
        )
    return builder(vocab_size=vocab_size, seq_len=seq_len, **kwargs)
