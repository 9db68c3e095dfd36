"""n-gram language models with add-k smoothing: the baselines a text encoder must beat.

An order-``n`` model predicts a token from the ``n - 1`` tokens before it:

``p(v | c) = (N(c, v) + k) / (N(c) + k·V)``

where ``N(c, v)`` counts the training positions whose context is ``c`` and whose token is
``v``, ``N(c) = Σ_v N(c, v)`` and ``V`` is the vocabulary size (order 1 is the unigram
model, ``c`` empty). Counts are stored sparsely (sorted keys, looked up by binary search),
so any order fits in memory. Jurafsky & Martin, Speech and Language Processing, 3rd ed.,
ch. 3, https://web.stanford.edu/~jurafsky/slp3/
"""

from __future__ import annotations

import torch
from torch import Tensor


class NgramModel:
    """An add-k smoothed n-gram model over token ids ``0 .. vocab_size - 1``.

    Args:
        vocab_size: V.
        order: n (1: unigram, 2: bigram, 3: trigram).
        k: Pseudo-count added to every (context, token) pair.

    Example:
        >>> model = NgramModel(vocab_size=3, order=2, k=1.0).fit(torch.tensor([0, 1, 0, 1, 0]))
        >>> model.log_probs(torch.tensor([0]), torch.tensor([1, 2])).exp()  # p(. | 0), p(. | 1)
        tensor([[0.2000, 0.6000, 0.2000],
                [0.6000, 0.2000, 0.2000]])
    """

    def __init__(self, vocab_size: int, order: int = 3, k: float = 0.1) -> None:
        self.vocab_size = vocab_size
        self.order = order
        self.k = k

    def _check(self) -> None:
        if self.vocab_size < 1 or self.order < 1 or not self.k > 0:
            raise ValueError(
                f"vocab_size and order must be >= 1 and k > 0, got vocab_size={self.vocab_size}, "
                f"order={self.order}, k={self.k}"
            )
        if self.vocab_size**self.order >= 2**62:
            raise ValueError(
                f"order {self.order} over {self.vocab_size} tokens overflows the int64 keys"
            )

    def _contexts(self, ids: Tensor) -> Tensor:
        """The context code of every position ``i >= n - 1``: ``Σ_j ids[i-n+1+j] V^(n-2-j)``."""
        n, V = self.order, self.vocab_size
        code = torch.zeros(len(ids) - n + 1, dtype=torch.int64)
        for j in range(n - 1):
            code = code * V + ids[j : len(ids) - n + 1 + j]
        return code

    def fit(self, ids: Tensor) -> NgramModel:
        """Counts the n-grams of a 1-D stream of ids.

        Raises:
            ValueError: If ``ids`` is not 1-D, is shorter than ``order``, or holds ids outside
                the vocabulary.
        """
        self._check()
        ids = self._stream(ids, "ids")
        if len(ids) < self.order:
            raise ValueError(f"{len(ids)} tokens are fewer than the order {self.order}")
        contexts = self._contexts(ids)  # (P,)
        keys = contexts * self.vocab_size + ids[self.order - 1 :]  # (P,)
        self.keys_, self.counts_ = torch.unique(keys, return_counts=True)
        self.context_keys_, self.context_counts_ = torch.unique(contexts, return_counts=True)
        return self

    def _stream(self, ids: Tensor, what: str) -> Tensor:
        if ids.ndim != 1:
            raise ValueError(f"{what} must be a 1-D stream of token ids, got {tuple(ids.shape)}")
        ids = ids.long().cpu()
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"{what} must lie in 0..{self.vocab_size - 1}")
        return ids

    @staticmethod
    def _lookup(sorted_keys: Tensor, counts: Tensor, queries: Tensor) -> Tensor:
        """``counts`` of each query key, 0 for keys never seen."""
        where = torch.searchsorted(sorted_keys, queries).clamp_max(len(sorted_keys) - 1)
        return torch.where(sorted_keys[where] == queries, counts[where], 0)

    def log_probs(self, history: Tensor, following: Tensor) -> Tensor:
        """``log p(v | context)`` for every token ``v`` at every position of ``following``.

        Args:
            history: The ``order - 1`` (or more) tokens before ``following``'s first one.
            following: The positions to score, ``(P,)``.

        Returns:
            ``(P, V)`` log-probabilities; row ``i`` is conditioned on the ``order - 1`` tokens
            before ``following[i]`` in ``cat(history, following)``.

        Raises:
            ValueError: If the model is not fitted or ``history`` is too short.
        """
        if not hasattr(self, "keys_"):
            raise ValueError("fit the n-gram model before scoring with it")
        history, following = self._stream(history, "history"), self._stream(following, "following")
        if len(history) < self.order - 1:
            raise ValueError(
                f"an order-{self.order} model needs {self.order - 1} tokens of history, got "
                f"{len(history)}"
            )
        stream = torch.cat([history[len(history) - (self.order - 1) :], following])
        contexts = self._contexts(stream)  # (P,)
        V = self.vocab_size
        pair_keys = contexts.unsqueeze(1) * V + torch.arange(V)  # (P, V)
        pair = self._lookup(self.keys_, self.counts_, pair_keys.flatten()).view(-1, V)
        total = self._lookup(self.context_keys_, self.context_counts_, contexts)  # (P,)
        p = (pair.double() + self.k) / (total.double().unsqueeze(1) + self.k * V)
        return p.log().float()
