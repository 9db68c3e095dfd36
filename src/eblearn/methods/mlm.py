"""Masked language model (BERT) as a denoising energy over token windows."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.data.masking import apply_token_mask, draw_token_mask
from eblearn.data.tokenizers import MASK
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone


@METHODS.register("mlm")
class MaskedLanguageModel(Method):
    """Masked language model: predict the selected tokens of a corrupted window (BERT).

    Energy: for a clean window ``y`` and a corrupted copy ``x`` with selected positions
    ``S``, ``F(x, y) = −Σ_{i∈S} log p(y_i | x)``, where ``p(· | x) = softmax(W h_i(x))``
    reads the encoder's state ``h_i`` at position ``i`` through a small head.
    Inference: amortized and exact per position: ``y̌_i = argmax_v p(v | x)``, the
    minimum of ``F`` over ``y_i`` (the energy is a sum of per-position terms given ``x``).
    Strategy: contrastive, method C3 of LeCun's taxonomy (denoising autoencoders and masked
    models): corrupt a data point and train the model to map it back; the softmax's
    normalization pushes the energy of every other token up as it pushes the true one down.
    The corruption is BERT's (:func:`~eblearn.data.masking.draw_token_mask`): 15% of the
    tokens selected, 80% of them set to ``[MASK]``, 10% to a random token, 10% unchanged.
    The loss is ``F`` averaged over the selected tokens (nats per token).

    [0] Devlin, Chang, Lee, Toutanova, BERT: Pre-training of Deep Bidirectional Transformers
        for Language Understanding, NAACL 2019, https://arxiv.org/abs/1810.04805
    [1] LeCun, A Path Towards Autonomous Machine Intelligence, 2022,
        https://openreview.net/forum?id=BZ5a1r-kVsf

    Args:
        backbone: A token encoder with ``hidden(tokens) -> (B, T, D)`` and ``vocab_size``
            (:class:`~eblearn.nn.sequence.TokenTransformer`).
        rate: Probability that a token is selected.
        mask_fraction: Of the selected, the fraction set to ``[MASK]``.
        random_fraction: Of the selected, the fraction set to a random token.

    Example:
        >>> from eblearn.nn import TokenTransformer
        >>> method = MaskedLanguageModel(TokenTransformer(10, 8, dim=16, heads=2))
        >>> out = method([torch.randint(3, 10, (4, 8))])
        >>> sorted(out)
        ['embeddings', 'features', 'loss', 'masked_accuracy']
    """

    modality = "tokens"
    num_views = 1
    min_batch_size = 1
    batch_statistics = False

    def __init__(
        self,
        backbone: Backbone,
        rate: float = 0.15,
        mask_fraction: float = 0.8,
        random_fraction: float = 0.1,
    ) -> None:
        super().__init__(backbone)
        vocab_size = getattr(backbone, "vocab_size", None)
        if not callable(getattr(backbone, "hidden", None)) or not isinstance(vocab_size, int):
            raise ValueError(
                f"a masked language model needs a token encoder with hidden() and vocab_size "
                f"(such as the 'transformer' token backbone), got {type(backbone).__name__}"
            )
        draw_token_mask(  # checks the fractions, with clear errors
            torch.full((1, 1), MASK + 2), vocab_size, rate, mask_fraction, random_fraction
        )
        self.vocab_size = vocab_size
        self.rate, self.mask_fraction, self.random_fraction = rate, mask_fraction, random_fraction
        dim = backbone.feature_dim
        self.head = nn.Sequential(  # BERT's prediction head: dense, GELU, LayerNorm, decoder
            nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), nn.Linear(dim, vocab_size)
        )

    def logits(self, corrupted: Tensor) -> Tensor:
        """Scores of every token at every position, ``(B, T, vocab_size)``."""
        return self.head(self.encoder.hidden(corrupted))  # type: ignore[operator]

    def token_energy(self, y: Tensor, x: Tensor, selected: Tensor) -> Tensor:
        """``F(x, y) = −Σ_{i∈S} log p(y_i | x)`` per window, shape ``(B,)``.

        Args:
            y: Clean windows ``(B, T)``.
            x: Corrupted windows ``(B, T)``.
            selected: The positions ``S`` scored, bool ``(B, T)``.
        """
        log_p = F.log_softmax(self.logits(x).float(), dim=-1)  # (B, T, V)
        picked = log_p.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (B, T)
        return -(picked * selected).sum(1)

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F(x, y)`` scored at the ``[MASK]`` positions of ``x``, shape ``(B,)``.

        Raises:
            ValueError: If ``x`` is missing or its shape differs from ``y``'s.
        """
        if x is None or x.shape != y.shape:
            raise ValueError(
                "MaskedLanguageModel.energy compares clean windows y with corrupted windows x "
                f"of the same shape, got y {tuple(y.shape)} and x "
                f"{None if x is None else tuple(x.shape)}"
            )
        return self.token_energy(y, x, x == MASK)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        tokens = views[0]  # (B, T) int64
        draw = draw_token_mask(
            tokens, self.vocab_size, self.rate, self.mask_fraction, self.random_fraction
        )
        corrupted = apply_token_mask(tokens, draw)
        logits = self.logits(corrupted)[draw.selected].float()  # (M, V): selected positions
        targets = tokens[draw.selected]  # (M,)
        loss = F.cross_entropy(logits, targets)  # = Σ_b F_b / M
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == targets).float().mean()
            features = self.encoder(tokens)  # (B, D): the clean window, as evaluation sees it
        return {
            "loss": loss,
            "masked_accuracy": accuracy,
            "features": features,
            "embeddings": features,
        }
