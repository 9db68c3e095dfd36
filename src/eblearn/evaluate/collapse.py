"""Collapse metrics: is the energy flat (every input mapped to the same embedding)?

Two numbers per set of embeddings ``Z`` of shape ``(N, D)``:

* ``normalized_std``: the mean over dimensions of the standard deviation of the L2-normalized
  embeddings, times ``sqrt(D)``. About 1 when embeddings spread over the sphere, 0 when they
  collapse to a point (SimSiam [0], section 4.1, uses the std without the ``sqrt(D)`` factor).
* ``effective_rank``: ``exp(H(p))`` with ``p`` the normalized singular values of the centered
  embeddings (Roy & Vetterli [1]); between 1 and ``min(N, D)``. Low values mean dimensional
  collapse (Jing et al. [2]).

[0] Chen & He, Exploring Simple Siamese Representation Learning, 2021,
    https://arxiv.org/abs/2011.10566
[1] Roy & Vetterli, The effective rank: a measure of effective dimensionality, EUSIPCO 2007
[2] Jing et al., Understanding Dimensional Collapse in Contrastive Self-supervised Learning,
    2022, https://arxiv.org/abs/2110.09348
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn._validate import check_batch_size, check_ndim

COLLAPSE_THRESHOLD = 0.05
"""``normalized_std`` below which embeddings count as collapsed to a point."""


class CollapseWarning(UserWarning):
    """Embeddings have (nearly) collapsed to a single point."""


@dataclass(frozen=True)
class CollapseReport:
    """Collapse metrics of a set of embeddings.

    Attributes:
        std: Mean per-dimension standard deviation of the raw embeddings.
        normalized_std: Mean per-dimension std of L2-normalized embeddings, times sqrt(D).
        effective_rank: ``exp`` of the entropy of the normalized singular values.
        dim: Embedding dimension D.
    """

    std: float
    normalized_std: float
    effective_rank: float
    dim: int

    @property
    def collapsed(self) -> bool:
        """True when the embeddings have (nearly) collapsed to one point."""
        return self.normalized_std < COLLAPSE_THRESHOLD

    def as_dict(self) -> dict[str, float]:
        return {
            "std": self.std,
            "normalized_std": self.normalized_std,
            "effective_rank": self.effective_rank,
        }


def effective_rank(z: Tensor) -> float:
    """``exp(-Σ p_k log p_k)`` with ``p = σ / Σσ`` the singular values of centered ``z``.

    Example:
        >>> round(effective_rank(torch.eye(4) * 3), 3)  # 3 equal directions after centering
        3.0
    """
    centered = (z - z.mean(0)).double()
    singular = torch.linalg.svdvals(centered)
    total = singular.sum()
    if total <= 0:
        return 1.0
    p = singular / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def collapse_report(z: Tensor) -> CollapseReport:
    """Collapse metrics of embeddings ``z`` of shape ``(N, D)``, ``N >= 2``.

    Example:
        >>> collapse_report(torch.ones(8, 4)).collapsed
        True
        >>> collapse_report(torch.randn(512, 4)).collapsed
        False
    """
    check_ndim(z, 2, "embeddings", "(N, D)")
    check_batch_size(z, 2, "collapse_report", "a standard deviation needs two samples")
    z = z.float()
    dim = z.shape[1]
    normalized = F.normalize(z, dim=1)
    return CollapseReport(
        std=float(z.std(0).mean()),
        normalized_std=float(normalized.std(0).mean() * math.sqrt(dim)),
        effective_rank=effective_rank(z),
        dim=dim,
    )
