"""Exact lasso codes on a guessed support: the KKT system, batched over samples.

For ``min_z ½zᵀGz - cᵀz + λ||z||₁`` (``G = WWᵀ``, ``c = yWᵀ``), a code ``z`` with support
``S`` and signs ``σ = sign(z_S)`` is optimal exactly when

    ``G_SS z_S = c_S - λσ``  and  ``|c_j - (zG)_j| ≤ λ`` for ``j ∉ S``

(the subgradient conditions). Once an iterative solver has found the right support and
signs, one small ``|S| × |S|`` solve per sample gives the exact minimizer, where the
iterative solver would need many more steps to converge on an ill-conditioned ``G_SS``
(the finite identification of the active set, as in feature-sign search [0] and
primal-dual active-set methods [1]). Samples are grouped by support size, so each group
is one batched Cholesky factorization without padding.

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
    codes = torch.zeros_like(correlation)
    solved = torch.ones(n, dtype=torch.bool, device=correlation.device)
    sizes = support.sum(1)
    order = torch.argsort(sizes, stable=True)
    group_sizes, counts = torch.unique_consecutive(sizes[order], return_counts=True)
    flat_gram = gram.reshape(-1)
    start = 0
    for size, count in zip(group_sizes.tolist(), counts.tolist(), strict=True):
        rows = order[start : start + count]
        start += count
        if size == 0:
            continue
        index = support[rows].nonzero()[:, 1].view(count, size)  # (m, s), sorted atoms
        sub_gram = flat_gram[index[:, :, None] * k + index[:, None, :]]  # (m, s, s)
        rhs = correlation[rows].gather(1, index) - lam * signs[rows].gather(1, index)
        factor, info = torch.linalg.cholesky_ex(sub_gram)
        solution = torch.cholesky_solve(rhs[:, :, None], factor)[:, :, 0]
        good = info == 0
        block = torch.zeros(count, k, dtype=codes.dtype, device=codes.device)
        block.scatter_(1, index, torch.where(good[:, None], solution, 0.0))
        codes[rows] = block
        solved[rows] = good
    return codes, solved
