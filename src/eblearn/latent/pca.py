"""Principal component analysis as an energy: the reconstruction error off a subspace.

Energy: ``E(y) = ||ỹ - WᵀW ỹ||²`` with ``ỹ = y - μ`` and ``W`` the ``(K, D)`` matrix of
orthonormal principal directions: the squared distance of ``y`` to the affine subspace the
data span. Inference: the code ``z = W ỹ`` is computed, not searched. Strategy: architectural;
a ``K``-dimensional code (``K < D``) leaves only a ``K``-dimensional subspace at zero energy.

Its probabilistic version (probabilistic PCA [1]) gives the free energy
``F(y) = -log p(y)`` with ``p = N(μ, WᵀΛ'W + σ²I)`` where ``Λ' = diag(λ_k - σ²)``:

``F(y) = ½ ||ỹ - WᵀWỹ||² / σ² + ½ Σ_k (w_k·ỹ)² / λ_k + ½ (D log 2π + Σ_k log λ_k + (D-K) log σ²)``

so the energy above, scaled by ``1/(2σ²)``, plus a Mahalanobis term inside the subspace.
``σ²`` (``noise_variance_``) is the mean variance of the discarded directions.

[0] Pearson, On lines and planes of closest fit to systems of points in space, 1901.
[1] Tipping, Bishop, Probabilistic Principal Component Analysis, 1999,
    https://doi.org/10.1111/1467-9868.00196
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eblearn._validate import check_choice
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import TorchEstimator, as_codes, as_data

SVD_SOLVERS = ("auto", "full", "covariance_eigh")
CANCELLATION = 100.0
"""Largest ``N||μ||²/tr(Σ(x-μ)ᵀ(x-μ))`` for which PCA takes the covariance from ``xᵀx``."""
SCATTER_ROWS = 8192
"""Rows per centered block otherwise (a block stays in cache for its product)."""


def flip_signs(components: Tensor) -> Tensor:
    """Flips each row of ``components`` ``(K, D)`` so its largest-magnitude entry is positive.

    The sign of a singular vector is arbitrary; this fixes it as scikit-learn's ``svd_flip``
    does for PCA, so repeated fits give the same components.
    """
    index = components.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(components.gather(1, index))
    return components * torch.where(signs == 0, torch.ones_like(signs), signs)


def _centered_scatter(x: Tensor, mean: Tensor) -> Tensor:
    """``(x - μ)ᵀ(x - μ)`` in float64, ``(D, D)``, without a centered copy of ``x``.

    ``xᵀx`` is one product and ``-Nμμᵀ`` is subtracted in float64 (as scikit-learn's
    ``covariance_eigh``). That loses about ``log10(1 + ||μ||²/tr(Σ))`` digits to cancellation,
    so when the mean dominates the spread (``N||μ||²`` above ``CANCELLATION`` times the
    trace), the centered blocks are multiplied instead.
    """
    mean64 = mean.double()
    scatter = (x.T @ x).double() - len(x) * torch.outer(mean64, mean64)
    if len(x) * float(mean64.pow(2).sum()) <= CANCELLATION * float(scatter.trace().abs()):
        return scatter
    scatter = torch.zeros_like(scatter)
    for start in range(0, len(x), SCATTER_ROWS):
        block = x[start : start + SCATTER_ROWS] - mean
        scatter += (block.T @ block).double()
    return scatter


class PCA(TorchEstimator):
    """Principal component analysis on torch tensors, following scikit-learn's ``PCA``.

    Args:
        n_components: Components kept: an int ``K``, a float in (0, 1) (the fewest
            components explaining that fraction of the variance) or ``None`` (all,
            ``min(N, D)``).
        whiten: ``transform`` divides each component by its standard deviation.
        svd_solver: ``"full"`` (SVD of the centered data), ``"covariance_eigh"``
            (eigendecomposition of the ``(D, D)`` covariance: much faster when ``N >> D``) or
            ``"auto"`` (``covariance_eigh`` when ``N >= 10 D`` and ``D <= 1000``, as
            scikit-learn chooses).

    Attributes:
        components_: ``(K, D)`` orthonormal principal directions, by decreasing variance.
        explained_variance_: ``(K,)`` variance along each direction (``N - 1`` denominator).
        explained_variance_ratio_: ``(K,)`` fraction of the total variance.
        singular_values_: ``(K,)`` singular values of the centered data.
        mean_: ``(D,)`` per-feature mean.
        noise_variance_: Mean variance of the discarded directions (``σ²`` of [1]).
        n_components_: ``K``.
        n_features_in_: ``D``.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> X = torch.randn(200, 3) @ torch.tensor([[3.0, 0, 0], [0, 1, 0], [0, 0, 0.1]])
        >>> pca = PCA(n_components=2).fit(X)
        >>> pca.components_.abs().round()
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
        >>> bool(torch.allclose(pca.free_energy(X), -pca.score_samples(X)))
        True
    """

    def __init__(
        self,
        n_components: int | float | None = None,
        whiten: bool = False,
        svd_solver: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver

    def _reference(self) -> Tensor:
        self._check_fitted("components_")
        return self.components_

    def fit(self, X: Any, y: Any = None) -> PCA:
        """Learns the principal directions of ``X`` ``(N, D)``; returns ``self``.

        Raises:
            ValueError: On bad data (not 2-D, fewer than 2 samples, NaN) or a bad
                ``n_components`` or ``svd_solver``.
        """
        check_choice(self.svd_solver, SVD_SOLVERS, "svd_solver")
        x = as_data(X, min_samples=2)
        n, d = x.shape
        mean = x.mean(0)
        solver = self.svd_solver
        if solver == "auto":
            solver = "covariance_eigh" if n >= 10 * d and d <= 1000 else "full"
        if solver == "full":
            _, singular, vt = torch.linalg.svd(x - mean, full_matrices=False)
            variances = singular**2 / (n - 1)  # (min(N, D),)
            directions = vt
        else:
            scatter = _centered_scatter(x, mean)
            eigenvalues, eigenvectors = torch.linalg.eigh(scatter)  # ascending, float64
            eigenvalues = eigenvalues.flip(0).clamp_min(0.0)[: min(n, d)].to(x.dtype)
            directions = eigenvectors.flip(1).T[: min(n, d)].to(x.dtype)
            variances = eigenvalues / (n - 1)
            singular = eigenvalues.sqrt()
        k = self._number_kept(variances)
        total = variances.sum()
        self.mean_ = mean
        self.components_ = flip_signs(directions[:k]).contiguous()
        self.explained_variance_ = variances[:k].clone()
        self.explained_variance_ratio_ = variances[:k] / total
        self.singular_values_ = singular[:k].clone()
        self.noise_variance_ = (
            variances[k:].mean() if k < min(n, d) else torch.zeros((), dtype=x.dtype)
        ).to(x.device)
        self.n_components_ = k
        self.n_features_in_ = d
        self.n_samples_ = n
        return self

    def _number_kept(self, variances: Tensor) -> int:
        limit = len(variances)
        k = self.n_components
        if k is None:
            return limit
        if isinstance(k, bool) or not isinstance(k, (int, float)):
            raise ValueError(f"n_components must be an int, a float in (0, 1) or None, got {k!r}")
        if isinstance(k, float) and not k.is_integer():
            if not 0.0 < k < 1.0:
                raise ValueError(f"a float n_components must lie in (0, 1), got {k}")
            ratio = torch.cumsum(variances / variances.sum(), 0)
            return (
                int(
                    torch.searchsorted(ratio, torch.tensor(k, dtype=ratio.dtype), right=True).item()
                )
                + 1
            )
        k = int(k)
        if not 1 <= k <= limit:
            raise ValueError(f"n_components must lie in [1, min(N, D) = {limit}], got {k}")
        return k

    def transform(self, X: Any) -> Tensor:
        """Codes ``z = W(y - μ)``, shape ``(N, K)`` (divided by ``sqrt(λ_k)`` when whitening)."""
        x = self._check_input(X)
        codes = (x - self.mean_) @ self.components_.T
        if self.whiten:
            codes = codes / self.explained_variance_.sqrt()
        return codes

    def fit_transform(self, X: Any, y: Any = None) -> Tensor:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: Any) -> Tensor:
        """Reconstructions ``μ + Wᵀz`` of codes ``(N, K)``, shape ``(N, D)``."""
        self._check_fitted("components_")
        z = torch.as_tensor(Z, device=self.mean_.device, dtype=self.mean_.dtype)
        if z.ndim != 2 or z.shape[1] != self.n_components_:
            raise ValueError(
                f"codes must have shape (N, {self.n_components_}), got {tuple(z.shape)}"
            )
        if self.whiten:
            z = z * self.explained_variance_.sqrt()
        return z @ self.components_ + self.mean_

    def energy(self, X: Any, x: Any = None) -> Tensor:
        """``F(y) = ||ỹ - WᵀWỹ||²``, the squared distance to the principal subspace, ``(N,)``.

        The zero-temperature free energy ``min_z E(y, z)`` of :meth:`latent_energy`: the
        minimum is at the code ``z = Wỹ`` (the projection). Differentiable in ``y``; ``x``
        must be ``None`` (an unconditional energy).
        """
        check_unconditional(self, x)
        x = self._check_input(X)
        centered = x - self.mean_
        residual = centered - (centered @ self.components_.T) @ self.components_
        return residual.pow(2).sum(1)

    @property
    def latent_dim(self) -> int:
        """``K``, the size of the code ``z`` of :meth:`latent_energy`."""
        self._check_fitted("components_")
        return self.n_components_

    def latent_energy(self, X: Any, Z: Any, x: Any = None) -> Tensor:
        """``E(y, z) = ||y - μ - Wᵀz||²`` for codes ``z`` ``(N, K)``, shape ``(N,)``.

        ``min_z E(y, z) = E(y, Wỹ)`` is :meth:`energy` (``WWᵀ = I``), whatever the whitening.
        """
        check_unconditional(self, x)
        y = self._check_input(X)
        z = as_codes(Z, y, self.n_components_)
        return (y - self.mean_ - z @ self.components_).pow(2).sum(1)

    def score_samples(self, X: Any) -> Tensor:
        """Log-likelihood of each sample under probabilistic PCA, shape ``(N,)``.

        Equal to scikit-learn's ``PCA.score_samples`` (without whitening).
        """
        x = self._check_input(X)
        centered = x - self.mean_
        inside = centered @ self.components_.T  # (N, K)
        variances = self.explained_variance_
        quadratic = (inside.pow(2) / variances).sum(1)
        log_det = variances.log().sum()
        d, k = self.n_features_in_, self.n_components_
        if k < d:
            residual = centered.pow(2).sum(1) - inside.pow(2).sum(1)
            quadratic = quadratic + residual.clamp_min(0.0) / self.noise_variance_
            log_det = log_det + (d - k) * self.noise_variance_.log()
        return -0.5 * (quadratic + log_det + d * math.log(2 * math.pi))

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood of the samples (scikit-learn's ``PCA.score``)."""
        return float(self.score_samples(X).mean())

    def free_energy(self, X: Any) -> Tensor:
        """``F(y) = -log p(y)`` under probabilistic PCA: ``-score_samples(X)``, shape ``(N,)``."""
        return -self.score_samples(X)

    def get_covariance(self) -> Tensor:
        """The model covariance ``WᵀΛ'W + σ²I``, shape ``(D, D)``."""
        self._check_fitted("components_")
        excess = (self.explained_variance_ - self.noise_variance_).clamp_min(0.0)
        covariance = (self.components_.T * excess) @ self.components_
        return covariance + self.noise_variance_ * torch.eye(
            self.n_features_in_, dtype=covariance.dtype, device=covariance.device
        )
