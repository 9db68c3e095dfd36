"""Exact lasso codes on a guessed support: the KKT system, batched over samples.

For ``min_z ½zᵀGz - cᵀz + λ||z||₁`` (``G = WWᵀ``, ``c = yWᵀ``), a code ``z`` with support
``S`` and signs ``σ = sign(z_S)`` is optimal exactly when

    ``G_SS z_S = c_S - λσ``  and  ``|c_j - (zG)_j| ≤ λ`` for ``j ∉ S``

(the subgradient conditions). Once an iterative solver has found the right support and
signs, one small ``|S| × |S|`` solve per sample gives the exact minimizer, where the
iterative solver would need many more steps to converge on an ill-conditioned ``G_SS``
(the finite identification of the active set, as in feature-sign search [0] and
primal-dual active-set methods [1]). Supports are padded to a multiple of ``BUCKET`` atoms
with decoupled unit pivots (``[[G_SS, 0], [0, I]]``, right-hand side 0 on the pads, so the
solution on ``S`` is unchanged), so that each bucket is one batched Cholesky factorization.

[0] Lee, Battle, Raina, Ng, Efficient sparse coding algorithms, 2007,
    https://papers.nips.cc/paper/2979-efficient-sparse-coding-algorithms
[1] Fan, Jiao, Lu, A primal dual active set algorithm with continuation for compressed
    sensing, 2014, https://arxiv.org/abs/1312.7039
"""

from __future__ import annotations

import torch
from torch import Tensor


def support_codes(
    gram: Tensor, correlation: Tensor, support: Tensor, signs: Tensor, lam: float
) -> tuple[Tensor, Tensor]:
    """Solves ``G_SS z_S = c_S - λσ_S`` for each row's support ``S``; ``z = 0`` off ``S``.

    Args:
        gram: ``G`` ``(K, K)``.
        correlation: ``c`` ``(N, K)``.
        support: ``(N, K)`` booleans, the support ``S`` of each row.
        signs: ``(N, K)`` signs ``σ`` (read on the support only).
        lam: ``λ``.

    Returns:
        The codes ``(N, K)`` and ``(N,)`` booleans, true where ``G_SS`` was positive definite
        (elsewhere the code is zero and must not be used).

    Example:
        >>> G = torch.eye(3)  # orthonormal atoms: z_S = c_S - λσ_S
        >>> c = torch.tensor([[2.0, -0.5, 1.5]])
        >>> codes, ok = support_codes(G, c, c.abs() > 1.0, c.sign(), 1.0)
        >>> codes.tolist(), ok.tolist()
        ([[1.0, 0.0, 0.5]], [True])
    """
    n, k = correlation.shape
    device = correlation.device
    codes = torch.zeros_like(correlation)
    solved = torch.ones(n, dtype=torch.bool, device=device)
    sizes = support.sum(1)
    width = int(sizes.max()) if n else 0
    if width == 0:
        return codes, solved
    # Row n's atoms in slots 0..|S_n|-1 of a padded (N, width) index; slot j ≥ |S_n| holds
    # the pad atom K + j, whose Gram row is the unit vector: the padded system is
    # [[G_SS, 0], [0, I]] [z_S; 0] = [c_S - λσ_S; 0], with the same solution on S.
    rows, atoms = support.nonzero().unbind(1)
    starts = torch.cumsum(sizes, 0) - sizes
    slots = torch.arange(len(rows), device=device) - starts.index_select(0, rows)
    index = (k + torch.arange(width, device=device, dtype=torch.int32)).repeat(n, 1)
    index[rows, slots] = atoms.to(torch.int32)
    padded_gram = torch.zeros(k + width, k + width, dtype=gram.dtype, device=device)
    padded_gram[:k, :k] = gram
    padded_gram[k:, k:] = torch.eye(width, dtype=gram.dtype, device=device)
    flat_gram = padded_gram.view(-1)
    real = index < k
    atom_index = torch.where(real, index, 0).long()
    rhs = (correlation - lam * signs).gather(1, atom_index) * real  # (N, width), 0 on pads
    solution = torch.zeros(n, width, dtype=codes.dtype, device=device)
    # Sizes are rounded up to a multiple of BUCKET: a few batched factorizations, little
    # padding.
    buckets = (sizes + BUCKET - 1) // BUCKET
    order = torch.argsort(buckets, stable=True)
    bucket_ids, counts = torch.unique_consecutive(buckets[order], return_counts=True)
    start = 0
    for bucket, count in zip(bucket_ids.tolist(), counts.tolist(), strict=True):
        members = order[start : start + count]
        start += count
        if bucket == 0:
            continue
        size = min(bucket * BUCKET, width)
        block = index.index_select(0, members)[:, :size]  # (m, s)
        flat = torch.add(block[:, :, None] * (k + width), block[:, None, :]).view(-1)
        sub_gram = flat_gram.index_select(0, flat).view(count, size, size)
        factor, info = torch.linalg.cholesky_ex(sub_gram)
        block_rhs = rhs.index_select(0, members)[:, :size, None]
        block_solution = torch.cholesky_solve(block_rhs, factor)[:, :, 0]
        good = info == 0
        solution[members, :size] = torch.where(good[:, None], block_solution, 0.0)
        solved[members] = good
    codes.scatter_add_(1, atom_index, solution * real)
    return codes, solved


BUCKET = 8
"""Support sizes are padded up to a multiple of this in :func:`support_codes`."""
