"""Sparse codes under an L0 budget or penalty: iterative hard thresholding (IHT).

Energy, with the dictionary ``W`` stored as ``(K, D)`` atoms (rows) as in
:mod:`eblearn.latent.sparse_coding`:

* constrained: ``E(y, z) = ½ ||y - zW||²`` subject to ``||z||₀ ≤ k`` [0, 1];
* penalized: ``E(y, z) = ½ ||y - zW||² + λ ||z||₀`` [0].

Inference: a gradient step on the quadratic, then the projection (or proximal operator)
of the L0 term, which keeps large entries unchanged and zeroes the rest:

``z ← H(z + μ (y - zW)Wᵀ)`` with ``μ = 1/L``, ``L = ||WWᵀ||₂``;

``H`` keeps the ``k`` largest magnitudes (constrained) or the entries with
``|u| > sqrt(2λμ)`` (penalized: ``½u² > λμ`` is where keeping beats zeroing). With
``μ ≤ 1/L`` the energy never increases (each step minimizes a majorizer of it), and a fixed
point is the least-squares fit on its support. Unlike the L1 problem of ISTA/FISTA this one
is not convex: IHT finds a local minimum, the global one when the dictionary is incoherent
enough for the code's sparsity [1]. Strategy: regularized; at most ``k`` atoms (or few, for
``λ``) may be used, so only unions of ``k``-dimensional subspaces have low energy.

[0] Blumensath, Davies, Iterative Thresholding for Sparse Approximations, Journal of Fourier
    Analysis and Applications 2008, https://doi.org/10.1007/s00041-008-9035-z
[1] Blumensath, Davies, Iterative Hard Thresholding for Compressed Sensing, Applied and
    Computational Harmonic Analysis 2009, https://arxiv.org/abs/0805.0510
[2] Blumensath, Davies, Normalized Iterative Hard Thresholding: Guaranteed Stability and
    Performance, IEEE Journal of Selected Topics in Signal Processing 2010.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from eblearn._validate import check_choice
from eblearn.latent._estimator import check_int, check_real
from eblearn.latent.sparse_coding import check_dictionary, gradient_step


def keep_largest(z: Tensor, n_nonzero: int) -> Tensor:
    """The projection onto ``||z||₀ ≤ k``: the ``k`` largest magnitudes of each row kept.

    Example:
        >>> keep_largest(torch.tensor([[0.5, -3.0, 1.0, 2.0]]), 2).tolist()
        [[0.0, -3.0, 0.0, 2.0]]
    """
    index = z.abs().topk(n_nonzero, dim=-1).indices
    return torch.zeros_like(z).scatter(-1, index, z.gather(-1, index))


def hard_threshold(z: Tensor, threshold: float) -> Tensor:
    """``z · 1[|z| > t]``, the proximal operator of ``(t²/2) ||·||₀``.

    Example:
        >>> hard_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]), 1.0).tolist()
        [-2.0, -0.0, 0.0, 0.0, 2.0]
    """
    return z * (z.abs() > threshold)


def l0_energy(
    y: Tensor, codes: Tensor, dictionary: Tensor, lam: float = 0.0, tol: float = 0.0
) -> Tensor:
    """``E(y, z) = ½ ||y - zW||² + λ ||z||₀`` per sample ``(N,)``; ``|z_k| > tol`` counts."""
    residual = y - codes @ dictionary
    return 0.5 * residual.pow(2).sum(-1) + lam * (codes.abs() > tol).sum(-1).to(y.dtype)


@dataclass
class HardThresholdCodes:
    """What :func:`iterative_hard_thresholding` returns.

    Attributes:
        codes: ``(N, K)`` codes, at most ``k`` nonzeros per row (constrained form).
        n_iter: Iterations run.
        converged: Whether every code stopped changing (relative change ``≤ tol``).
        energy: ``(N,)`` energy of each code.
        history: Mean energy after each iteration (when asked for), else empty.
    """

    codes: Tensor
    n_iter: int
    converged: bool
    energy: Tensor
    history: list[float] = field(default_factory=list)


STEPS = ("fixed", "normalized")

_SHRINK = 2.0 / 0.99  # κ / (1 - c) of normalized IHT, with κ = 2 and c = 0.01 [2]
_MAX_SHRINKS = 60


def _ratio(numerator: Tensor, denominator: Tensor, if_zero: float) -> Tensor:
    """``numerator / denominator`` where the denominator is positive, ``if_zero`` elsewhere."""
    positive = denominator > 0
    safe = torch.where(positive, denominator, torch.ones_like(denominator))
    return torch.where(positive, numerator / safe, torch.full_like(numerator, if_zero))


def _normalized_step(codes: Tensor, gradient: Tensor, gram: Tensor, n_nonzero: int) -> Tensor:
    """One normalized-IHT update [2] of each row: the steepest step on the current support,
    shrunk until the step is safe wherever the support changes (so the energy cannot rise).

    ``μ = ||g_Γ||² / ||g_Γ W||²`` on the support ``Γ`` of ``z`` (of ``H_k(g)`` while
    ``z = 0``); the new support is accepted if unchanged or if
    ``μ ≤ (1 - c) ||z' - z||² / ||(z' - z) W||²``; otherwise ``μ ← μ (1 - c)/κ`` and retry.
    """
    support = codes != 0
    empty = ~support.any(-1, keepdim=True)
    support = torch.where(empty, keep_largest(gradient, n_nonzero) != 0, support)
    restricted = gradient * support
    curvature = ((restricted @ gram) * restricted).sum(-1, keepdim=True)
    mu = _ratio(restricted.pow(2).sum(-1, keepdim=True), curvature, 0.0)
    new = keep_largest(codes + mu * gradient, n_nonzero)
    for _ in range(_MAX_SHRINKS):
        delta = new - codes
        moved = ((delta @ gram) * delta).sum(-1, keepdim=True)
        safe = 0.99 * _ratio(delta.pow(2).sum(-1, keepdim=True), moved, math.inf)
        bad = ((new != 0) != support).any(-1, keepdim=True) & (mu > safe) & ~empty
        if not bool(bad.any()):
            break
        mu = torch.where(bad, mu / _SHRINK, mu)
        new = torch.where(bad, keep_largest(codes + mu * gradient, n_nonzero), new)
    return new


def iterative_hard_thresholding(
    y: Tensor,
    dictionary: Tensor,
    n_nonzero: int | None = None,
    lam: float | None = None,
    max_iter: int = 500,
    tol: float = 1e-7,
    init: Tensor | None = None,
    step: str | None = None,
    record_history: bool = False,
) -> HardThresholdCodes:
    """IHT [0, 1]: ``z ← H(z + μ (y - zW)Wᵀ)``, batched over the rows of ``y``.

    Give exactly one of ``n_nonzero`` (``||z||₀ ≤ k``) and ``lam`` (``+ λ||z||₀``). The step
    is ``μ = 1/L`` (``"fixed"``, the only choice for ``lam``) or, for ``n_nonzero``, the
    normalized step of [2] (``"normalized"``, the default there): the exact line-search step
    along the gradient restricted to the current support, shrunk when the support changes
    until the energy provably does not increase. It escapes the poor local minima that the
    conservative ``1/L`` falls into on overcomplete dictionaries.

    [2] Blumensath, Davies, Normalized Iterative Hard Thresholding: Guaranteed Stability and
        Performance, IEEE Journal of Selected Topics in Signal Processing 2010.

    Args:
        y: Samples ``(N, D)``.
        dictionary: Atoms ``(K, D)``.
        n_nonzero: The sparsity budget ``k`` (``1 ≤ k ≤ K``).
        lam: The L0 penalty ``λ ≥ 0``.
        max_iter: Most iterations.
        tol: Stop when every code's change is at most ``tol`` times its norm.
        init: Starting codes ``(N, K)``; zeros by default.
        step: ``"normalized"`` or ``"fixed"`` (default: normalized for ``n_nonzero``, fixed
            for ``lam``).
        record_history: Record the mean energy after each iteration.

    Returns:
        :class:`HardThresholdCodes`.

    Raises:
        ValueError: If both or neither of ``n_nonzero`` and ``lam`` are given, on mismatched
            shapes, an unknown ``step`` or out-of-range settings.

    Example:
        >>> W = torch.eye(3)  # orthonormal: keep the k largest entries of y
        >>> iterative_hard_thresholding(torch.tensor([[2.0, -0.5, 1.5]]), W, n_nonzero=2).codes
        tensor([[2.0000, 0.0000, 1.5000]])
    """
    check_dictionary(dictionary, y)
    if (n_nonzero is None) == (lam is None):
        raise ValueError(
            "give exactly one of n_nonzero (the budget ||z||₀ ≤ k) and lam (the penalty "
            f"λ||z||₀), got n_nonzero={n_nonzero!r} and lam={lam!r}"
        )
    step = ("normalized" if lam is None else "fixed") if step is None else step
    check_choice(step, STEPS, "step")
    if n_nonzero is not None:
        check_int(n_nonzero, "n_nonzero")
        if n_nonzero > len(dictionary):
            raise ValueError(
                f"n_nonzero must be at most the number of atoms K={len(dictionary)}, "
                f"got {n_nonzero}"
            )
    if lam is not None:
        check_real(lam, "lam (the L0 penalty λ)")
        if step == "normalized":
            raise ValueError("the normalized step needs n_nonzero; use step='fixed' with lam")
    check_int(max_iter, "max_iter")
    check_real(tol, "tol")
    k = len(dictionary)
    codes = torch.zeros(len(y), k, dtype=y.dtype, device=y.device) if init is None else init
    codes = codes.to(dtype=y.dtype, device=y.device)
    if codes.shape != (len(y), k):
        raise ValueError(f"init codes must have shape ({len(y)}, {k}), got {tuple(codes.shape)}")
    mu = gradient_step(dictionary)
    # Gram form: c - zG with G = WWᵀ, c = yWᵀ is the negative gradient of ½||y - zW||².
    gram, correlation = dictionary @ dictionary.T, y @ dictionary.T

    budget = k if n_nonzero is None else n_nonzero
    threshold = 0.0 if lam is None else math.sqrt(2.0 * lam * mu)

    def update(z: Tensor) -> Tensor:
        gradient = correlation - z @ gram
        if lam is not None:
            return hard_threshold(z + mu * gradient, threshold)
        if step == "normalized":
            return _normalized_step(z, gradient, gram, budget)
        return keep_largest(z + mu * gradient, budget)

    penalty = 0.0 if lam is None else lam
    history: list[float] = []
    converged, n_iter = False, 0
    while not converged and n_iter < max_iter:
        n_iter += 1
        new = update(codes)
        change = (new - codes).norm(dim=-1)
        codes = new
        if record_history:
            history.append(float(l0_energy(y, codes, dictionary, penalty).mean()))
        converged = bool((change <= tol * codes.norm(dim=-1)).all())
    energy = l0_energy(y, codes, dictionary, penalty)
    return HardThresholdCodes(codes, n_iter, converged, energy, history)
