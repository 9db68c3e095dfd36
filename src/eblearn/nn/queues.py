"""Stores of past embeddings used as negatives or targets: a FIFO queue and a memory bank.

* :class:`FeatureQueue` keeps the last ``K`` embeddings pushed, first in, first out: MoCo's
  dictionary of negative keys [0] and SwAV's queue of recent embeddings [1].
* :class:`MemoryBank` keeps one embedding per training sample, addressed by the sample's
  index and refreshed with momentum when the sample comes round again: the memory bank of
  InstDisc [2] and PIRL [3] (negatives drawn at random from it), and DeepCluster-v2's store of
  last epoch's embeddings that k-means clusters [1].

Both live in buffers, so checkpoints save them and a resumed run continues with the same
contents. With ``gather_distributed=True`` a push first gathers the embeddings of every
process (in rank order), so that every process holds the same store as a single process
trained on the global batch would; such a store names its buffers in ``replicated_buffers()``,
and the training engine keeps them out of DDP's per-step broadcast of rank 0's buffers, which
would only resend what every process holds already (:mod:`eblearn.train.replicated`).

[0] He et al., Momentum Contrast for Unsupervised Visual Representation Learning, CVPR 2020,
    https://arxiv.org/abs/1911.05722
[1] Caron et al., Unsupervised Learning of Visual Features by Contrasting Cluster
    Assignments, NeurIPS 2020, https://arxiv.org/abs/2006.09882
[2] Wu et al., Unsupervised Feature Learning via Non-Parametric Instance Discrimination,
    CVPR 2018, https://arxiv.org/abs/1805.01978
[3] Misra & van der Maaten, Self-Supervised Learning of Pretext-Invariant Representations,
    CVPR 2020, https://arxiv.org/abs/1912.01991
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._distributed import world_size
from eblearn._validate import check_ndim


@torch.no_grad()
def gather_all(x: Tensor) -> Tensor:
    """Concatenates ``x`` (shape ``(B, ...)``, same on every process) from all processes, in
    rank order, without gradients; ``x`` itself when not distributed."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def _check_features(features: Tensor, dim: int, what: str) -> None:
    check_ndim(features, 2, what, "(B, D)")
    if features.shape[1] != dim:
        raise ValueError(f"{what} must have {dim} columns (D), got shape {tuple(features.shape)}")


class FeatureQueue(nn.Module):
    """A first-in, first-out queue of the last ``size`` embeddings.

    Args:
        size: Capacity ``K``.
        dim: Embedding size ``D``.
        normalize: L2-normalize embeddings as they are pushed.
        random_init: Start full of random unit vectors, as MoCo does, instead of empty.
        gather_distributed: Push the embeddings of every process, so all processes hold the
            same queue.

    Attributes:
        features: Buffer ``(K, D)``; row ``i`` is valid when ``i < count``.
        pointer: Buffer, the row the next push writes first.
        count: Buffer, the number of valid rows (at most ``K``).

    Example:
        >>> queue = FeatureQueue(size=3, dim=2, normalize=False)
        >>> queue.push(torch.tensor([[1.0, 0.0], [2.0, 0.0]]))
        >>> queue.push(torch.tensor([[3.0, 0.0], [4.0, 0.0]]))
        >>> queue.get()[:, 0].tolist()  # oldest first; [1, 0] was pushed out
        [2.0, 3.0, 4.0]
    """

    features: Tensor
    pointer: Tensor
    count: Tensor

    def __init__(
        self,
        size: int,
        dim: int,
        normalize: bool = True,
        random_init: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1, got size={size}, dim={dim}")
        self.size, self.dim = size, dim
        self.normalize = normalize
        self.gather_distributed = gather_distributed
        initial = torch.zeros(size, dim)
        if random_init:
            initial = F.normalize(torch.randn(size, dim), dim=1)
        self.register_buffer("features", initial)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.tensor(size if random_init else 0, dtype=torch.long))

    def replicated_buffers(self) -> tuple[str, ...]:
        """The buffers every process holds identical (all three when ``gather_distributed``:
        each push writes the same gathered rows on every process), else none."""
        return ("features", "pointer", "count") if self.gather_distributed else ()

    @property
    def full(self) -> bool:
        """Whether every row holds an embedding."""
        return int(self.count) == self.size

    @torch.no_grad()
    def push(self, features: Tensor) -> None:
        """Appends ``features`` ``(B, D)``; the oldest rows make room. Nothing is differentiated.

        Raises:
            ValueError: If ``features`` is not ``(B, D)`` with the queue's ``D``.
        """
        _check_features(features, self.dim, "queue features")
        features = features.detach()
        if self.gather_distributed:
            features = gather_all(features)
        if self.normalize:
            features = F.normalize(features, dim=1)
        features = features[-self.size :].to(self.features.dtype)  # (n, D), n <= K
        n = len(features)
        rows = (int(self.pointer) + torch.arange(n, device=self.features.device)) % self.size
        self.features[rows] = features
        self.pointer.fill_((int(self.pointer) + n) % self.size)
        self.count.fill_(min(self.size, int(self.count) + n))

    def get(self) -> Tensor:
        """The valid rows ``(count, D)``, oldest first (a view of a copy; safe to keep)."""
        count, pointer = int(self.count), int(self.pointer)
        if count < self.size:
            return self.features[:count].clone()
        return torch.cat([self.features[pointer:], self.features[:pointer]])

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, normalize={self.normalize}"


class MemoryBank(nn.Module):
    """One embedding per training sample, refreshed with momentum: ``m_i ← m·m_i + (1-m)·z_i``.

    With ``normalize=True`` the update is followed by ``m_i ← m_i / ||m_i||`` (InstDisc, PIRL).
    A row that was never written takes ``z_i`` as it is. The bank grows to hold the largest
    index it is given; :meth:`resize` sizes it up front (the training engine calls it with the
    number of training samples, through the method's ``prepare``).

    Args:
        dim: Embedding size ``D``.
        size: Initial number of rows ``N``.
        momentum: Weight ``m`` of the old entry (PIRL: 0.5; 0 overwrites).
        normalize: L2-normalize entries.
        gather_distributed: Update with the indices and embeddings of every process, so all
            processes hold the same bank.

    Attributes:
        features: Buffer ``(N, D)``.
        filled: Buffer ``(N,)`` of booleans, whether row ``i`` was ever written.
        labels: Buffer ``(N,)`` of integers, a tag per row for users of the bank (DeepCluster
            keeps each sample's cluster there); -1 where unset.

    Example:
        >>> bank = MemoryBank(dim=2, size=4, momentum=0.5, normalize=False)
        >>> bank.update(torch.tensor([1]), torch.tensor([[2.0, 0.0]]))
        >>> bank.update(torch.tensor([1]), torch.tensor([[0.0, 2.0]]))
        >>> bank.features[1].tolist(), bank.filled.tolist()
        ([1.0, 1.0], [False, True, False, False])
    """

    features: Tensor
    filled: Tensor
    labels: Tensor

    def __init__(
        self,
        dim: int,
        size: int = 0,
        momentum: float = 0.5,
        normalize: bool = True,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        if dim < 1 or size < 0:
            raise ValueError(f"memory bank needs dim >= 1 and size >= 0, got {dim}, {size}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"memory bank momentum must lie in [0, 1), got {momentum}")
        self.dim = dim
        self.momentum = momentum
        self.normalize = normalize
        self.gather_distributed = gather_distributed
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("labels", torch.full((size,), -1, dtype=torch.long))

    def replicated_buffers(self) -> tuple[str, ...]:
        """The buffers every process holds identical: ``features`` and ``filled`` when
        ``gather_distributed`` (each update writes the same gathered rows on every process),
        else none. ``labels`` is written by the bank's users, so it is not vouched for here."""
        return ("features", "filled") if self.gather_distributed else ()

    @property
    def size(self) -> int:
        """Number of rows ``N``."""
        return len(self.features)

    def resize(self, size: int) -> None:
        """Sets the number of rows to ``size``, keeping the rows that fit."""
        if size == self.size:
            return
        keep = min(size, self.size)
        features = self.features.new_zeros(size, self.dim)
        filled = self.filled.new_zeros(size)
        labels = self.labels.new_full((size,), -1)
        features[:keep], filled[:keep] = self.features[:keep], self.filled[:keep]
        labels[:keep] = self.labels[:keep]
        self.features, self.filled, self.labels = features, filled, labels

    def _load_from_state_dict(  # type: ignore[no-untyped-def]
        self, state_dict: dict[str, Any], prefix: str, *args, **kwargs
    ) -> None:
        """Takes the checkpoint's number of rows before loading (a bank saved after growing)."""
        saved = state_dict.get(prefix + "features")
        if isinstance(saved, Tensor) and saved.ndim == 2 and saved.shape[1] == self.dim:
            self.resize(len(saved))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def update(self, indices: Tensor, features: Tensor) -> None:
        """Writes ``features`` ``(B, D)`` into rows ``indices`` ``(B,)`` with momentum.

        Raises:
            ValueError: On mismatched shapes or negative indices.
        """
        _check_features(features, self.dim, "memory bank features")
        if indices.shape != (len(features),):
            raise ValueError(
                f"indices must have shape ({len(features)},), got {tuple(indices.shape)}"
            )
        if len(indices) and int(indices.min()) < 0:
            raise ValueError(f"memory bank indices must be >= 0, got {int(indices.min())}")
        features = features.detach()
        indices = indices.to(self.features.device)
        if self.gather_distributed:
            features, indices = gather_all(features), gather_all(indices)
        if len(indices) and int(indices.max()) >= self.size:
            self.resize(int(indices.max()) + 1)
        features = features.to(self.features.dtype)
        if self.normalize:
            features = F.normalize(features, dim=1)
        old = self.features[indices]
        seen = self.filled[indices, None]
        new = torch.where(seen, self.momentum * old + (1 - self.momentum) * features, features)
        if self.normalize:
            new = F.normalize(new, dim=1)
        self.features[indices] = new
        self.filled[indices] = True

    def sample(self, n: int, exclude: Tensor | None = None) -> Tensor:
        """``n`` rows ``(n, D)`` drawn uniformly, with replacement, from the filled rows.

        Rows listed in ``exclude`` (the batch's own samples) are not drawn. Returns an empty
        ``(0, D)`` tensor when no row qualifies. Draws from PyTorch's global generator.
        """
        allowed = self.filled.clone()
        if exclude is not None and len(exclude):
            exclude = exclude.to(allowed.device)
            allowed[exclude[exclude < self.size]] = False
        candidates = allowed.nonzero().flatten()
        if len(candidates) == 0 or n <= 0:
            return self.features.new_zeros(0, self.dim)
        picks = torch.randint(len(candidates), (n,), device=candidates.device)
        return self.features[candidates[picks]]

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, momentum={self.momentum}"
