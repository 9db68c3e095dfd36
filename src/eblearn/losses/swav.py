"""SwAV: swapped prediction of equipartitioned cluster assignments (Sinkhorn-Knopp).

Energy: ``F(x, x') = -Σ_k q'_k log p_k(x)``, the cross-entropy between the prototype
assignment ``q'`` computed from one view and the softmax over prototypes ``p(x)`` predicted
from another. Inference: the assignments ``Q`` solve an entropy-regularized optimal-transport
problem, ``max_Q tr(Qᵀ S) + ε H(Q)`` subject to every sample being assigned once and every
prototype being used ``B/K`` times, computed by a few Sinkhorn-Knopp iterations. Strategy:
clustering (quantization) with an information-maximization constraint: the equipartition
keeps all samples from falling into one cluster, so the embedding cannot collapse.

[0] Caron, Misra, Mairal, Goyal, Bojanowski, Joulin, Unsupervised Learning of Visual Features
    by Contrasting Cluster Assignments, NeurIPS 2020, https://arxiv.org/abs/2006.09882
[1] Cuturi, Sinkhorn Distances: Lightspeed Computation of Optimal Transport, NeurIPS 2013,
    https://arxiv.org/abs/1306.0895
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._distributed import world_size
from eblearn._validate import check_ndim, check_positive
from eblearn.losses._float32 import float32_loss


def _all_reduce(x: Tensor, distributed: bool, maximum: bool = False) -> Tensor:
    if distributed and world_size() > 1:
        dist.all_reduce(x, op=dist.ReduceOp.MAX if maximum else dist.ReduceOp.SUM)
    return x


def _log_sum_over_samples(log_q: Tensor, distributed: bool) -> Tensor:
    """``log Σ_b exp(log_q[k, b])`` ``(K, 1)`` over the samples of every process (when
    ``distributed``), shifted by the per-prototype maximum so that no term overflows."""
    if not (distributed and world_size() > 1):
        return torch.logsumexp(log_q, dim=1, keepdim=True)
    peak = _all_reduce(log_q.amax(dim=1, keepdim=True), True, maximum=True)  # (K, 1)
    total = _all_reduce((log_q - peak).exp().sum(dim=1, keepdim=True), True)
    return peak + total.log()


@torch.no_grad()
def sinkhorn(
    scores: Tensor,
    epsilon: float = 0.05,
    iterations: int = 3,
    gather_distributed: bool = False,
) -> Tensor:
    """Soft assignments of ``B`` samples to ``K`` prototypes with equal prototype shares.

    Starting from ``Q = exp(S/ε)`` (``S`` the scores), alternately scales every prototype's
    total mass to ``1/K`` and every sample's to ``1/B``, ``iterations`` times, then returns
    ``B·Q``: each row sums to 1 and, as the iterations converge, each column to ``B/K``.
    With ``gather_distributed`` the sums run over the samples of every process (the result is
    the rows of the global assignment that belong to this process). No gradient flows.

    A factor common to all entries cancels in the next normalization, so the initial total
    mass and the shares ``1/K`` and ``1/B`` need not be applied: each iteration divides every
    prototype's row by its sum, then every sample's column by its sum, which leaves ``B·Q``.
    The scaling runs in the log domain [1], ``log Q ← log Q - logsumexp``, first over the
    samples, then over the prototypes: ``exp(S/ε)`` itself overflows (or underflows to 0 for a
    whole sample, which made the batch NaN) once ``ε`` is small against the spread of the
    scores, while any finite scores give finite ``log Q`` and rows summing to 1. float64
    scores are computed in float64, all others (float16, bfloat16) in float32; the result has
    the scores' dtype.

    Args:
        scores: Similarities to the prototypes, ``(B, K)``.
        epsilon: Entropy weight ε (paper: 0.05).
        iterations: Sinkhorn-Knopp iterations (paper: 3).
        gather_distributed: Normalize over the batches of all processes.

    Returns:
        Tensor ``(B, K)``, rows summing to 1.

    Raises:
        ValueError: If ``scores`` is not 2-D, ``epsilon <= 0`` or ``iterations < 1``.

    Example:
        >>> scores = torch.tensor([[0.9, 0.1, -0.2], [0.8, 0.3, 0.0], [0.7, -0.5, 0.2],
        ...                        [0.6, 0.2, 0.1], [-0.1, 0.4, 0.3], [0.5, 0.0, 0.6]])
        >>> q = sinkhorn(scores, iterations=200)  # 4 of the 6 samples score prototype 0 best
        >>> torch.allclose(q.sum(1), torch.ones(6))  # each sample assigned once
        True
        >>> torch.allclose(q.sum(0), torch.full((3,), 2.0), atol=1e-3)  # yet B/K = 2 each
        True
        >>> q.argmax(1).tolist()  # samples 2 and 3 go to the other prototypes
        [0, 0, 2, 1, 1, 2]
    """
    check_ndim(scores, 2, "scores", "(B, K)")
    check_positive(epsilon, "epsilon")
    if iterations < 1:
        raise ValueError(f"Sinkhorn needs iterations >= 1, got {iterations}")
    work = torch.float64 if scores.dtype == torch.float64 else torch.float32
    log_q = scores.detach().to(work).T / epsilon  # (K, B): log Q up to a constant
    for _ in range(iterations):
        log_q -= _log_sum_over_samples(log_q, gather_distributed)  # equal prototype mass
        # sample mass 1 (local: each column lives on one rank)
        log_q -= torch.logsumexp(log_q, dim=0, keepdim=True)
    return log_q.exp_().T.to(scores.dtype)


@float32_loss
def swapped_prediction_loss(
    scores: Sequence[Tensor],
    assignments: Sequence[Tensor],
    temperature: float = 0.1,
) -> Tensor:
    """``1/A Σ_i 1/(V-1) Σ_{v≠i} mean_b -Σ_k q^i_bk log softmax(s^v_b / τ)_k``.

    Computed as ``-1/(A(V-1)B) Σ_v Σ_bk w^v_bk log softmax(s^v_b / τ)_k`` with the weights
    ``w^v = Σ_{i≠v} q^i``: one log-softmax over every view's
    scores instead of one per pair of views.

    Args:
        scores: ``V`` tensors ``(B, K)``, each view's similarities to the prototypes.
        assignments: ``A`` targets ``(B, K)``, computed from views ``0 .. A-1``.
        temperature: τ of the predicted softmax.
    """
    views, assigned = len(scores), len(assignments)
    targets = torch.stack(list(assignments))  # (A, B, K)
    weights = targets.sum(dim=0).expand(views, -1, -1).clone()  # (V, B, K)
    weights[:assigned] -= targets  # view i does not predict its own assignment
    log_p = F.log_softmax(torch.cat(list(scores)) / temperature, dim=1)  # (V·B, K)
    return -(weights.flatten(0, 1) * log_p).sum() / (assigned * (views - 1) * len(scores[0]))


class SwAVLoss(nn.Module):
    """SwAV's swapped prediction: each view predicts the Sinkhorn assignment of the others.

    ``L = 1/A Σ_{i<A} 1/(V-1) Σ_{v≠i} mean_b ℓ(q^i_b, s^v_b)``, with ``ℓ(q, s) = -Σ_k q_k log
    softmax(s/τ)_k``, ``s^v`` the prototype scores of view ``v`` (cosines of normalized
    embeddings and prototypes), ``q^i = sinkhorn(s^i)`` the equipartitioned assignment of
    one of the ``A`` assigned views (the large crops), computed without gradient and, when
    ``queue_scores`` are given, over the queue's embeddings and the batch together.

    [0] Caron et al., SwAV, NeurIPS 2020, https://arxiv.org/abs/2006.09882

    Args:
        temperature: τ (paper: 0.1).
        sinkhorn_iterations: Sinkhorn-Knopp iterations (paper: 3).
        sinkhorn_epsilon: ε (paper: 0.05).
        gather_distributed: Sinkhorn normalizes over the batches of all processes.

    Shapes:
        ``scores``: ``V >= 2`` tensors ``(B, K)``, the assigned views first;
        ``queue_scores``: ``A`` tensors ``(Q, K)`` or ``None``. Returns a scalar.

    Raises:
        ValueError: On fewer than 2 views, ``num_assigned`` outside ``[1, V]``, or scores of
            different shapes.

    Example:
        >>> scores = [torch.zeros(8, 5) for _ in range(4)]  # 2 large + 2 small crops
        >>> round(float(SwAVLoss()(scores, num_assigned=2)), 4)  # no preference: log K
        1.6094
    """

    def __init__(
        self,
        temperature: float = 0.1,
        sinkhorn_iterations: int = 3,
        sinkhorn_epsilon: float = 0.05,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        check_positive(sinkhorn_epsilon, "sinkhorn_epsilon")
        if sinkhorn_iterations < 1:
            raise ValueError(f"sinkhorn_iterations must be >= 1, got {sinkhorn_iterations}")
        self.temperature = temperature
        self.sinkhorn_iterations = sinkhorn_iterations
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.gather_distributed = gather_distributed

    def assignments(
        self, scores: Sequence[Tensor], num_assigned: int, queue_scores: Sequence[Tensor | None]
    ) -> list[Tensor]:
        """The Sinkhorn targets ``q^i`` ``(B, K)`` of the first ``num_assigned`` views."""
        targets = []
        for i in range(num_assigned):
            s = scores[i].detach()
            queued = queue_scores[i] if i < len(queue_scores) else None
            if queued is not None:
                s = torch.cat([queued.detach().to(s.dtype), s])  # (Q + B, K)
            q = sinkhorn(
                s, self.sinkhorn_epsilon, self.sinkhorn_iterations, self.gather_distributed
            )
            targets.append(q[-len(scores[i]) :])
        return targets

    @float32_loss
    def forward(
        self,
        scores: Sequence[Tensor],
        num_assigned: int = 2,
        queue_scores: Sequence[Tensor | None] | None = None,
    ) -> Tensor:
        if len(scores) < 2:
            raise ValueError(f"SwAVLoss needs at least 2 views, got {len(scores)}")
        if not 1 <= num_assigned <= len(scores):
            raise ValueError(f"num_assigned must lie in [1, {len(scores)}], got {num_assigned}")
        for s in scores:
            check_ndim(s, 2, "prototype scores", "(B, K)")
            if s.shape != scores[0].shape:
                raise ValueError(
                    f"every view's scores must have shape {tuple(scores[0].shape)}, "
                    f"got {tuple(s.shape)}"
                )
        targets = self.assignments(scores, num_assigned, queue_scores or [])
        return swapped_prediction_loss(scores, targets, self.temperature)
