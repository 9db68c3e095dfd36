"""Analytic energies with known Gibbs distributions: a Gaussian and a mixture of Gaussians.

Their moments are known in closed form, so samplers are checked (and benchmarked) against
them: samples of ``p(y) ∝ exp(-F(y))`` must have the stated mean and covariance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from eblearn._validate import check_finite
from eblearn.energy.base import Energy


def _as_matrix(value: Tensor | float, dim: int, what: str) -> Tensor:
    matrix = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if matrix.ndim == 0:
        matrix = matrix * torch.eye(dim)
    if matrix.shape != (dim, dim):
        raise ValueError(f"{what} must be a scalar or a ({dim}, {dim}) matrix, got {matrix.shape}")
    check_finite(matrix, what)
    if not torch.allclose(matrix, matrix.T, atol=1e-6):
        raise ValueError(f"{what} must be symmetric")
    if bool((torch.linalg.eigvalsh(matrix) <= 0).any()):
        raise ValueError(f"{what} must be positive definite")
    return matrix


class QuadraticEnergy(Energy):
    """The Gaussian energy ``F(y) = ½ (y - μ)ᵀ Σ⁻¹ (y - μ)``.

    Its Gibbs distribution at β = 1 is ``N(μ, Σ)``.

    Args:
        mean: ``μ``, shape ``(D,)``.
        covariance: ``Σ``: a scalar (times the identity) or a ``(D, D)`` positive-definite
            matrix.

    Raises:
        ValueError: If ``mean`` is not 1-D or ``covariance`` is not positive definite.

    Example:
        >>> energy = QuadraticEnergy(torch.zeros(2), 4.0)
        >>> energy(torch.tensor([[2.0, 0.0]]))
        tensor([0.5000])
    """

    mean: Tensor
    covariance: Tensor
    precision: Tensor

    def __init__(self, mean: Tensor, covariance: Tensor | float = 1.0) -> None:
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.get_default_dtype())
        if mean.ndim != 1:
            raise ValueError(f"mean must have shape (D,), got {tuple(mean.shape)}")
        cov = _as_matrix(covariance, mean.shape[0], "covariance")
        self.register_buffer("mean", mean)
        self.register_buffer("covariance", cov)
        self.register_buffer("precision", torch.linalg.inv(cov))

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        centered = y - self.mean
        return 0.5 * ((centered @ self.precision) * centered).sum(dim=1)

    def moments(self) -> tuple[Tensor, Tensor]:
        """Mean ``(D,)`` and covariance ``(D, D)`` of ``p(y) ∝ exp(-F(y))``."""
        return self.mean.clone(), self.covariance.clone()


class GaussianMixtureEnergy(Energy):
    """The energy of a Gaussian mixture, ``F(y) = -log Σ_k π_k N(y; μ_k, Σ_k)``.

    ``exp(-F)`` is the normalized mixture density, so the Gibbs distribution at β = 1 is the
    mixture itself, with mean ``Σ_k π_k μ_k`` and covariance
    ``Σ_k π_k (Σ_k + μ_k μ_kᵀ) - mean meanᵀ``.

    Args:
        means: ``μ_k``, shape ``(K, D)``.
        covariances: One scalar for every component, a ``(K,)`` tensor of scalars, or
            ``(K, D, D)`` matrices.
        weights: ``π_k``, shape ``(K,)`` (normalized here); equal weights by default.

    Raises:
        ValueError: If shapes disagree, weights are not positive or a covariance is not
            positive definite.

    Example:
        >>> mixture = GaussianMixtureEnergy(torch.tensor([[-1.0], [1.0]]), 0.25)
        >>> mean, cov = mixture.moments()
        >>> mean, cov
        (tensor([0.]), tensor([[1.2500]]))
    """

    means: Tensor
    covariances: Tensor
    weights: Tensor
    precisions: Tensor
    whiteners: Tensor
    whitened_means: Tensor
    log_coefficients: Tensor

    def __init__(
        self,
        means: Tensor,
        covariances: Tensor | float | Sequence[float] = 1.0,
        weights: Tensor | Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.get_default_dtype())
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        k, dim = means.shape
        covs = torch.as_tensor(covariances, dtype=torch.get_default_dtype())
        if covs.ndim == 0:
            covs = covs.expand(k)
        if covs.ndim == 1:
            if covs.shape[0] != k:
                raise ValueError(f"expected {k} covariances, got {covs.shape[0]}")
            covs = covs[:, None, None] * torch.eye(dim)
        covs = torch.stack([_as_matrix(c, dim, "covariance") for c in covs])
        if covs.shape != (k, dim, dim):
            raise ValueError(f"covariances must have shape ({k}, {dim}, {dim})")
        w = torch.ones(k) if weights is None else torch.as_tensor(weights).float()
        if w.shape != (k,) or bool((w <= 0).any()):
            raise ValueError(f"weights must be {k} positive numbers, got {w.tolist()}")
        self.register_buffer("means", means)
        self.register_buffer("covariances", covs)
        self.register_buffer("weights", w / w.sum())
        self.register_buffer("precisions", torch.linalg.inv(covs))
        # Σ_k⁻¹ = L_k L_kᵀ, so (y - μ_k)ᵀ Σ_k⁻¹ (y - μ_k) = ||yᵀL_k - μ_kᵀL_k||²: one matmul
        whiteners = torch.linalg.cholesky(self.precisions)  # (K, D, D)
        self.register_buffer("whiteners", whiteners.permute(1, 0, 2).reshape(dim, k * dim))
        self.register_buffer("whitened_means", torch.einsum("ki,kij->kj", means, whiteners))
        log_norm = -0.5 * (dim * math.log(2 * math.pi) + torch.logdet(covs))
        self.register_buffer("log_coefficients", torch.log(self.weights) + log_norm)

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        k, dim = self.means.shape
        whitened = (y @ self.whiteners).view(-1, k, dim) - self.whitened_means  # (B, K, D)
        mahalanobis = whitened.pow(2).sum(dim=2)  # (B, K)
        return -torch.logsumexp(self.log_coefficients - 0.5 * mahalanobis, dim=1)

    def moments(self) -> tuple[Tensor, Tensor]:
        """Mean ``(D,)`` and covariance ``(D, D)`` of the mixture."""
        mean = self.weights @ self.means
        second = torch.einsum(
            "k,kij->ij",
            self.weights,
            self.covariances + self.means[:, :, None] * self.means[:, None],
        )
        return mean, second - torch.outer(mean, mean)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples of the mixture, shape ``(n, D)``."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        chol = torch.linalg.cholesky(self.covariances)[component]  # (n, D, D)
        noise = torch.randn(n, self.means.shape[1], generator=generator, device=self.means.device)
        return self.means[component] + (chol @ noise[:, :, None]).squeeze(2)
