"""Score matching: shape an energy by its gradient and curvature at the data, no negatives.

With the model score ``s(y) = -∇_y F(y)``, Hyvärinen's objective is

``J = E_data[½ ||∇_y F(y)||² - Δ_y F(y)]`` (``Δ`` the Laplacian, ``tr ∇²F``),

which **minimizes the gradient and maximizes the curvature** of the energy around the data
points: the data sit at the bottom of wells, without any contrastive sample (the A4
regularized strategy of the talk). Three estimators, each working with any ``Energy``:

* :func:`exact_score_matching`: the formula, with the trace computed by ``D`` backward passes
  (small ``D`` only);
* :func:`sliced_score_matching`: the trace along random directions ``v``,
  ``E_v[vᵀ ∇s v + ½ (vᵀ s)²]`` (or ``½||s||²`` for the second term, variance reduced);
* :func:`denoising_score_matching`: match the score of the data blurred by Gaussian noise,
  ``E[½ ||s(ỹ) + (ỹ - y)/σ²||²]``, ``ỹ = y + σ ε``.

For conditional energies ``F(x, y)`` the derivatives are taken in ``y``.

[0] Hyvärinen, Estimation of Non-Normalized Statistical Models by Score Matching, JMLR 2005.
[1] Vincent, A Connection Between Score Matching and Denoising Autoencoders, 2011.
[2] Song, Garg, Shi, Ermon, Sliced Score Matching: A Scalable Approach to Density and Score
    Estimation, UAI 2019, https://arxiv.org/abs/1905.07088
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice, check_positive
from eblearn.energy.base import EnergyFn, check_answers, energy_and_grad, repeat_each
from eblearn.losses.contrastive import REDUCTIONS, reduce


def _per_sample(t: Tensor) -> Tensor:
    return t.flatten(1).sum(dim=1)


def exact_score_matching(
    energy: EnergyFn, y: Tensor, x: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """``J = ½ ||∇_y F||² - Δ_y F`` per sample, with the exact Laplacian (``D`` passes).

    Args:
        energy: Any energy ``F(x, y)``.
        y: Data, shape ``(B, ...)``.
        x: Observations or ``None``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> # F = ½||y||²: J = ½||y||² - D
        >>> loss = exact_score_matching(QuadraticEnergy(torch.zeros(2)), torch.tensor([[2.0, 0.0]]))
        >>> loss.item()
        0.0
    """
    check_answers(y, x)
    point = y.detach().requires_grad_(True)
    _, grad = energy_and_grad(energy, point, x, create_graph=True)
    flat_grad = grad.flatten(1)
    laplacian = torch.zeros(y.shape[0], dtype=grad.dtype, device=grad.device)
    for i in range(flat_grad.shape[1]):
        (row,) = torch.autograd.grad(flat_grad[:, i].sum(), point, create_graph=True)
        laplacian = laplacian + row.flatten(1)[:, i]
    return reduce(0.5 * flat_grad.pow(2).sum(dim=1) - laplacian, reduction)


def sliced_score_matching(
    energy: EnergyFn,
    y: Tensor,
    x: Tensor | None = None,
    n_projections: int = 1,
    variance_reduction: bool = True,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Sliced score matching, ``E_v[vᵀ ∇s(y) v + ½ (vᵀ s(y))²]`` with ``s = -∇_y F``.

    ``v ~ N(0, I)``; with ``variance_reduction`` the second term is its expectation
    ``½ ||s(y)||²`` (SSM-VR). Two backward passes however large ``D``.

    Args:
        energy: Any energy ``F(x, y)``.
        y: Data, shape ``(B, ...)``.
        x: Observations or ``None``.
        n_projections: Directions ``v`` per sample.
        variance_reduction: Use ``½ ||s||²`` for the second term.
        generator: Random generator for ``v``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> loss = sliced_score_matching(QuadraticEnergy(torch.zeros(3)), torch.randn(8, 3))
        >>> loss.shape
        torch.Size([])
    """
    check_answers(y, x)
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    batch = y.shape[0]
    point = repeat_each(y, n_projections).detach().requires_grad_(True)
    _, grad = energy_and_grad(energy, point, repeat_each(x, n_projections), create_graph=True)
    score = -grad
    v = torch.randn(point.shape, generator=generator, dtype=point.dtype).to(point.device)
    score_v = _per_sample(score * v)  # vᵀ s
    (grad_score_v,) = torch.autograd.grad(score_v.sum(), point, create_graph=True)
    curvature = _per_sample(grad_score_v * v)  # vᵀ ∇s v
    second = 0.5 * _per_sample(score.pow(2)) if variance_reduction else 0.5 * score_v.pow(2)
    per_sample = (curvature + second).view(batch, n_projections).mean(dim=1)
    return reduce(per_sample, reduction)


def denoising_score_matching(
    energy: EnergyFn,
    y: Tensor,
    x: Tensor | None = None,
    sigma: float = 0.1,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Denoising score matching, ``½ ||s(ỹ) + (ỹ - y)/σ²||²`` with ``ỹ = y + σ ε``.

    ``s = -∇_y F``; the minimizer's score is that of the data convolved with ``N(0, σ² I)``.

    Args:
        energy: Any energy ``F(x, y)``.
        y: Clean data, shape ``(B, ...)``.
        x: Observations or ``None``.
        sigma: Noise level ``σ > 0``.
        generator: Random generator for ``ε``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> from eblearn.energy import QuadraticEnergy
        >>> standard = QuadraticEnergy(torch.zeros(2))  # F(y) = ½||y||², the energy of N(0, I)
        >>> # data at the origin blurred by σ = 1 is N(0, I): its score is matched exactly
        >>> float(denoising_score_matching(standard, torch.zeros(8, 2), sigma=1.0))
        0.0
    """
    check_answers(y, x)
    check_positive(sigma, "sigma")
    noise = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
    noisy = (y.detach() + sigma * noise).requires_grad_(True)
    _, grad = energy_and_grad(energy, noisy, x, create_graph=True)
    # s(ỹ) - ∇ log q(ỹ|y) = -∇F(ỹ) + ε/σ
    return reduce(0.5 * _per_sample((noise / sigma - grad).pow(2)), reduction)


class ScoreMatchingLoss(nn.Module):
    """Score matching as a loss module: ``loss(energy, y, x=None)``.

    ``J = E[½ ||∇_y F||² - Δ_y F]``, estimated exactly, by slicing or by denoising (see the
    module docstring). Strategy: regularized (A4): minimize the gradient and maximize the
    curvature of the energy at the data points.

    [0] Hyvärinen 2005; [1] Vincent 2011; [2] Song et al. 2019 (see the module docstring).

    Args:
        estimator: ``"sliced"`` (default), ``"denoising"`` or ``"exact"``.
        sigma: Noise level of the denoising estimator.
        n_projections: Directions per sample of the sliced estimator.
        variance_reduction: SSM-VR for the sliced estimator.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> from eblearn.energy import MLPEnergy
        >>> energy = MLPEnergy(2, hidden=(8,))
        >>> ScoreMatchingLoss("denoising", sigma=0.3)(energy, torch.randn(16, 2)).shape
        torch.Size([])
    """

    ESTIMATORS = ("sliced", "denoising", "exact")

    def __init__(
        self,
        estimator: str = "sliced",
        sigma: float = 0.1,
        n_projections: int = 1,
        variance_reduction: bool = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_choice(estimator, self.ESTIMATORS, "estimator")
        check_choice(reduction, REDUCTIONS, "reduction")
        check_positive(sigma, "sigma")
        self.estimator = estimator
        self.sigma = sigma
        self.n_projections = n_projections
        self.variance_reduction = variance_reduction
        self.reduction = reduction

    def forward(
        self,
        energy: EnergyFn,
        y: Tensor,
        x: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if self.estimator == "exact":
            return exact_score_matching(energy, y, x, self.reduction)
        if self.estimator == "denoising":
            return denoising_score_matching(energy, y, x, self.sigma, generator, self.reduction)
        return sliced_score_matching(
            energy, y, x, self.n_projections, self.variance_reduction, generator, self.reduction
        )
