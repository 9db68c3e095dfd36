"""DeepCluster-v2's loss: predict each sample's k-means cluster from any of its views.

Energy: ``F(x, k) = -log softmax(z(x)ᵀ c / τ)_k``, the cross-entropy between the similarities
of a view's normalized embedding ``z`` to the normalized centroids ``c`` and the cluster ``k``
that k-means gave the sample on last epoch's embeddings. Inference: k-means (minimize the
within-cluster distances over the assignments and centroids), once per epoch. Strategy:
clustering (quantization): the targets are discrete codes from a fixed partition, which
limits the volume of low energy to ``K`` regions.

[0] Caron et al., Unsupervised Learning of Visual Features by Contrasting Cluster Assignments
    (section 3 and appendix: DeepCluster-v2), NeurIPS 2020, https://arxiv.org/abs/2006.09882
[1] Caron et al., Deep Clustering for Unsupervised Learning of Visual Features, ECCV 2018,
    https://arxiv.org/abs/1807.05520
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_ndim, check_positive
from eblearn.losses._float32 import float32_loss


@float32_loss
def cluster_prediction_loss(
    scores: Sequence[Tensor], targets: Tensor, temperature: float = 0.1
) -> Tensor:
    """``1/V Σ_v mean_b CE(s^v_b / τ, t_b)`` with hard (``(B,)`` long) or soft (``(B, K)``)
    targets ``t``."""
    total = sum(F.cross_entropy(s / temperature, targets) for s in scores)
    return total / len(scores)  # type: ignore[return-value]


class DeepClusterLoss(nn.Module):
    """``L = 1/V Σ_v 1/B Σ_b -log softmax(s^v_b / τ)_{k_b}`` over ``V`` views.

    ``s^v`` are the cosines of view ``v``'s embeddings to the ``K`` prototypes (the k-means
    centroids) and ``k_b`` the cluster of sample ``b``. Targets may also be soft assignments
    ``(B, K)`` whose rows sum to 1 (used before the first k-means).

    [0] Caron et al., DeepCluster-v2, NeurIPS 2020, https://arxiv.org/abs/2006.09882

    Args:
        temperature: τ (paper: 0.1).

    Shapes:
        ``scores``: ``V`` tensors ``(B, K)``; ``targets``: ``(B,)`` in ``[0, K)`` or ``(B, K)``.

    Raises:
        ValueError: On no views, views of different shapes, or targets that do not fit.

    Example:
        >>> import torch
        >>> scores = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
        >>> loss = DeepClusterLoss(temperature=0.1)
        >>> bool(loss([scores], torch.tensor([0, 1])) < loss([scores], torch.tensor([1, 0])))
        True
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature

    def forward(self, scores: Sequence[Tensor], targets: Tensor) -> Tensor:
        if not scores:
            raise ValueError("DeepClusterLoss needs the scores of at least one view")
        for s in scores:
            check_ndim(s, 2, "prototype scores", "(B, K)")
            if s.shape != scores[0].shape:
                raise ValueError(
                    f"every view's scores must have shape {tuple(scores[0].shape)}, "
                    f"got {tuple(s.shape)}"
                )
        batch, clusters = scores[0].shape
        if targets.shape not in ((batch,), (batch, clusters)):
            raise ValueError(
                f"targets must have shape ({batch},) (cluster indices) or ({batch}, {clusters}) "
                f"(soft assignments), got {tuple(targets.shape)}"
            )
        if (
            targets.ndim == 1
            and len(targets)
            and not 0 <= int(targets.min()) <= int(targets.max()) < clusters
        ):
            raise ValueError(f"cluster targets must lie in [0, {clusters}), got {targets.tolist()}")
        return cluster_prediction_loss(scores, targets, self.temperature)
