"""InfoNCE for joint embeddings: NT-Xent over 2B views (SimCLR) and query-key InfoNCE (MoCo).

Energy: ``F(x, y) = -cos(z_x, z_y) / τ``, the negative scaled cosine similarity of the
embeddings of two views. Inference: none (embeddings are computed). Strategy: contrastive.
Each view is a data point whose positive is the other view of the same image; the energy of
the positive pair is pushed down and, through the softmax, the energies of the negatives
(the other views of the batch, and optionally embeddings from a queue or a memory bank) are
pushed up. InfoNCE is a group loss with an implicit infinite margin: it never stops pushing.

For one anchor ``i`` with positive ``p(i)`` and candidate set ``N(i)`` (everything but ``i``),

``ℓ_i = -log( exp(s_{i,p(i)} / τ) / Σ_{k ∈ N(i)} exp(s_{i,k} / τ) )``,  ``s`` the cosine.

[0] Chen, Kornblith, Norouzi, Hinton, A Simple Framework for Contrastive Learning of Visual
    Representations, ICML 2020, https://arxiv.org/abs/2002.05709
[1] van den Oord, Li, Vinyals, Representation Learning with Contrastive Predictive Coding,
    2018, https://arxiv.org/abs/1807.03748
[2] He et al., Momentum Contrast for Unsupervised Visual Representation Learning, CVPR 2020,
    https://arxiv.org/abs/1911.05722
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._distributed import gather_with_grad, world_size
from eblearn._validate import check_ndim, check_positive, check_same_shape
from eblearn.losses._float32 import float32_loss


def _rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def _check_negatives(negatives: Tensor | None, dim: int) -> None:
    if negatives is not None and (negatives.ndim != 2 or negatives.shape[1] != dim):
        raise ValueError(
            f"negatives must be a tensor of shape (M, {dim}), got {tuple(negatives.shape)}"
        )


@float32_loss
def nt_xent_loss(
    z_a: Tensor,
    z_b: Tensor,
    temperature: float = 0.5,
    negatives: Tensor | None = None,
    gather_distributed: bool = False,
) -> Tensor:
    """NT-Xent: the mean of ``ℓ_i`` over the ``2B`` views (see the module docstring).

    View ``i`` of ``z_a`` is the positive of view ``i`` of ``z_b`` and the reverse; the other
    ``2B - 2`` views of the batch, and the rows of ``negatives``, are negatives.

    Args:
        z_a: Embeddings of the first views, ``(B, D)``; L2-normalized here.
        z_b: Embeddings of the second views, ``(B, D)``.
        temperature: τ.
        negatives: Extra negatives ``(M, D)`` (a queue or memory bank), or ``None``.
        gather_distributed: Use the views of every process as negatives (each process's
            anchors are its own views; data-parallel averaging makes the loss global).

    Returns:
        The scalar loss.
    """
    z_a, z_b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
    batch = len(z_a)
    anchors = torch.cat([z_a, z_b])  # (2B, D)
    offset = 0
    if gather_distributed and world_size() > 1:
        all_a, all_b = gather_with_grad(z_a), gather_with_grad(z_b)  # (WB, D)
        offset = _rank() * batch
    else:
        all_a, all_b = z_a, z_b
    total = len(all_a)  # W·B
    candidates = torch.cat([all_a, all_b])  # (2WB, D)
    logits = anchors @ candidates.T / temperature  # (2B, 2WB)
    rows = torch.arange(2 * batch, device=z_a.device)
    own = rows % batch + offset  # the anchor's index within its view's block
    is_second = rows >= batch
    self_column = own + is_second * total  # (2B,)
    positive_column = own + (~is_second) * total
    logits = logits.scatter(1, self_column[:, None], float("-inf"))  # not its own negative
    if negatives is not None:
        negatives = F.normalize(negatives.to(anchors.dtype), dim=1)
        logits = torch.cat([logits, anchors @ negatives.T / temperature], dim=1)  # (2B, 2WB+M)
    return F.cross_entropy(logits, positive_column)


@float32_loss
def moco_loss(
    query: Tensor,
    key: Tensor,
    temperature: float = 0.2,
    negatives: Tensor | None = None,
    batch_negatives: bool = False,
    gather_distributed: bool = False,
) -> Tensor:
    """Query-key InfoNCE: the mean of ``ℓ_i`` over the ``B`` queries.

    The positive of query ``i`` is key ``i``. Its negatives are the rows of ``negatives``
    (MoCo v2's queue) and, with ``batch_negatives``, the other keys of the batch (MoCo v3).

    Args:
        query: ``(B, D)`` queries; L2-normalized here.
        key: ``(B, D)`` keys (typically from a momentum encoder).
        temperature: τ (MoCo v2: 0.2).
        negatives: ``(M, D)`` negatives, or ``None``.
        batch_negatives: Use the other keys of the batch as negatives.
        gather_distributed: With ``batch_negatives``, use every process's keys as negatives.

    Returns:
        The scalar loss.
    """
    query, key = F.normalize(query, dim=1), F.normalize(key, dim=1)
    if batch_negatives:
        keys, offset = key, 0
        if gather_distributed and world_size() > 1:
            keys, offset = gather_with_grad(key), _rank() * len(key)
        logits = query @ keys.T / temperature  # (B, WB)
        target = torch.arange(len(query), device=query.device) + offset
    else:
        logits = (query * key).sum(1, keepdim=True) / temperature  # (B, 1)
        target = torch.zeros(len(query), dtype=torch.long, device=query.device)
    if negatives is not None:
        negatives = F.normalize(negatives.to(query.dtype), dim=1)
        logits = torch.cat([logits, query @ negatives.T / temperature], dim=1)
    return F.cross_entropy(logits, target)


class NTXentLoss(nn.Module):
    """SimCLR's normalized temperature-scaled cross-entropy over ``2B`` views.

    ``L = 1/(2B) Σ_i -log( exp(s_{i,p(i)}/τ) / Σ_{k≠i} exp(s_{i,k}/τ) )`` over the ``2B``
    views ``i`` of a batch, ``p(i)`` the other view of the same image, ``s`` the cosine
    similarity, and the sum over every other view plus the optional extra ``negatives``.

    [0] Chen et al., SimCLR, ICML 2020, https://arxiv.org/abs/2002.05709

    Args:
        temperature: τ (paper: 0.5 on CIFAR-10, 0.1 on ImageNet).
        gather_distributed: Views of every process are negatives of every anchor.

    Shapes:
        ``z_a``, ``z_b``: ``(B, D)``; ``negatives``: ``(M, D)`` or ``None``. Returns a scalar.

    Raises:
        ValueError: If the views are not 2-D or differ in shape, the negatives' ``D`` differs,
            or ``temperature <= 0``.

    Example:
        >>> z = torch.eye(4)  # identical views, orthogonal embeddings
        >>> loss = NTXentLoss(temperature=1.0)(z, z)
        >>> expected = -torch.log(torch.tensor(torch.e / (torch.e + 6)))  # 6 negatives at cos 0
        >>> torch.allclose(loss, expected)
        True
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = False) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z_a: Tensor, z_b: Tensor, negatives: Tensor | None = None) -> Tensor:
        check_ndim(z_a, 2, "z_a", "(B, D)")
        check_same_shape(z_a, z_b, "z_a", "z_b")
        _check_negatives(negatives, z_a.shape[1])
        return nt_xent_loss(z_a, z_b, self.temperature, negatives, self.gather_distributed)


class MoCoLoss(nn.Module):
    """MoCo's InfoNCE between queries and keys, negatives from a queue and/or the batch.

    ``L = 1/B Σ_i -log( exp(q_i·k_i/τ) / (exp(q_i·k_i/τ) + Σ_{n ∈ N_i} exp(q_i·n/τ)) )`` on
    L2-normalized vectors, ``N_i`` the ``negatives`` (MoCo v2's queue) and, with
    ``batch_negatives``, the keys ``k_j, j ≠ i`` (MoCo v3).

    [0] He et al., MoCo, CVPR 2020, https://arxiv.org/abs/1911.05722
    [1] Chen, Fan, Girshick, He, Improved Baselines with Momentum Contrastive Learning (MoCo v2),
        2020, https://arxiv.org/abs/2003.04297
    [2] Chen, Xie, He, An Empirical Study of Training Self-Supervised Vision Transformers
        (MoCo v3), ICCV 2021, https://arxiv.org/abs/2104.02057

    Args:
        temperature: τ (MoCo v2: 0.2; MoCo v3 with ResNets: 1.0).
        batch_negatives: Use the batch's other keys as negatives.
        gather_distributed: With ``batch_negatives``, the keys of every process.

    Shapes:
        ``query``, ``key``: ``(B, D)``; ``negatives``: ``(M, D)`` or ``None``. Returns a scalar.

    Raises:
        ValueError: On mismatched shapes, no negatives at all, or ``temperature <= 0``.

    Example:
        >>> q = torch.eye(3)
        >>> loss = MoCoLoss(temperature=1.0)(q, q, negatives=-torch.eye(3))
        >>> bool(loss < MoCoLoss(temperature=1.0)(q, -q, negatives=-torch.eye(3)))
        True
    """

    def __init__(
        self,
        temperature: float = 0.2,
        batch_negatives: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.batch_negatives = batch_negatives
        self.gather_distributed = gather_distributed

    def forward(self, query: Tensor, key: Tensor, negatives: Tensor | None = None) -> Tensor:
        check_ndim(query, 2, "query", "(B, D)")
        check_same_shape(query, key, "query", "key")
        _check_negatives(negatives, query.shape[1])
        if negatives is None and not self.batch_negatives:
            raise ValueError(
                "MoCoLoss has no negatives: pass negatives=(M, D) or build it with "
                "batch_negatives=True"
            )
        return moco_loss(
            query,
            key,
            self.temperature,
            negatives,
            self.batch_negatives,
            self.gather_distributed,
        )
