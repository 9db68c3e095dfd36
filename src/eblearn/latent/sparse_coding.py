"""Sparse coding: a latent energy whose regularizer limits the volume of low energy.

Energy: ``E(y, z) = ½ ||y - Wz||² + λ ||z||₁`` with ``W`` the ``(D, K)`` dictionary whose
columns are the atoms. Here (as in scikit-learn) the dictionary is stored as its transpose
``(K, D)``, one atom per row, and codes are rows: ``E(y, z) = ½ ||y - z·W||² + λ ||z||₁``.
Free energy: ``F(y) = min_z E(y, z)``. Inference: the convex minimization over ``z`` by
proximal gradient descent, ISTA [0] (``z ← shrink(z - ∇/L, λ/L)``) or its accelerated
version FISTA [1], or by over-relaxed ADMM [3] with exact active-set polishing
(:func:`admm`, the fastest on overcomplete dictionaries, its steps in bfloat16 where that is
native), batched over samples.
Strategy: regularized; the L1 term makes codes sparse, so only unions of low-dimensional
subspaces spanned by few atoms have low energy.

ISTA and FISTA work on the Gram form ``½ zᵀGz - cᵀz + λ||z||₁`` with ``G = WWᵀ`` ``(K, K)``
and ``c = yWᵀ`` ``(N, K)``, so an iteration is one ``(N, K) × (K, K)`` product. They stop
when every sample's duality gap is at most ``tol · ||y||²`` (the stopping rule of
scikit-learn's coordinate descent); converged samples leave the working set.

[0] Daubechies, Defrise, De Mol, An iterative thresholding algorithm for linear inverse
    problems with a sparsity constraint, 2004, https://arxiv.org/abs/math/0307152
[1] Beck, Teboulle, A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse
    Problems, 2009, https://doi.org/10.1137/080716542
[2] O'Donoghue, Candès, Adaptive Restart for Accelerated Gradient Schemes, 2015,
    https://arxiv.org/abs/1204.3982
[3] Boyd, Parikh, Chu, Peleato, Eckstein, Distributed Optimization and Statistical Learning
    via the Alternating Direction Method of Multipliers, 2011,
    https://doi.org/10.1561/2200000016
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from eblearn._validate import check_choice
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import TorchEstimator, as_codes, as_data, check_int, check_real
from eblearn.latent._parallel import row_jobs, solve_row_blocks
from eblearn.latent.active_set import support_codes

ALGORITHMS = ("admm", "fista", "ista")


def soft_threshold(x: Tensor, threshold: Tensor | float) -> Tensor:
    """The shrinkage ``sign(x) · max(|x| - t, 0)``, the proximal operator of ``t||·||₁``.

    Example:
        >>> soft_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]), 1.0).tolist()
        [-1.0, -0.0, 0.0, 0.0, 1.0]
    """
    return torch.sign(x) * torch.relu(x.abs() - threshold)


def check_dictionary(dictionary: Tensor, y: Tensor) -> None:
    """Raises ``ValueError`` unless ``dictionary`` is ``(K, D)`` with ``y``'s ``D``."""
    if dictionary.ndim != 2:
        raise ValueError(
            f"dictionary must have shape (K, D) (one atom per row), got {tuple(dictionary.shape)}"
        )
    if dictionary.shape[1] != y.shape[-1]:
        raise ValueError(
            f"dictionary atoms have {dictionary.shape[1]} features but y has {y.shape[-1]}"
        )


def sparse_coding_energy(y: Tensor, codes: Tensor, dictionary: Tensor, lam: float) -> Tensor:
    """``E(y, z) = ½ ||y - z·W||² + λ ||z||₁`` per sample.

    Args:
        y: Samples ``(N, D)``.
        codes: Codes ``(N, K)``.
        dictionary: Atoms ``(K, D)``.
        lam: Sparsity weight ``λ``.

    Returns:
        Tensor of shape ``(N,)``.

    Example:
        >>> W = torch.eye(2)
        >>> sparse_coding_energy(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.0]]), W, 1.0)
        tensor([0.6250])
    """
    residual = y - codes @ dictionary
    return 0.5 * residual.pow(2).sum(-1) + lam * codes.abs().sum(-1)


def lasso_duality_gap(y: Tensor, codes: Tensor, dictionary: Tensor, lam: float) -> Tensor:
    """Duality gap of the codes for ``min_z ½||y - zW||² + λ||z||₁``, per sample ``(N,)``.

    With the residual ``r = y - zW``, the dual point ``θ = s·r``, ``s = min(1, λ/||rWᵀ||∞)``
    is feasible (``||θWᵀ||∞ ≤ λ``) and the gap ``P(z) - (θ·y - ½||θ||²)`` bounds the
    distance of ``E(y, z)`` to the minimum: it is zero exactly at the optimum.
    """
    return _residual_gap(y, codes, dictionary, lam)[0]


def _gap(
    y_sq: Tensor, correlation: Tensor, codes: Tensor, codes_gram: Tensor, lam: float
) -> Tensor:
    """The duality gap from the Gram form; ``codes_gram = z·G``."""
    code_dot_c = (codes * correlation).sum(-1)
    residual_sq = (y_sq - 2 * code_dot_c + (codes * codes_gram).sum(-1)).clamp_min(0.0)
    primal = 0.5 * residual_sq + lam * codes.abs().sum(-1)
    dual_direction = (correlation - codes_gram).abs().amax(-1)  # ||r Wᵀ||∞
    scale = torch.where(
        dual_direction > lam, lam / dual_direction.clamp_min(1e-30), torch.ones_like(dual_direction)
    )
    dual = scale * (y_sq - code_dot_c) - 0.5 * scale.pow(2) * residual_sq
    return primal - dual


@dataclass
class SparseCodes:
    """What :func:`ista` and :func:`fista` return.

    Attributes:
        codes: ``(N, K)`` codes.
        n_iter: Iterations run (the most any sample needed).
        gap: ``(N,)`` duality gap of each sample's code at its last check.
        converged: Whether every sample reached the tolerance.
        history: Mean energy after each iteration (when asked for), else empty.
    """

    codes: Tensor
    n_iter: int
    gap: Tensor
    converged: bool
    history: list[float] = field(default_factory=list)


def lipschitz_constant(dictionary: Tensor) -> float:
    """``L = ||WWᵀ||₂``, the largest eigenvalue of the Gram matrix (the gradient's Lipschitz
    constant)."""
    gram = dictionary @ dictionary.T
    return float(torch.linalg.eigvalsh(gram.double()).max())


def gradient_step(dictionary: Tensor) -> float:
    """The proximal-gradient step ``1/L`` (:func:`lipschitz_constant`), capped at the largest
    number of the dictionary's dtype.

    An all-zero dictionary has ``L = 0``: the smooth part ``½||y - zW||²`` is then constant,
    any step is valid, and the step is 1, so the iterations shrink the codes to the exact
    minimizer ``z = 0`` for ``λ > 0`` (with ``λ = 0`` every code is a minimizer, and the
    start is kept).

    Example:
        >>> gradient_step(2 * torch.eye(3)), gradient_step(torch.zeros(3, 2))
        (0.25, 1.0)
    """
    lipschitz = lipschitz_constant(dictionary)
    if lipschitz <= 0:
        return 1.0
    return min(1.0 / lipschitz, torch.finfo(dictionary.dtype).max)


def _gram_product(codes: Tensor, gram: Tensor) -> Tensor:
    """``z·G`` for a shared ``(K, K)`` or per-sample ``(N, K, K)`` Gram matrix."""
    if gram.ndim == 2:
        return codes @ gram
    return torch.bmm(codes[:, None, :], gram)[:, 0]


def _solve_gram_form(
    gram: Tensor,
    correlation: Tensor,
    y_sq: Tensor,
    lam: float,
    step: Tensor,
    codes: Tensor,
    max_iter: int,
    tol: float | Tensor,
    accelerated: bool,
    restart: bool,
    check_every: int,
    on_iteration: Callable[[Tensor, Tensor], None] | None = None,
) -> tuple[Tensor, Tensor, int]:
    """Minimizes ``½zᵀGz - cᵀz + λ||z||₁`` for each row by ISTA or FISTA.

    Args:
        gram: ``(K, K)`` shared or ``(N, K, K)`` per sample.
        correlation: ``c`` ``(N, K)``.
        y_sq: ``||y||²`` ``(N,)`` (for the duality gap).
        lam: ``λ``.
        step: ``1/L`` ``(N, 1)`` (or ``(1, 1)``), at most the inverse Lipschitz constant.
        codes: Starting codes ``(N, K)``.
        max_iter, accelerated, restart, check_every: As :func:`fista`.
        tol: Relative gap tolerance, one for all or ``(N,)`` per sample; 0 runs ``max_iter``.
        on_iteration: Called with the active rows and their codes after each iteration.

    Returns:
        The codes ``(N, K)``, the gaps at the last check ``(N,)`` and the iterations run.
    """
    n = len(correlation)
    tolerance = torch.as_tensor(tol, dtype=codes.dtype, device=codes.device).expand(n)
    check = bool((tolerance > 0).any())
    codes_all = codes.clone()
    gap_all = torch.full((n,), math.inf, dtype=codes.dtype, device=codes.device)
    active = torch.arange(n, device=codes.device)
    # One fused step: z - (1/L)(zG - c) = z·S + c/L with S = I - G/L.
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    shared = gram.ndim == 2
    iteration = eye - step[0, 0] * gram if shared else eye - step[:, :, None] * gram
    drive = step * correlation  # (N, K)
    threshold = lam * step  # (N, 1)
    momentum = torch.ones(n, 1, dtype=codes.dtype, device=codes.device)  # t_k per sample
    point = codes_all.clone()  # the extrapolated point x_k of FISTA
    codes = codes_all.clone()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if shared:
            moved = torch.addmm(drive, point, iteration)
        else:
            moved = torch.baddbmm(drive[:, None, :], point[:, None, :], iteration)[:, 0]
        new_codes = moved - moved.clamp(-threshold, threshold)  # shrink(·, λ/L)
        if accelerated:
            change = new_codes - codes
            if restart:  # restart where the momentum points uphill [2]
                uphill = torch.linalg.vecdot(point - new_codes, change)[:, None] > 0
                momentum = torch.where(uphill, torch.ones_like(momentum), momentum)
            next_momentum = 0.5 * (1 + torch.sqrt(1 + 4 * momentum * momentum))
            point = torch.addcmul(new_codes, (momentum - 1) / next_momentum, change)
            momentum = next_momentum
        else:
            point = new_codes
        codes = new_codes
        if on_iteration is not None:
            on_iteration(active, codes)
        if check and (n_iter % check_every == 0 or n_iter == max_iter):
            gap = _gap(y_sq, correlation, codes, _gram_product(codes, gram), lam)
            done = gap <= tolerance * y_sq
            gap_all[active] = gap
            codes_all[active] = codes
            if bool(done.all()):
                break
            if bool(done.any()):  # shrink the working set to the unconverged samples
                keep = ~done
                active, codes, point, momentum = (
                    active[keep],
                    codes[keep],
                    point[keep],
                    momentum[keep],
                )
                correlation, y_sq, drive = correlation[keep], y_sq[keep], drive[keep]
                tolerance = tolerance[keep]
                if not shared:
                    gram, iteration = gram[keep], iteration[keep]
                if step.shape[0] > 1:
                    step, threshold = step[keep], threshold[keep]
    codes_all[active] = codes
    if not check:
        gap_all = _gap(y_sq, correlation, codes_all, _gram_product(codes_all, gram), lam)
    return codes_all, gap_all, n_iter


def _start_codes(init: Tensor | None, y: Tensor, k: int) -> Tensor:
    if init is None:
        return torch.zeros(len(y), k, dtype=y.dtype, device=y.device)
    if init.shape != (len(y), k):
        raise ValueError(f"init codes must have shape ({len(y)}, {k}), got {tuple(init.shape)}")
    return init.to(dtype=y.dtype, device=y.device)


def _checked_start(
    y: Tensor,
    dictionary: Tensor,
    lam: float,
    max_iter: int,
    tol: float,
    check_every: int,
    init: Tensor | None,
) -> Tensor:
    """Checks the input every solver here shares; returns the start codes ``(N, K)``."""
    check_dictionary(dictionary, y)
    check_real(lam, "lam (the sparsity weight λ)")
    check_int(max_iter, "max_iter")
    check_real(tol, "tol")
    check_int(check_every, "check_every")
    return _start_codes(init, y, len(dictionary))


def _proximal_gradient(
    y: Tensor,
    dictionary: Tensor,
    lam: float,
    max_iter: int,
    tol: float,
    init: Tensor | None,
    accelerated: bool,
    restart: bool,
    check_every: int,
    record_history: bool,
) -> SparseCodes:
    """ISTA (``accelerated=False``) or FISTA with adaptive restart, batched with early exit."""
    codes = _checked_start(y, dictionary, lam, max_iter, tol, check_every, init)
    # The Gram form ½zᵀGz - cᵀz + λ||z||₁ (the energy minus ½||y||²): G = WWᵀ, c = yWᵀ.
    gram, correlation, y_sq = dictionary @ dictionary.T, y @ dictionary.T, y.pow(2).sum(-1)
    step = torch.full((1, 1), gradient_step(dictionary), dtype=y.dtype, device=y.device)
    history: list[float] = []
    on_iteration = None
    if record_history:
        tracked = codes.clone()

        def on_iteration(active: Tensor, current: Tensor) -> None:
            tracked[active] = current
            history.append(float(sparse_coding_energy(y, tracked, dictionary, lam).mean()))

    codes, gap, n_iter = _solve_gram_form(
        gram,
        correlation,
        y_sq,
        lam,
        step,
        codes,
        max_iter,
        tol,
        accelerated,
        restart,
        check_every,
        on_iteration,
    )
    converged = tol > 0 and bool((gap <= tol * y_sq).all())
    return SparseCodes(codes, n_iter, gap, converged, history)


def ista(
    y: Tensor,
    dictionary: Tensor,
    lam: float,
    max_iter: int = 1000,
    tol: float = 1e-4,
    init: Tensor | None = None,
    check_every: int = 10,
    record_history: bool = False,
) -> SparseCodes:
    """ISTA: ``z ← shrink(z - (zG - c)/L, λ/L)``, batched over the rows of ``y``.

    Args:
        y: Samples ``(N, D)``.
        dictionary: Atoms ``(K, D)``.
        lam: Sparsity weight ``λ``.
        max_iter: Most iterations.
        tol: Stop when every duality gap is at most ``tol · ||y||²``; 0 runs ``max_iter``.
        init: Starting codes ``(N, K)`` (warm start); zeros by default.
        check_every: Iterations between gap checks.
        record_history: Record the mean energy after each iteration (slower).

    Returns:
        :class:`SparseCodes`.

    Raises:
        ValueError: On mismatched shapes, or a ``lam`` or ``tol`` that is negative, NaN or
            infinite.

    Example:
        >>> W = torch.eye(3)  # an orthonormal dictionary: the code is shrink(y, λ)
        >>> ista(torch.tensor([[2.0, -0.5, 1.5]]), W, lam=1.0).codes.tolist()
        [[1.0, 0.0, 0.5]]
    """
    return _proximal_gradient(
        y, dictionary, lam, max_iter, tol, init, False, False, check_every, record_history
    )


def fista(
    y: Tensor,
    dictionary: Tensor,
    lam: float,
    max_iter: int = 1000,
    tol: float = 1e-4,
    init: Tensor | None = None,
    restart: bool = True,
    check_every: int = 10,
    record_history: bool = False,
) -> SparseCodes:
    """FISTA: ISTA steps taken from an extrapolated point, with adaptive restart [1, 2].

    ``z_k = shrink(x_k - (x_k G - c)/L, λ/L)``, ``t_{k+1} = (1 + sqrt(1 + 4t_k²))/2``,
    ``x_{k+1} = z_k + (t_k - 1)/t_{k+1} · (z_k - z_{k-1})``; with ``restart``, a sample's
    momentum is reset when ``(x_k - z_k)·(z_k - z_{k-1}) > 0`` (the step went uphill).

    Args: as :func:`ista`, plus ``restart``.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> W = torch.nn.functional.normalize(torch.randn(32, 16), dim=1)
        >>> y = torch.randn(100, 16)
        >>> result = fista(y, W, lam=0.1)
        >>> result.converged, bool((result.gap <= 1e-4 * y.pow(2).sum(1)).all())
        (True, True)
    """
    return _proximal_gradient(
        y, dictionary, lam, max_iter, tol, init, True, restart, check_every, record_history
    )


def _admm_operator(dictionary: Tensor, rho: float) -> Tensor:
    """``B = (ρI + WᵀW)⁻¹Wᵀ`` ``(D, K)``, for ADMM's x-update ``x = w + (y - wW)B``.

    The x-update solves ``x(G + ρI) = c + ρw`` with ``c = yWᵀ``; by the push-through
    identity ``B(G + ρI) = Wᵀ``, so ``(w + (y - wW)B)(G + ρI) = wG + ρw + (y - wW)Wᵀ
    = c + ρw``: two thin ``(N, K) × (K, D)`` products per step and a ``D × D`` solve once,
    instead of a ``K × K`` inverse.
    """
    w64 = dictionary.double()
    inner = rho * torch.eye(w64.shape[1], dtype=torch.float64, device=w64.device) + w64.T @ w64
    return torch.linalg.solve(inner, w64.T).to(dictionary.dtype)


def admm(
    y: Tensor,
    dictionary: Tensor,
    lam: float,
    max_iter: int = 1000,
    tol: float = 1e-4,
    init: Tensor | None = None,
    rho: float | None = None,
    relaxation: float = 1.8,
    check_every: int = 8,
    polish: bool = True,
    low_precision: bool | None = None,
    n_jobs: int | None = None,
) -> SparseCodes:
    """Over-relaxed ADMM with active-set polishing, batched over the rows of ``y``.

    Splits ``min ½zᵀGz - cᵀz + λ||v||₁`` s.t. ``z = v`` [3]: with the scaled dual ``u``,
    ``x = (c + ρ(v - u))(G + ρI)⁻¹``, ``x̂ = αx + (1 - α)v``, ``v = shrink(x̂ + u, λ/ρ)``,
    ``u = u + x̂ - v``. By the push-through identity the x-update is
    ``x = w + (y - wW)B`` with ``w = v - u`` and ``B = (ρI + WᵀW)⁻¹Wᵀ`` ``(D, K)``, shared by
    all samples: a step is two thin products. The support ``S`` settles long before the
    values converge on an ill-conditioned ``G_SS``; so at each check, a sample whose support
    did not change since the previous check gets the exact code on that support
    (``G_SS z_S = c_S - λσ_S``, :func:`~eblearn.latent.active_set.support_codes`), followed by
    ``POLISH_ROUNDS`` primal-dual active-set corrections (drop atoms whose sign flipped, add
    atoms with ``|c_j - (zG)_j| > λ``). A sample stops when the duality gap of a polished
    code, or of its ADMM iterate (checked every ``RAW_GAP_EVERY`` checks when polishing), is
    at most ``tol · ||y||²`` (the rule of :func:`fista`).

    Since the steps only have to find supports, they may run in bfloat16
    (``low_precision``): the polished codes, the gaps and so the stopping rule stay in the
    input's precision, and the last ``FULL_PRECISION_BELOW`` of the samples (or all of them
    after ``LOW_ITERATIONS`` steps) go on in the input's precision, so that ADMM alone
    could still converge.

    Args:
        y: Samples ``(N, D)``.
        dictionary: Atoms ``(K, D)``.
        lam: Sparsity weight ``λ``.
        max_iter: Most iterations.
        tol: Stop when every duality gap is at most ``tol · ||y||²``; 0 runs ``max_iter``.
        init: Starting codes ``(N, K)`` (warm start); zeros by default.
        rho: Starting ADMM penalty ``ρ``; ``None`` uses the mean squared atom norm
            ``tr(G)/K``. At each check, ``ρ`` is doubled or halved when the primal and dual
            residuals of the last step differ by more than ``BALANCE`` (residual balancing).
        relaxation: Over-relaxation ``α`` in ``(0, 2)``.
        check_every: Iterations between checks (and polishing).
        polish: Polish settled supports by the exact KKT solve (much faster on
            ill-conditioned dictionaries; the stopping rule is the same either way).
        low_precision: Take the ADMM steps in bfloat16 (with ``polish`` and ``tol > 0``
            only); ``None`` does so for float32 input on CUDA or on a CPU with native
            bfloat16 (AVX-512 BF16).
        n_jobs: Solve this many contiguous blocks of rows in parallel threads (one intra-op
            thread each), as scikit-learn's ``n_jobs``; ``None`` uses one block per torch
            thread on CPU when each has at least ``PARALLEL_ROWS`` rows.

    Returns:
        :class:`SparseCodes` (``history`` is empty).

    Raises:
        ValueError: On mismatched shapes, a ``lam`` or ``tol`` that is negative, NaN or
            infinite, ``rho <= 0`` or ``relaxation`` outside ``(0, 2)``.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> W = torch.nn.functional.normalize(torch.randn(32, 16), dim=1)
        >>> y = torch.randn(100, 16)
        >>> result = admm(y, W, lam=0.1)
        >>> result.converged, bool((result.gap <= 1e-4 * y.pow(2).sum(1)).all())
        (True, True)
    """
    codes = _checked_start(y, dictionary, lam, max_iter, tol, check_every, init)
    if not 0.0 < relaxation < 2.0:
        raise ValueError(f"relaxation (α) must lie in (0, 2), got {relaxation!r}")
    if rho is not None and not rho > 0:
        raise ValueError(f"rho (the ADMM penalty) must be > 0, got {rho!r}")
    if n_jobs is not None:
        check_int(n_jobs, "n_jobs")
    jobs = row_jobs(n_jobs, y)
    if jobs > 1:  # each block is the same problem on fewer rows
        parts = solve_row_blocks(
            lambda rows, start: admm(
                rows,
                dictionary,
                lam,
                max_iter,
                tol,
                start,
                rho,
                relaxation,
                check_every,
                polish,
                low_precision,
                n_jobs=1,
            ),
            y,
            codes,  # the zeros of a cold start split as well as given codes
            jobs,
        )
        return SparseCodes(
            torch.cat([part.codes for part in parts]),
            max(part.n_iter for part in parts),
            torch.cat([part.gap for part in parts]),
            all(part.converged for part in parts),
        )
    gram, y_sq = dictionary @ dictionary.T, y.pow(2).sum(-1)  # after the split (blocks: their own)
    n = len(y)
    if rho is None:
        rho = float(gram.diagonal().mean()) or 1.0
    if low_precision is None:
        low_precision = y.dtype == torch.float32 and _fast_bfloat16(y.device)
    low_precision = low_precision and polish and tol > 0  # only polished codes can stop
    work = torch.bfloat16 if low_precision else y.dtype
    operator = _admm_operator(dictionary, rho)
    alpha, threshold = relaxation, lam / rho
    check = tol > 0
    y_sq_all = y_sq
    codes_all = codes.clone()
    gap_all = torch.full((n,), math.inf, dtype=y.dtype, device=y.device)
    active = torch.arange(n, device=y.device)
    # Warm start: the dual that makes a given optimal code a fixed point.
    u = (torch.addmm(y, codes, dictionary, alpha=-1.0) @ dictionary.T / rho).clamp(
        -threshold, threshold
    )
    v, u = codes.to(work), u.to(work)
    y_work, atoms_work, operator_work = y.to(work), dictionary.to(work), operator.to(work)
    previous: Tensor | None = None  # each row's support at the previous check, packed
    tried = torch.zeros(n, dtype=torch.bool, device=y.device)  # polish failed on this support
    n_iter = n_checks = 0
    for n_iter in range(1, max_iter + 1):
        if work != y.dtype and (len(active) < FULL_PRECISION_BELOW * n or n_iter > LOW_ITERATIONS):
            work = y.dtype  # the last samples: iterate in full precision until they converge
            v, u, y_work = v.to(work), u.to(work), y
            atoms_work, operator_work = dictionary, operator
        v_old, u_old = v, u
        # t = x̂ + u with x̂ = αx + (1 - α)v and x = w + (y - wW)B, w = v - u:
        # t = v + (1 - α)u + α(y - wW)B, with y - wW = y - vW + uW  (N, D)
        projected = torch.addmm(y_work, v, atoms_work, alpha=-1.0).addmm_(u, atoms_work)
        t = torch.add(v, u, alpha=1 - alpha).addmm_(projected, operator_work, alpha=alpha)
        u = t.clamp(-threshold, threshold)  # u + x̂ - v = t - shrink(t)
        v = t.sub_(u)  # shrink(t, λ/ρ)
        if not check or (n_iter % check_every and n_iter != max_iter):
            continue
        if not polish or n_checks % RAW_GAP_EVERY == 0:  # the ADMM iterate's own gap
            code = v.to(y.dtype)
            gap = _residual_gap(y, code, dictionary, lam)[0]
            done = gap <= tol * y_sq
            finished = done.nonzero()[:, 0]
            gap_all[active[finished]] = gap[finished]
            codes_all[active[finished]] = code[finished]
        else:
            done = torch.zeros(len(active), dtype=torch.bool, device=y.device)
        n_checks += 1
        if polish:
            support = v != 0
            packed = _packed(support)
            same = (packed == previous).all(1) if previous is not None else None
            settled = torch.zeros_like(done) if same is None else same
            tried &= settled  # a changed support is worth a new try
            previous = packed
            rows = (settled & ~done & ~tried).nonzero()[:, 0]
            if len(rows):
                y_rows = y.index_select(0, rows)
                polished, polished_gap, accepted = _polish(
                    y_rows,
                    y_rows @ dictionary.T,
                    y_sq.index_select(0, rows),
                    support.index_select(0, rows),
                    v.index_select(0, rows).to(y.dtype),
                    dictionary,
                    gram,
                    lam,
                    tol,
                )
                good = rows[accepted]
                codes_all[active[good]] = polished[accepted]
                gap_all[active[good]] = polished_gap[accepted]
                done[good] = True
                tried[rows[~accepted]] = True
        if bool(done.all()):
            active = active[:0]
            break
        # Residual balancing [3, §3.4.1]: the primal residual x̂ - v is the change of u, the
        # dual residual ρ times the change of v.
        primal, dual = _norm(u - u_old), rho * _norm(v - v_old)
        if primal > BALANCE * dual or dual > BALANCE * primal:
            new_rho = rho * 2.0 if primal > dual else rho / 2.0
            u = u * (rho / new_rho)  # the scaled dual u = y/ρ
            rho, threshold = new_rho, lam / new_rho
            operator = _admm_operator(dictionary, rho)
            operator_work = operator.to(work)
        if bool(done.any()):  # shrink the working set to the unconverged samples
            keep = (~done).nonzero()[:, 0]
            active, v, u, y, y_sq, tried = (
                tensor.index_select(0, keep) for tensor in (active, v, u, y, y_sq, tried)
            )
            if previous is not None:
                previous = previous.index_select(0, keep)
            y_work = y if y_work.dtype == y.dtype else y.to(work)
    if len(active):  # unconverged (or unchecked) samples keep their last ADMM iterate
        code = v.to(y.dtype)
        codes_all[active] = code
        gap_all[active] = _residual_gap(y, code, dictionary, lam)[0]
    converged = check and bool((gap_all <= tol * y_sq_all).all())
    return SparseCodes(codes_all, n_iter, gap_all, converged)


def _packed(support: Tensor) -> Tensor:
    """``(N, K)`` booleans viewed as ``(N, K/8)`` 64-bit words (when ``K`` allows), so that
    comparing two supports reads 8 times fewer elements."""
    if support.shape[1] % 8 or not support.is_contiguous():
        return support
    return support.view(torch.uint8).view(torch.int64)


def _norm(x: Tensor) -> float:
    """The Euclidean norm (bfloat16 sums accumulate in float32 without a float32 copy)."""
    return float(torch.linalg.vector_norm(x))


def _fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 arithmetic is native (CUDA, or a CPU with AVX-512 BF16)."""
    if device.type == "cuda":
        return True
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return device.type == "cpu" and probe is not None and bool(probe())


BALANCE = 10.0
"""ADMM doubles (halves) ρ when the primal residual exceeds the dual one (or the reverse)
by this factor."""
POLISH_ROUNDS = 2
"""Primal-dual active-set corrections after the first exact solve on a settled support."""
RAW_GAP_EVERY = 3
"""With polishing, the duality gap of the ADMM iterate itself is checked every this many
checks (polished codes end almost every sample)."""
FULL_PRECISION_BELOW = 0.1
"""bfloat16 iterations switch to the input precision once fewer than this fraction of the
samples remain unconverged ..."""
LOW_ITERATIONS = 50
"""... or after this many iterations."""


def _polish(
    y: Tensor,
    correlation: Tensor,
    y_sq: Tensor,
    support: Tensor,
    codes: Tensor,
    dictionary: Tensor,
    gram: Tensor,
    lam: float,
    tol: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Exact codes on the supports of ``codes`` (with their signs), corrected
    ``POLISH_ROUNDS`` times; returns the codes, their gaps and which rows reached
    ``gap ≤ tol·||y||²``."""
    n = len(correlation)
    signs = codes.sign()
    polished = torch.zeros_like(correlation)
    gaps = torch.full((n,), math.inf, dtype=y_sq.dtype, device=y_sq.device)
    accepted = torch.zeros(n, dtype=torch.bool, device=y_sq.device)
    rows = torch.arange(n, device=y_sq.device)
    for round_ in range(POLISH_ROUNDS + 1):
        candidate, solved = support_codes(gram, correlation, support, signs, lam)
        gap, slopes = _residual_gap(y, candidate, dictionary, lam)
        good = solved & (gap <= tol * y_sq)
        index = good.nonzero()[:, 0]
        polished[rows[index]] = candidate.index_select(0, index)
        gaps[rows[index]] = gap.index_select(0, index)
        accepted[rows[index]] = True
        retry = (solved & ~good).nonzero()[:, 0]
        if round_ == POLISH_ROUNDS or not len(retry):
            break
        # One primal-dual active-set step: drop the atoms whose sign flipped, add the
        # atoms whose correlation with the residual exceeds λ (with that correlation's sign).
        rows, candidate, support, signs, slopes, y, correlation, y_sq = (
            t.index_select(0, retry)
            for t in (rows, candidate, support, signs, slopes, y, correlation, y_sq)
        )
        flipped = support & (candidate.sign() != signs)
        violating = ~support & (slopes.abs() > lam)
        support = (support & ~flipped) | violating
        signs = torch.where(violating, slopes.sign(), signs)
    return polished, gaps, accepted


def _residual_gap(
    y: Tensor, codes: Tensor, dictionary: Tensor, lam: float
) -> tuple[Tensor, Tensor]:
    """The duality gap ``(N,)`` of :func:`lasso_duality_gap` and the residual correlations
    ``r Wᵀ = c - zG`` ``(N, K)``, computed from the residual ``r = y - zW`` (two thin
    products, and no cancellation in ``||r||²``)."""
    residual = torch.addmm(y, codes, dictionary, alpha=-1.0)
    slopes = residual @ dictionary.T
    residual_sq = torch.linalg.vecdot(residual, residual)
    dual_direction = slopes.abs().amax(-1)  # ||r Wᵀ||∞
    scale = torch.where(dual_direction > lam, lam / dual_direction.clamp_min(1e-30), 1.0)
    primal = 0.5 * residual_sq + lam * codes.abs().sum(-1)
    dual = scale * torch.linalg.vecdot(residual, y) - 0.5 * scale.pow(2) * residual_sq
    return primal - dual, slopes


SOLVERS: dict[str, Callable[..., SparseCodes]] = {"admm": admm, "fista": fista, "ista": ista}


class SparseCoder(TorchEstimator):
    """Sparse codes on a fixed dictionary, following scikit-learn's ``SparseCoder``.

    ``transform(X)`` returns ``argmin_z ½||y - zW||² + α||z||₁`` for each row: scikit-learn's
    ``SparseCoder(dictionary, transform_algorithm="lasso_cd", transform_alpha=α)`` minimizes
    the same objective (its ``Lasso`` divides both terms by ``D``, and it divides ``α`` by
    ``D`` to compensate), so ``alpha`` here is its ``transform_alpha``.

    Args:
        dictionary: Atoms ``(K, D)``.
        alpha: Sparsity weight ``λ``.
        algorithm: ``"admm"`` (:func:`admm`, the fastest), ``"fista"`` or ``"ista"``.
        max_iter: Most iterations.
        tol: Duality-gap tolerance relative to ``||y||²``.

    Example:
        >>> coder = SparseCoder(torch.eye(2), alpha=0.5)
        >>> coder.transform(torch.tensor([[1.0, 0.2]]))
        tensor([[0.5000, 0.0000]])
    """

    def __init__(
        self,
        dictionary: Any,
        alpha: float = 1.0,
        algorithm: str = "admm",
        max_iter: int = 1000,
        tol: float = 1e-4,
    ) -> None:
        self.dictionary = dictionary
        self.alpha = alpha
        self.algorithm = algorithm
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: Any = None, y: Any = None) -> SparseCoder:
        """Does nothing (the dictionary is given); returns ``self``."""
        return self

    @property
    def components_(self) -> Tensor:
        """The dictionary ``(K, D)`` as a tensor."""
        return as_data(self.dictionary, "dictionary")

    def _reference(self) -> Tensor:
        return self.components_

    def transform(self, X: Any) -> Tensor:
        """Sparse codes of ``X`` ``(N, D)``, shape ``(N, K)``.

        An all-zero dictionary gives all-zero codes (the exact minimizer for ``alpha > 0``)
        under every algorithm.

        Raises:
            ValueError: On an unknown ``algorithm``; an ``alpha`` or ``tol`` that is negative,
                NaN or infinite; a ``max_iter`` that is not an integer ``>= 1``; or bad data.
        """
        check_choice(self.algorithm, ALGORITHMS, "algorithm")
        check_real(self.alpha, "alpha")
        check_real(self.tol, "tol")
        check_int(self.max_iter, "max_iter")
        x = self._check_input(X)
        return SOLVERS[self.algorithm](
            x, self.components_, self.alpha, max_iter=self.max_iter, tol=self.tol
        ).codes

    def free_energy(self, X: Any) -> Tensor:
        """``F(y) = min_z E(y, z)`` at the inferred codes, shape ``(N,)``."""
        x = self._check_input(X)
        return sparse_coding_energy(x, self.transform(x), self.components_, self.alpha)

    @property
    def latent_dim(self) -> int:
        """``K``, the number of atoms: the size of the code ``z``."""
        return int(self.components_.shape[0])

    def latent_energy(self, X: Any, codes: Any, x: Any = None) -> Tensor:
        """``E(y, z) = ½||y - zW||² + α||z||₁`` for codes ``z`` ``(N, K)``, shape ``(N,)``."""
        check_unconditional(self, x)
        y = self._check_input(X)
        z = as_codes(codes, y, self.latent_dim)
        return sparse_coding_energy(y, z, self.components_.to(y.dtype), self.alpha)

    def energy(self, X: Any, x: Any = None) -> Tensor:
        """``F(y) = min_z E(y, z)``, the lasso objective at the inferred codes, shape ``(N,)``.

        The codes are found without a graph; by the envelope theorem the gradient of ``F``
        with respect to ``y`` is that of ``E`` at the fixed minimizer, so ``F`` stays
        differentiable in ``y``. ``x`` must be ``None`` (an unconditional energy).
        """
        check_unconditional(self, x)
        y = self._check_input(X)
        with torch.no_grad():
            codes = self.transform(y.detach())
        return sparse_coding_energy(y, codes, self.components_.to(y.dtype), self.alpha)
