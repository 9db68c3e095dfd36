"""Square independent component analysis as an energy: a normalized negative log-likelihood.

Model: ``x = A s + μ`` with ``A`` square and invertible and independent sources ``s_i`` of the
fixed super-Gaussian density ``p(s) = 1 / (π cosh s)``. With the unmixing ``W = A⁻¹`` (rows
``w_i``), the change of variables gives ``log p(x) = log|det W| + Σ_i log p(w_iᵀ(x - μ))``, so
the energy is the negative log-likelihood

``E(x) = -log|det W| - Σ_i log p(w_iᵀ(x - μ)) = -log|det W| + Σ_i log cosh(w_iᵀ(x - μ)) + D log π``

a normalized energy: ``∫ exp(-E(x)) dx = 1``. Its gradient is ``∇_x E = Wᵀ tanh(W(x - μ))``.
Inference: the sources ``s = W(x - μ)`` are computed, not searched (the map is invertible).
Strategy: architectural; the density integrates to one, so lowering the energy on the data
raises it elsewhere.

Training: maximum likelihood [0] by natural-gradient ascent [2] on whitened data
``z = K(x - μ)`` (``K = Λ^{-½}Eᵀ`` from the covariance ``EΛEᵀ``, so ``Cov z = I``, FastICA's
``whiten="unit-variance"`` preconditioning): with ``s = Bz`` and ``φ(s) = -d log p/ds = tanh s``,
the mean log-likelihood ``L(B) = log|det B| - mean Σ_i log cosh s_i + const`` has the natural
gradient ``ΔB = (I - mean φ(s) sᵀ) B``; a step ``B ← B + η ΔB`` is kept only if it raises
``L`` (``η`` halves until it does and grows by half after each success), so ``L`` increases
at every iteration. The fit stops when ``max |I - mean φ(s)sᵀ| <= tol`` (a stationary point of
the likelihood) and ``W = BK``. The nonlinearity ``tanh`` is FastICA's ``logcosh`` contrast [1].

A fixed super-Gaussian density separates super-Gaussian sources (Laplace, sparse signals);
sub-Gaussian ones (uniform) need the opposite sign of ``φ`` (extended Infomax), which this
model does not switch to.

[0] Bell, Sejnowski, An information-maximization approach to blind separation and blind
    deconvolution, 1995, https://doi.org/10.1162/neco.1995.7.6.1129
[1] Hyvärinen, Fast and robust fixed-point algorithms for independent component analysis,
    1999, https://doi.org/10.1109/72.761722
[2] Amari, Cichocki, Yang, A new learning algorithm for blind signal separation, 1996,
    NeurIPS 8
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import Tensor

from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import (
    TorchEstimator,
    as_data,
    check_int,
    check_real,
    make_generator,
)

GROWTH = 1.5
"""Factor on the step size ``η`` after an accepted step."""
MAX_STEP = 1.0
"""Largest step size ``η`` (``η = 1`` is a full natural-gradient step)."""
MIN_STEP = 1e-12
"""Step size below which no ascent is found at the dtype's precision: the fit stops."""
RANK_TOLERANCE = 1e-10
"""Smallest covariance eigenvalue, relative to the largest, accepted as full rank."""


def log_cosh(s: Tensor) -> Tensor:
    """``log cosh s`` without overflow: ``|s| + log(1 + exp(-2|s|)) - log 2``.

    Example:
        >>> log_cosh(torch.tensor([0.0, 1000.0], dtype=torch.float64)).tolist()
        [0.0, 999.3068528194401]
    """
    a = s.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def source_log_density(s: Tensor) -> Tensor:
    """``log p(s) = -log cosh s - log π``, the normalized super-Gaussian source density.

    Example:
        >>> float(source_log_density(torch.zeros((), dtype=torch.float64)).exp() * math.pi)
        1.0
    """
    return -log_cosh(s) - math.log(math.pi)


def whitening_matrix(centered: Tensor) -> Tensor:
    """``K = Λ^{-½}Eᵀ`` ``(D, D)`` with ``Cov = EΛEᵀ`` of the centered data: ``Cov(Kx) = I``.

    Raises:
        ValueError: If the covariance is singular (a feature is constant or a combination of
            the others): a square unmixing needs full-rank data.
    """
    covariance = centered.T @ centered / len(centered)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    top = float(eigenvalues[-1])
    if not float(eigenvalues[0]) > RANK_TOLERANCE * top:
        raise ValueError(
            f"X has a singular covariance (eigenvalues {float(eigenvalues[0]):.3g} to {top:.3g}):"
            " square ICA needs as many independent directions as features; drop constant or "
            "dependent features, or reduce the data with PCA first"
        )
    return eigenvectors.T / eigenvalues.sqrt()[:, None]


class ICA(TorchEstimator):
    """Square ICA with a ``1/cosh`` source density, fitted by natural-gradient maximum likelihood.

    Args:
        n_components: Number of sources; ``None`` or ``D`` (the model is square: the energy
            is a density on all of ``R^D`` only if ``W`` is invertible).
        whiten: Precondition with the whitening ``K`` before the ascent (the likelihood and
            its maximum do not change; the ascent starts from a rotation of ``K``).
            ``False`` starts from a rotation of the identity.
        tol: Stop when ``max |I - mean tanh(s) sᵀ| <= tol``.
        max_iter: Most natural-gradient steps.
        random_state: Seed (or generator) of the random starting rotation; ``None`` draws
            from torch's generator.

    Attributes:
        components_: ``(D, D)`` unmixing ``W`` (sources ``s = W(x - μ)``), whitening included.
        mixing_: ``(D, D)`` mixing ``A = W⁻¹``.
        mean_: ``(D,)`` per-feature mean ``μ``.
        whitening_: ``(D, D)`` whitening ``K`` (the identity if ``whiten=False``).
        n_iter_: Natural-gradient steps taken.
        converged_: Whether the stopping rule was met within ``max_iter``.
        log_likelihood_: Mean log-likelihood of the training data at the end.
        n_components_: ``D``.
        n_features_in_: ``D``.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> sources = torch.distributions.Laplace(0.0, 1.0).sample((1000, 2)).double()
        >>> X = sources @ torch.tensor([[1.0, 0.5], [0.3, 1.0]], dtype=torch.float64).T
        >>> ica = ICA(random_state=0).fit(X)
        >>> bool(torch.allclose(ica.energy(X), -ica.score_samples(X)))
        True
        >>> bool(torch.allclose(ica.inverse_transform(ica.transform(X)), X))
        True
    """

    def __init__(
        self,
        n_components: int | None = None,
        whiten: bool = True,
        tol: float = 1e-4,
        max_iter: int = 500,
        random_state: int | torch.Generator | None = None,
    ) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _reference(self) -> Tensor:
        self._check_fitted("components_")
        return self.components_

    def _check_params(self, d: int) -> None:
        if self.n_components is not None:
            check_int(self.n_components, "n_components")
            if self.n_components != d:
                raise ValueError(
                    f"ICA is square: n_components must be None or n_features = {d}, got "
                    f"{self.n_components} (for fewer sources, reduce the data with PCA first; "
                    "more sources than features cannot be unmixed by a square W)"
                )
        if not isinstance(self.whiten, bool):
            raise ValueError(f"whiten must be True or False, got {self.whiten!r}")
        check_real(self.tol, "tol")
        check_int(self.max_iter, "max_iter", minimum=0)

    def fit(self, X: Any, y: Any = None) -> ICA:
        """Fits ``W`` and ``μ`` to ``X`` ``(N, D)`` by maximum likelihood; returns ``self``.

        The ascent runs in float64 (except on MPS, which has none); the fitted state has the
        data's dtype.

        Raises:
            ValueError: On bad data (not 2-D, NaN or Inf, fewer samples than ``D + 1``, a
                singular covariance) or bad hyper-parameters (``n_components`` other than
                ``None`` or ``D``).
        """
        data = as_data(X, min_samples=2)
        n, d = data.shape
        self._check_params(d)
        if n <= d:
            raise ValueError(f"ICA needs more samples than features, got N = {n} for D = {d}")
        # The line search compares likelihoods that differ by about the squared gradient:
        # float32's 7 digits lose them long before tol, so the fit runs in float64.
        x = data if data.device.type == "mps" else data.double()
        mean = x.mean(0)
        centered = x - mean
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        whitening = whitening_matrix(centered) if self.whiten else eye
        z = centered @ whitening.T  # (N, D)
        generator = make_generator(self.random_state, x.device)
        start = torch.randn(d, d, generator=generator, device=x.device, dtype=x.dtype)
        unmixing, _ = torch.linalg.qr(start)  # a random rotation B
        likelihood = _log_likelihood(z, unmixing)
        step = MAX_STEP
        converged = False
        n_iter = 0
        while True:
            sources = z @ unmixing.T
            relative = eye - torch.tanh(sources).T @ sources / n  # I - mean φ(s)sᵀ
            if float(relative.abs().max()) <= self.tol:
                converged = True
                break
            if n_iter == self.max_iter or step < MIN_STEP:
                break
            direction = relative @ unmixing  # the natural gradient (I - mean φ(s)sᵀ) B
            while step >= MIN_STEP:
                candidate = unmixing + step * direction
                value = _log_likelihood(z, candidate)
                if value > likelihood:
                    unmixing, likelihood = candidate, value
                    step = min(MAX_STEP, GROWTH * step)
                    n_iter += 1
                    break
                step /= 2
        if not converged:
            warnings.warn(
                f"ICA did not converge in {n_iter} iterations (max |I - E[tanh(s)sᵀ]| = "
                f"{float(relative.abs().max()):.3g} > tol = {self.tol}); raise max_iter or tol",
                RuntimeWarning,
                stacklevel=2,
            )
        self.mean_ = mean.to(data.dtype)
        self.whitening_ = whitening.to(data.dtype)
        self.components_ = (unmixing @ whitening).to(data.dtype)
        self.mixing_ = torch.linalg.inv(unmixing @ whitening).to(data.dtype)
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.log_likelihood_ = likelihood + float(torch.linalg.slogdet(whitening)[1])
        self.n_components_ = d
        self.n_features_in_ = d
        return self

    def transform(self, X: Any) -> Tensor:
        """Sources ``s = W(x - μ)``, shape ``(N, D)``."""
        x = self._check_input(X)
        return (x - self.mean_) @ self.components_.T

    def fit_transform(self, X: Any, y: Any = None) -> Tensor:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, S: Any) -> Tensor:
        """Mixtures ``x = A s + μ`` of sources ``(N, D)``, shape ``(N, D)``."""
        self._check_fitted("components_")
        s = torch.as_tensor(S, device=self.mean_.device).to(self.mean_.dtype)
        if s.ndim != 2 or s.shape[1] != self.n_components_:
            raise ValueError(
                f"sources must have shape (N, {self.n_components_}), got {tuple(s.shape)}"
            )
        return s @ self.mixing_.T + self.mean_

    def score_samples(self, X: Any) -> Tensor:
        """``log p(x) = log|det W| + Σ_i log p(w_iᵀ(x - μ))``, shape ``(N,)``."""
        sources = self.transform(X)
        log_det = torch.linalg.slogdet(self.components_)[1]
        return log_det + source_log_density(sources).sum(1)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood of the samples."""
        return float(self.score_samples(X).mean())

    def energy(self, X: Any, x: Any = None) -> Tensor:
        """``E(x) = -log|det W| + Σ_i log cosh(w_iᵀ(x - μ)) + D log π``, shape ``(N,)``.

        The negative log-likelihood: differentiable in the data, with gradient
        ``Wᵀ tanh(W(x - μ))``. The second argument must be ``None`` (an unconditional energy).
        """
        check_unconditional(self, x)
        return -self.score_samples(X)

    def free_energy(self, X: Any) -> Tensor:
        """``-log p(x)``: :meth:`energy` (the sources are computed, so nothing is marginalized)."""
        return self.energy(X)


def _log_likelihood(z: Tensor, unmixing: Tensor) -> float:
    """Mean ``log|det B| + Σ_i log p((Bz)_i)`` over the rows of ``z`` (whitened data)."""
    log_det = float(torch.linalg.slogdet(unmixing)[1])
    return log_det + float(source_log_density(z @ unmixing.T).sum(1).mean())
