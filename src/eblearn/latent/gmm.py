"""Gaussian mixture model as an energy: a soft-min over normalized quadratic energies.

Energy of component ``k``: ``E_k(y) = -log π_k + ½ (y - μ_k)ᵀ Σ_k⁻¹ (y - μ_k)
+ ½ log det(2π Σ_k)``, the negative log of its weighted, *normalized* Gaussian. Free energy:
``F_β(y) = -1/β log Σ_k exp(-β E_k(y))``; at ``β = 1`` it is ``-log p(y)`` and at ``β → ∞``
it is ``min_k E_k(y)`` (a K-means with per-cluster metrics). Inference: enumeration of the
components, soft (the responsibilities ``softmax_k(-E_k)``) or hard (``argmin_k E_k``).
Strategy: architectural; each component integrates to its weight, so the total mass of low
energy is fixed. Training: expectation-maximization [0].

[0] Dempster, Laird, Rubin, Maximum likelihood from incomplete data via the EM algorithm,
    1977, https://doi.org/10.1111/j.2517-6161.1977.tb01600.x
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eblearn._validate import check_choice, check_finite
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import (
    TorchEstimator,
    as_data,
    check_int,
    check_real,
    make_generator,
)
from eblearn.latent.kmeans import KMeans

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRECISION_SHAPES = {"full": "(K, D, D)", "tied": "(D, D)", "diag": "(K, D)", "spherical": "(K,)"}
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def precision_cholesky(covariances: Tensor, covariance_type: str) -> Tensor:
    """Factor ``P`` of the precision ``Σ⁻¹ = P Pᵀ`` (upper triangular for full/tied).

    Shapes follow the covariance type: full ``(K, D, D)``, tied ``(D, D)``, diag ``(K, D)``
    (``1/σ``), spherical ``(K,)`` (``1/σ``).

    Raises:
        ValueError: If a covariance is not positive definite (raise ``reg_covar``).
    """
    if covariance_type in ("diag", "spherical"):
        if bool((covariances <= 0).any()):
            raise ValueError(
                "a variance is not positive: the mixture collapsed onto a point; raise "
                "reg_covar or lower n_components"
            )
        return covariances.rsqrt()
    lower, info = torch.linalg.cholesky_ex(covariances)
    if bool((info != 0).any()):
        raise ValueError(
            "a covariance matrix is not positive definite: the mixture collapsed onto a "
            "subspace; raise reg_covar or lower n_components"
        )
    eye = torch.eye(covariances.shape[-1], dtype=covariances.dtype, device=covariances.device)
    eye = eye.expand_as(covariances)
    return torch.linalg.solve_triangular(lower, eye, upper=False).mT


BLOCK_ELEMENTS = 1 << 18
"""Size of a row block's ``(rows, K, D)`` intermediate in the full-covariance E and M steps
(1 MiB in float32): a block stays in cache from the product that writes it to the reduction
that reads it, and memory stays bounded for any ``N``."""


MIN_BLOCK_ROWS = 256
"""Fewest rows per block, so that wide problems (large ``K·D``) still make products worth a call."""


def _row_blocks(n: int, width: int) -> list[slice]:
    """Slices of ``range(n)`` whose ``(rows, width)`` blocks hold about ``BLOCK_ELEMENTS``
    (at least ``MIN_BLOCK_ROWS`` rows)."""
    rows = max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // width)
    return [slice(start, start + rows) for start in range(0, n, rows)]


def _full_mahalanobis(x: Tensor, means: Tensor, prec_chol: Tensor) -> Tensor:
    """``||(x_n - μ_k) P_k||²`` for all pairs, shape ``(N, K)``.

    Per row block, one product ``x [P_1 … P_K] - [μ_1 P_1 … μ_K P_K]`` for all components
    (instead of K thin ones) gives the ``(rows, K, D)`` projections, then their squared norms.
    """
    k, d = means.shape
    stacked = prec_chol.permute(1, 0, 2).reshape(d, k * d)  # [P_1 … P_K], (D, K·D)
    offsets = torch.einsum("kd,kde->ke", means, prec_chol).reshape(1, k * d)  # [μ_k P_k]
    mahalanobis = x.new_empty(len(x), k)
    for rows in _row_blocks(len(x), k * d):
        projected = torch.mm(x[rows], stacked).sub_(offsets)
        mahalanobis[rows] = projected.view(-1, k, d).square_().sum(2)
    return mahalanobis


def _full_scatter(x: Tensor, resp: Tensor, means: Tensor) -> Tensor:
    """``S_k = Σ_n r_nk (x_n - μ_k)(x_n - μ_k)ᵀ``, shape ``(K, D, D)``.

    Each row block adds the Gram matrices ``Uᵀ U`` of ``U_k = √r_k ⊙ (x - μ_k)`` (one batched
    product for all components), so every ``S_k`` is symmetric positive semi-definite as
    computed, with no ``E[xxᵀ] - μμᵀ`` cancellation; the block sums add up in float64.
    """
    k, d = means.shape
    roots = resp.sqrt()
    accumulate = torch.float64 if x.device.type != "mps" else x.dtype
    scatter = torch.zeros(k, d, d, dtype=accumulate, device=x.device)
    for rows in _row_blocks(len(x), k * d):
        scaled = (x[rows][None] - means[:, None, :]).mul_(roots[rows].T[:, :, None])
        scatter += torch.bmm(scaled.mT, scaled)
    return scatter.to(x.dtype)


def normalize(weighted: Tensor) -> tuple[Tensor, Tensor]:
    """``log Σ_k exp(w_nk)`` ``(N,)`` and the responsibilities ``exp(w_nk) / Σ_k exp(w_nk)``.

    One exponential serves both: ``exp(w_nk - max_k w_nk)`` sums to the normalizer and, divided
    by it, gives the responsibilities. The terms below ``√tiny`` of the dtype are set to 0: they
    are lost in every sum (each holds a term equal to 1), while their exponentials and products
    are subnormal numbers, on which x86 arithmetic is many times slower (they made float32 EM
    on 100,000 CIFAR-10 patches 1.3-1.45× slower).
    """
    floor = math.log(torch.finfo(weighted.dtype).tiny) / 2
    top = weighted.amax(1, keepdim=True)
    shifted = weighted - top
    terms = shifted.masked_fill_(shifted < floor, -math.inf).exp_()
    total = terms.sum(1, keepdim=True)
    return (top + total.log()).squeeze(1), terms.div_(total)


def component_log_density(
    x: Tensor,
    means: Tensor,
    prec_chol: Tensor,
    covariance_type: str,
    squares: Tensor | None = None,
) -> Tensor:
    """``log N(x_n; μ_k, Σ_k)`` for all pairs, shape ``(N, K)``.

    Args:
        x: Samples ``(N, D)``.
        means: ``(K, D)``.
        prec_chol: Precision factors from :func:`precision_cholesky`.
        covariance_type: ``full``, ``tied``, ``diag`` or ``spherical``.
        squares: ``x²``, if the caller keeps it (EM does, across iterations); diag and
            spherical use it.
    """
    d = x.shape[1]
    if covariance_type == "full":
        mahalanobis = _full_mahalanobis(x, means, prec_chol)
        log_det = prec_chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)
    elif covariance_type == "tied":
        projected = x @ prec_chol  # (N, D)
        centers = means @ prec_chol  # (K, D)
        mahalanobis = (
            projected.pow(2).sum(1)[:, None]
            - 2 * projected @ centers.T
            + centers.pow(2).sum(1)[None, :]
        ).clamp_min(0.0)
        log_det = prec_chol.diagonal().log().sum().expand(len(means))
    elif covariance_type == "diag":
        squares = x.square() if squares is None else squares
        precision = prec_chol.pow(2)  # (K, D)
        mahalanobis = (
            squares @ precision.T
            - 2 * x @ (means * precision).T
            + (means.pow(2) * precision).sum(1)
        ).clamp_min(0.0)
        log_det = prec_chol.log().sum(1)
    else:
        squares = x.square() if squares is None else squares
        precision = prec_chol.pow(2)  # (K,)
        mahalanobis = (
            squares.sum(1)[:, None] - 2 * x @ means.T + means.pow(2).sum(1)[None, :]
        ).clamp_min(0.0) * precision
        log_det = d * prec_chol.log()
    return -0.5 * (d * math.log(2 * math.pi) + mahalanobis) + log_det


def estimate_covariances(
    x: Tensor,
    resp: Tensor,
    counts: Tensor,
    means: Tensor,
    covariance_type: str,
    reg: float,
    squares: Tensor | None = None,
) -> Tensor:
    """The M-step's covariances from responsibilities ``resp`` ``(N, K)`` (plus ``reg``).

    ``means`` must be the weighted means ``respᵀ x / counts``; ``squares`` is ``x²`` if the
    caller keeps it (diag and spherical use it).
    """
    d = x.shape[1]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    if covariance_type == "full":
        return _full_scatter(x, resp, means) / counts[:, None, None] + reg * eye
    if covariance_type == "tied":
        second = x.T @ x
        between = (counts[:, None] * means).T @ means
        return (second - between) / counts.sum() + reg * eye
    squares = x.square() if squares is None else squares
    second = resp.T @ squares / counts[:, None]  # (K, D)
    diagonal = second - means.square() + reg  # E[x²] - μ²
    return diagonal if covariance_type == "diag" else diagonal.mean(1)


def _precision_to_cholesky(precisions: Tensor, covariance_type: str) -> Tensor:
    """Precision factor ``P`` (``Σ⁻¹ = P Pᵀ``) from given precisions.

    Raises:
        ValueError: If a precision is not positive (diag, spherical) or not symmetric
            positive definite (full, tied); the message names the first such component.
    """
    if covariance_type in ("diag", "spherical"):
        bad = (precisions <= 0).nonzero()
        if len(bad):
            index = tuple(int(i) for i in bad[0])  # (component,) or (component, feature)
            at = ", ".join(str(i) for i in index)
            raise ValueError(
                f"precisions_init[{at}] = {float(precisions[index])!r} is not positive "
                f"(component {index[0]}): the precisions of a {covariance_type!r} mixture "
                "(inverse variances) must be > 0"
            )
        return precisions.sqrt()
    full = covariance_type == "full"
    stacked = precisions if full else precisions[None]  # (K, D, D); tied: K = 1

    def named(j: int) -> str:
        return f"precisions_init[{j}]" if full else "precisions_init"

    scale = stacked.abs().amax((1, 2), keepdim=True)
    asymmetric = ((stacked - stacked.mT).abs() > SYMMETRY_TOL * scale).flatten(1).any(1)
    if bool(asymmetric.any()):
        j = int(asymmetric.nonzero()[0, 0])
        raise ValueError(
            f"{named(j)} is not symmetric; a precision matrix (inverse covariance) must be "
            "symmetric positive definite"
        )
    # Σ⁻¹ = L Lᵀ with L lower: P = L (lower), as scikit-learn does for precisions_init.
    lower, info = torch.linalg.cholesky_ex(stacked)
    if bool((info != 0).any()):
        j = int((info != 0).nonzero()[0, 0])
        raise ValueError(
            f"{named(j)} is not positive definite; a precision matrix (inverse covariance) "
            "must be symmetric positive definite"
        )
    return lower if full else lower[0]


SYMMETRY_TOL = 1e-5
"""A given precision matrix counts as symmetric when ``|P - Pᵀ| <= SYMMETRY_TOL · max|P|``."""
WEIGHTS_SUM_TOL = 1e-5
"""Given mixing weights must sum to 1 within this tolerance."""


class GaussianMixture(TorchEstimator):
    """Gaussian mixture fitted by EM on torch tensors, following scikit-learn's API.

    EM stops when the mean log-likelihood changes by less than ``tol`` between iterations
    (scikit-learn's rule); the run with the highest final bound is kept. Half-precision data
    (float16, bfloat16) is fitted in float32, and the fitted state is float32; complex data is
    refused.

    Args:
        n_components: Number of components ``K``.
        covariance_type: ``"full"`` (one ``(D, D)`` matrix each), ``"tied"`` (one shared),
            ``"diag"`` or ``"spherical"``.
        tol: Convergence threshold on the change of the mean log-likelihood.
        reg_covar: Added to the diagonal of every covariance.
        max_iter: Most EM iterations per run.
        n_init: Runs from different starts.
        init_params: How responsibilities start: ``"kmeans"`` (one K-means run),
            ``"k-means++"`` (its seeds), ``"random"`` (random soft assignments) or
            ``"random_from_data"`` (random samples as means).
        weights_init, means_init, precisions_init: Given starting parameters (arrays of the
            shapes of ``weights_``, ``means_``, ``precisions_``); they replace the ones from
            ``init_params``.
        random_state: Seed (or generator); ``None`` draws from torch's generator.

    Attributes:
        weights_: ``(K,)`` mixing weights ``π``.
        means_: ``(K, D)``.
        covariances_: Full ``(K, D, D)``, tied ``(D, D)``, diag ``(K, D)``, spherical ``(K,)``.
        precisions_cholesky_: Factors ``P`` with ``Σ⁻¹ = P Pᵀ`` (same shapes).
        precisions_: ``Σ⁻¹`` (same shapes).
        converged_: Whether the best run converged.
        n_iter_: EM iterations of the best run.
        lower_bound_: Mean log-likelihood of the training data at the last E-step.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> X = torch.cat([torch.randn(100, 2) - 4, torch.randn(100, 2) + 4])
        >>> gmm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> sorted(gmm.means_[:, 0].round().tolist())
        [-4.0, 4.0]
        >>> bool(torch.allclose(gmm.free_energy(X), -gmm.score_samples(X)))
        True
    """

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: int | torch.Generator | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state

    def _reference(self) -> Tensor:
        self._check_fitted("means_")
        return self.means_

    # -- fitting -----------------------------------------------------------------------------

    def _check_params(self, x: Tensor) -> None:
        check_int(self.n_components, "n_components")
        check_int(self.max_iter, "max_iter")
        check_int(self.n_init, "n_init")
        check_choice(self.covariance_type, COVARIANCE_TYPES, "covariance_type")
        check_choice(self.init_params, INIT_PARAMS, "init_params")
        if self.n_components > len(x):
            raise ValueError(f"n_components={self.n_components} exceeds the {len(x)} samples")
        check_real(self.reg_covar, "reg_covar")
        check_real(self.tol, "tol")

    def _given(self, value: Any, shape: tuple[int, ...], name: str, x: Tensor) -> Tensor:
        """``value`` as a real, finite tensor of ``shape`` on ``x``'s device and dtype."""
        try:
            tensor = value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be an array of shape {shape}: {error}") from None
        if tensor.is_complex():
            raise ValueError(f"{name} holds complex values ({tensor.dtype}); pass real values")
        if tuple(tensor.shape) != shape:
            names = {"weights_init": "(K,)", "means_init": "(K, D)"}.get(
                name,
                f"{PRECISION_SHAPES[self.covariance_type]} for "
                f"covariance_type={self.covariance_type!r}",
            )
            raise ValueError(
                f"{name} must have shape {shape}, got {tuple(tensor.shape)}; expected {names}"
            )
        tensor = tensor.to(device=x.device, dtype=x.dtype)
        check_finite(tensor, name)
        return tensor

    def _precision_shape(self, d: int) -> tuple[int, ...]:
        k = self.n_components
        return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[
            self.covariance_type
        ]

    def _given_parameters(self, x: Tensor) -> dict[str, Tensor]:
        """The checked ``weights_init``, ``means_init`` and ``precisions_init`` that are set.

        Raises:
            ValueError: On a wrong shape, NaN or Inf, negative weights or weights not summing
                to 1, or a precision that is not symmetric positive definite (naming the
                component).
        """
        k, d = self.n_components, x.shape[1]
        given: dict[str, Tensor] = {}
        if self.weights_init is not None:
            weights = self._given(self.weights_init, (k,), "weights_init", x)
            negative = (weights < 0).nonzero()
            if len(negative):
                j = int(negative[0, 0])
                raise ValueError(
                    f"weights_init[{j}] = {float(weights[j])!r} is negative; mixing weights "
                    "must be >= 0 and sum to 1"
                )
            total = float(weights.sum(dtype=torch.float64))
            if abs(total - 1.0) > WEIGHTS_SUM_TOL:
                raise ValueError(f"weights_init must sum to 1, got a sum of {total:.6g}")
            given["weights_"] = weights
        if self.means_init is not None:
            given["means_"] = self._given(self.means_init, (k, d), "means_init", x)
        if self.precisions_init is not None:
            precisions = self._given(
                self.precisions_init, self._precision_shape(d), "precisions_init", x
            )
            given["precisions_cholesky_"] = _precision_to_cholesky(precisions, self.covariance_type)
            given["covariances_"] = (
                torch.linalg.inv(precisions)
                if self.covariance_type in ("full", "tied")
                else 1.0 / precisions
            )
        return given

    def _initial_resp(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, k = len(x), self.n_components
        if self.init_params == "random":
            resp = torch.rand(n, k, generator=generator, device=x.device, dtype=x.dtype)
            return resp / resp.sum(1, keepdim=True)
        if self.init_params == "kmeans":
            labels = KMeans(k, n_init=1, random_state=generator).fit(x).labels_
        else:
            if self.init_params == "k-means++":
                from eblearn.latent.kmeans import kmeans_plusplus

                centers = kmeans_plusplus(x, k, generator)
            else:
                pick = torch.randperm(n, generator=generator, device=x.device)[:k]
                centers = x[pick]
            labels = torch.cdist(x, centers).argmin(1)
        return torch.nn.functional.one_hot(labels, k).to(x.dtype)

    def _m_step(self, x: Tensor, resp: Tensor, squares: Tensor | None = None) -> None:
        counts = resp.sum(0) + 10 * torch.finfo(x.dtype).eps  # (K,)
        means = resp.T @ x / counts[:, None]
        covariances = estimate_covariances(
            x, resp, counts, means, self.covariance_type, self.reg_covar, squares
        )
        self.weights_ = counts / len(x)
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = precision_cholesky(covariances, self.covariance_type)

    def _e_step(self, x: Tensor, squares: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean log-likelihood and responsibilities ``(N, K)``."""
        log_norm, resp = normalize(self._weighted_log_prob(x, squares))
        return log_norm.mean(), resp

    def _initialize(
        self, x: Tensor, origin: Tensor, generator: torch.Generator, given: dict[str, Tensor]
    ) -> None:
        """Starting parameters for data ``x`` given relative to ``origin``; ``given`` holds
        the checked starting parameters (from :meth:`_given_parameters`)."""
        if not {"weights_", "means_", "precisions_cholesky_"} <= given.keys():
            # (else all is given: nothing to estimate)
            self._m_step(x, self._initial_resp(x, generator))
        for name, value in given.items():
            setattr(self, name, value - origin if name == "means_" else value)

    def fit(self, X: Any, y: Any = None) -> GaussianMixture:
        """Fits the mixture to ``X`` ``(N, D)`` by EM; returns ``self``.

        Raises:
            ValueError: On bad data or hyper-parameters, or a covariance that is not positive
                definite during EM (raise ``reg_covar``).
        """
        x = as_data(X, min_samples=2)
        self._check_params(x)
        given = self._given_parameters(x)
        generator = make_generator(self.random_state, x.device)
        # EM commutes with translations; on data centered at their mean, float32 sums and
        # differences keep the digits that an offset far from the origin would take.
        origin = (x.sum(0, dtype=torch.float64) / len(x)).to(x.dtype)
        x = x - origin
        squares = x.square() if self.covariance_type in ("diag", "spherical") else None
        best: tuple[float, dict[str, Any]] | None = None
        for _ in range(self.n_init):
            self._initialize(x, origin, generator, given)
            lower_bound = -math.inf
            converged = False
            n_iter = 0
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - n_iter is reported
                previous = lower_bound
                log_likelihood, resp = self._e_step(x, squares)
                self._m_step(x, resp, squares)
                lower_bound = float(log_likelihood)
                if abs(lower_bound - previous) < self.tol:
                    converged = True
                    break
            state = {
                "weights_": self.weights_,
                "means_": self.means_,
                "covariances_": self.covariances_,
                "precisions_cholesky_": self.precisions_cholesky_,
                "converged_": converged,
                "n_iter_": n_iter,
                "lower_bound_": lower_bound,
            }
            if best is None or lower_bound > best[0]:
                best = (lower_bound, state)
        assert best is not None  # n_init >= 1
        for name, value in best[1].items():
            setattr(self, name, value)
        self.means_ = self.means_ + origin
        if not best[1]["converged_"]:
            warnings.warn(
                f"GaussianMixture did not converge in {self.max_iter} iterations; raise "
                "max_iter or tol",
                RuntimeWarning,
                stacklevel=2,
            )
        self.n_features_in_ = x.shape[1]
        return self

    # -- the fitted model ---------------------------------------------------------------------

    @property
    def precisions_(self) -> Tensor:
        """``Σ⁻¹``: ``P Pᵀ`` for full/tied factors, ``P²`` for diag/spherical."""
        self._check_fitted("precisions_cholesky_")
        p = self.precisions_cholesky_
        if self.covariance_type in ("full", "tied"):
            return p @ p.mT
        return p.pow(2)

    def _weighted_log_prob(self, x: Tensor, squares: Tensor | None = None) -> Tensor:
        density = component_log_density(
            x, self.means_, self.precisions_cholesky_, self.covariance_type, squares
        )
        return density + self.weights_.log()

    def component_energies(self, X: Any) -> Tensor:
        """``E_k(y) = -log π_k - log N(y; μ_k, Σ_k)``, shape ``(N, K)``."""
        return -self._weighted_log_prob(self._check_input(X))

    def free_energy(self, X: Any, beta: float = 1.0) -> Tensor:
        """``F_β(y) = -1/β log Σ_k exp(-β E_k(y))``, shape ``(N,)``; ``-log p(y)`` at β = 1.

        ``beta=math.inf`` gives the zero-temperature limit ``min_k E_k(y)``.

        Raises:
            ValueError: If ``beta`` is not positive.
        """
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        energies = self.component_energies(X)
        if math.isinf(beta):
            return energies.min(1).values
        return -torch.logsumexp(-beta * energies, 1) / beta

    @property
    def latent_dim(self) -> int:
        """``K``: the code ``z`` of :meth:`latent_energy` is a one-hot vector of ``K`` entries."""
        return self.n_components

    def energy(self, X: Any, x: Any = None) -> Tensor:
        """``F(y) = -log p(y) = -log Σ_k exp(-E_k(y))``, shape ``(N,)``; differentiable in ``y``.

        :meth:`free_energy` at ``β = 1``: the soft minimum of :meth:`latent_energy` over the
        ``K`` one-hot codes. ``x`` must be ``None`` (an unconditional energy).
        """
        check_unconditional(self, x)
        return self.free_energy(X)

    def latent_energy(self, X: Any, codes: Any, x: Any = None) -> Tensor:
        """``E(y, z) = Σ_k z_k E_k(y)`` for codes ``z`` ``(N, K)``, shape ``(N,)``.

        At the one-hot code of component ``k`` it is ``E_k(y) = -log π_k - log N(y; μ_k, Σ_k)``
        (:meth:`component_energies`).
        """
        check_unconditional(self, x)
        energies = self.component_energies(X)  # (N, K)
        z = torch.as_tensor(codes, device=energies.device).to(energies.dtype)
        if z.shape != energies.shape:
            raise ValueError(f"codes must have shape {tuple(energies.shape)}, got {tuple(z.shape)}")
        return (z * energies).sum(1)

    def score_samples(self, X: Any) -> Tensor:
        """``log p(y)`` of each sample, shape ``(N,)`` (scikit-learn's ``score_samples``)."""
        return torch.logsumexp(self._weighted_log_prob(self._check_input(X)), 1)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X: Any) -> Tensor:
        """Responsibilities ``softmax_k(-E_k(y))``, shape ``(N, K)``."""
        return torch.softmax(self._weighted_log_prob(self._check_input(X)), 1)

    def predict(self, X: Any) -> Tensor:
        """``argmin_k E_k(y)``, shape ``(N,)``."""
        return self._weighted_log_prob(self._check_input(X)).argmax(1)

    def fit_predict(self, X: Any, y: Any = None) -> Tensor:
        """``fit(X).predict(X)``."""
        return self.fit(X).predict(X)

    def _n_parameters(self) -> int:
        k, d = self.n_components, self.n_features_in_
        covariance = {
            "full": k * d * (d + 1) // 2,
            "tied": d * (d + 1) // 2,
            "diag": k * d,
            "spherical": k,
        }[self.covariance_type]
        return covariance + k * d + k - 1

    def bic(self, X: Any) -> float:
        """Bayesian information criterion ``-2 log L + p log N`` (lower is better)."""
        x = self._check_input(X)
        return -2 * float(self.score_samples(x).sum()) + self._n_parameters() * math.log(len(x))

    def aic(self, X: Any) -> float:
        """Akaike information criterion ``-2 log L + 2p`` (lower is better)."""
        return -2 * float(self.score_samples(X).sum()) + 2 * self._n_parameters()

    def sample(self, n_samples: int = 1, random_state: int | None = None) -> tuple[Tensor, Tensor]:
        """Draws ``n_samples`` points ``(N, D)`` and their components ``(N,)``."""
        self._check_fitted("means_")
        check_int(n_samples, "n_samples")
        generator = make_generator(random_state, self.means_.device)
        labels = torch.multinomial(self.weights_, n_samples, replacement=True, generator=generator)
        noise = torch.randn(
            n_samples,
            self.n_features_in_,
            generator=generator,
            device=self.means_.device,
            dtype=self.means_.dtype,
        )
        p = self.precisions_cholesky_
        if self.covariance_type == "full":
            # x = μ + P⁻ᵀ ε has covariance (P Pᵀ)⁻¹ = Σ.
            offsets = torch.linalg.solve(p[labels].mT, noise)
        elif self.covariance_type == "tied":
            offsets = torch.linalg.solve(p.mT, noise.T).T
        elif self.covariance_type == "diag":
            offsets = noise / p[labels]
        else:
            offsets = noise / p[labels, None]
        return self.means_[labels] + offsets, labels
