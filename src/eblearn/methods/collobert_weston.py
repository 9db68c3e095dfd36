"""Collobert–Weston window ranking: true word windows scored above corrupted ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from eblearn.data.tokenizers import NUM_SPECIAL
from eblearn.losses.contrastive import HingeLoss
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone


@METHODS.register("collobert-weston")
class CollobertWeston(Method):
    """Collobert–Weston language model: rank a text window above its center-corrupted copy.

    Energy: ``F(x) = −s(x)``, minus the score of a word window, ``s(x) = w·f(x) + b`` on the
    window network's features (:class:`~eblearn.nn.sequence.WindowEncoder`). Inference: one
    forward pass (the energy of a given window); the most compatible center word is the
    ``argmin`` of ``F`` over the vocabulary. Strategy: contrastive with a margin: the hinge
    loss of eblearn's loss table (:class:`~eblearn.losses.contrastive.HingeLoss`),
    ``L = max(0, 1 + F(x) − F(x̃))``, where ``x̃`` is ``x`` with its center word replaced by
    a word drawn uniformly from the vocabulary, pushes the energy of real windows down and
    of corrupted ones up until they are ``m = 1`` apart. The lookup table learned on the way
    is a word embedding (words used alike end up near each other).

    [0] Collobert, Weston, A Unified Architecture for Natural Language Processing: Deep
        Neural Networks with Multitask Learning, ICML 2008,
        https://doi.org/10.1145/1390156.1390177
    [1] Collobert et al., Natural Language Processing (Almost) from Scratch, JMLR 2011,
        https://arxiv.org/abs/1103.0398

    Args:
        backbone: A token encoder with ``vocab_size`` (the ``window`` token backbone).
        margin: The hinge's margin ``m``.

    Example:
        >>> from eblearn.nn import WindowEncoder
        >>> method = CollobertWeston(WindowEncoder(20, 5, dim=4, hidden=8))
        >>> sorted(method([torch.randint(3, 20, (6, 5))]))
        ['embeddings', 'features', 'loss', 'ranking_accuracy']
    """

    modality = "tokens"
    tokenizer_kind: ClassVar[str] = "word"
    default_seq_len: ClassVar[int] = 5
    num_views = 1
    min_batch_size = 1
    batch_statistics = False

    def __init__(self, backbone: Backbone, margin: float = 1.0) -> None:
        super().__init__(backbone)
        vocab_size = getattr(backbone, "vocab_size", None)
        if not isinstance(vocab_size, int) or vocab_size <= NUM_SPECIAL:
            raise ValueError(
                "Collobert–Weston needs a token encoder with a vocab_size above the special "
                f"tokens (such as the 'window' token backbone), got {type(backbone).__name__}"
            )
        self.vocab_size = vocab_size
        self.loss = HingeLoss(margin)
        self.scorer = nn.Linear(backbone.feature_dim, 1)

    def score(self, windows: Tensor) -> Tensor:
        """``s(x)``, shape ``(B,)``."""
        return self.scorer(self.encoder(windows)).squeeze(1).float()  # float32 under autocast

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F(y) = −s(y)`` per window ``(B, T)``; ``x`` is unused (the window is the pair)."""
        return -self.score(y)

    def corrupt(self, windows: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``windows`` with the center word replaced by a uniformly drawn ordinary word."""
        center = windows.shape[1] // 2
        corrupted = windows.clone()
        words = torch.randint(NUM_SPECIAL, self.vocab_size, (len(windows),), generator=generator)
        corrupted[:, center] = words.to(windows.device)
        return corrupted

    def word_neighbors(self, word_ids: Tensor, k: int = 5) -> Tensor:
        """The ``k`` ordinary words nearest (cosine) to each word in the lookup table,
        ``(len(word_ids), k)`` ids, the word itself left out."""
        lookup = getattr(self.encoder, "token_embedding", None)
        if not isinstance(lookup, nn.Embedding):
            raise ValueError(
                f"{type(self.encoder).__name__} has no token_embedding lookup table to read "
                "word neighbors from"
            )
        table = lookup.weight.detach()
        table = torch.nn.functional.normalize(table.float(), dim=1)  # (V, dim)
        similarity = table[word_ids] @ table.T  # (n, V)
        similarity[:, :NUM_SPECIAL] = -2.0
        similarity[torch.arange(len(word_ids)), word_ids] = -2.0
        return similarity.topk(k, dim=1).indices

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        windows = views[0]  # (B, T)
        positive, negative = self.energy(windows), self.energy(self.corrupt(windows))
        loss = self.loss(positive, negative)
        with torch.no_grad():
            features = self.encoder(windows)
        return {
            "loss": loss,
            "ranking_accuracy": (positive < negative).float().mean().detach(),
            "features": features,
            "embeddings": features,
        }
