"""Gradient penalties: keep an energy (or a critic) smooth where it is evaluated.

Two forms of one regularizer on the gradient of a scalar function ``E`` of the input:

* **WGAN-GP** [0]: ``λ E_x̂ [(||∇_x̂ E(x̂)||₂ - 1)²]`` on interpolates
  ``x̂ = ε x + (1 - ε) x̃``, ``ε ~ U[0, 1]`` per sample, between data ``x`` and generated
  ``x̃``: a soft version of the 1-Lipschitz constraint that the Wasserstein critic needs;
* **energy smoothness** (zero-centred) [1]: ``λ E_x ||∇_x E(x)||₂²`` at the given points:
  the energy may not change fast around the data, so a contrastive loss cannot dig a
  narrow, infinitely deep well there (the regularizer that infinite-margin losses ask for).

Both are ``λ E[(||∇E|| - c)²]`` with centre ``c = 1`` or ``c = 0``; :func:`gradient_penalty`
computes that at given points, :class:`GradientPenalty` also draws the interpolates. The
gradient is taken with ``create_graph=True``, so the penalty back-propagates into ``E``'s
parameters (double back-propagation).

[0] Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville, Improved Training of Wasserstein GANs,
    NeurIPS 2017, https://arxiv.org/abs/1704.00028
[1] Mescheder, Geiger, Nowozin, Which Training Methods for GANs do actually Converge?,
    ICML 2018, https://arxiv.org/abs/1801.04406 (the zero-centred penalty on the data)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from eblearn._validate import check_same_shape

ScalarField = Callable[[Tensor], Tensor]
"""A function from points ``(B, ...)`` to one value per point ``(B,)``."""


def _check_weight(weight: float) -> None:
    if weight < 0:
        raise ValueError(f"the penalty weight λ must be >= 0, got {weight}")


def _check_center(center: float) -> None:
    if center < 0:
        raise ValueError(f"the target gradient norm (centre) must be >= 0, got {center}")


def input_gradient_norm(fn: ScalarField, points: Tensor, create_graph: bool = True) -> Tensor:
    """``||∇_x fn(x)||₂`` at each point, shape ``(B,)``.

    The points are taken detached, so the gradient is the one of ``fn`` alone. Since
    ``fn(x_i)`` depends on ``x_i`` only (no batch statistics), the gradient of ``Σ_i fn(x_i)``
    holds every per-sample gradient in one backward pass.

    Args:
        fn: The scalar field, ``(B, ...) -> (B,)``.
        points: Where to differentiate, ``(B, ...)``.
        create_graph: Keep the graph, so the norm is differentiable in ``fn``'s parameters.

    Raises:
        ValueError: If ``fn`` does not return one value per point.

    Example:
        >>> w = torch.tensor([3.0, 4.0])
        >>> input_gradient_norm(lambda x: x @ w, torch.zeros(2, 2))
        tensor([5., 5.])
    """
    points = points.detach().requires_grad_(True)
    with torch.enable_grad():
        values = fn(points)
        if not isinstance(values, Tensor) or values.shape != (points.shape[0],):
            shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(
                f"the function must return one value per point, shape ({points.shape[0]},), "
                f"got {shape}"
            )
        (grad,) = torch.autograd.grad(values.sum(), points, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1)


def gradient_penalty(
    fn: ScalarField, points: Tensor, center: float = 1.0, weight: float = 10.0
) -> Tensor:
    """``λ · mean_i (||∇_x fn(x_i)||₂ - c)²`` at the given points (a scalar).

    ``c = 1``, ``λ = 10`` is WGAN-GP's penalty [0] (evaluate it at interpolates, see
    :func:`interpolate`); ``c = 0`` is the zero-centred energy-smoothness penalty
    ``λ E||∇E||²`` [1].

    Example:
        >>> w = torch.tensor([3.0, 4.0])  # ||∇|| = 5 everywhere
        >>> gradient_penalty(lambda x: x @ w, torch.zeros(4, 2), center=1.0, weight=1.0)
        tensor(16.)
    """
    _check_center(center)
    _check_weight(weight)
    norms = input_gradient_norm(fn, points)
    return weight * (norms - center).pow(2).mean()


def energy_smoothness(fn: ScalarField, points: Tensor, weight: float = 1.0) -> Tensor:
    """The zero-centred penalty ``λ · mean_i ||∇_x E(x_i)||₂²`` (see :func:`gradient_penalty`).

    Example:
        >>> penalty = energy_smoothness(lambda x: x.pow(2).sum(1), torch.ones(3, 2))  # ∇ = 2x
        >>> round(penalty.item(), 4)
        8.0
    """
    return gradient_penalty(fn, points, center=0.0, weight=weight)


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random points on the segments between pairs: ``x̂_i = ε_i x_i + (1 - ε_i) x̃_i``.

    ``ε_i ~ U[0, 1]``, one per pair, shape ``(B,)`` broadcast over the other dimensions.

    Raises:
        ValueError: If ``real`` and ``fake`` differ in shape.

    Example:
        >>> points = interpolate(torch.zeros(5, 3), torch.ones(5, 3))
        >>> bool(((points >= 0) & (points <= 1)).all()), bool((points.std(1) == 0).all())
        (True, True)
    """
    check_same_shape(real, fake, "real", "fake")
    eps = torch.rand(real.shape[0], generator=generator, device=real.device, dtype=real.dtype)
    eps = eps.view(-1, *([1] * (real.ndim - 1)))  # (B, 1, ..., 1)
    return eps * real.detach() + (1 - eps) * fake.detach()


class GradientPenalty(nn.Module):
    """WGAN-GP's penalty or the energy-smoothness penalty, as a module.

    ``forward(fn, real, fake=None)``: with ``fake`` (and ``interpolates=True``) the penalty
    ``λ E[(||∇E(x̂)|| - c)²]`` at interpolates between ``real`` and ``fake`` [0]; without it,
    at ``real`` itself (the zero-centred penalty on the data [1] when ``c = 0``).

    Args:
        weight: ``λ`` (WGAN-GP: 10).
        center: ``c``, the target norm of the gradient (WGAN-GP: 1; energy smoothness: 0).
        interpolates: Evaluate at random interpolates between ``real`` and ``fake`` (when
            ``fake`` is given) rather than at ``real``.

    Example:
        >>> penalty = GradientPenalty(weight=1.0, center=0.0)
        >>> round(float(penalty(lambda x: 2 * x.sum(1), torch.zeros(3, 2))), 4)  # ||∇||² = 8
        8.0
    """

    def __init__(self, weight: float = 10.0, center: float = 1.0, interpolates: bool = True):
        super().__init__()
        _check_weight(weight)
        _check_center(center)
        self.weight, self.center, self.interpolates = weight, center, interpolates

    def forward(
        self,
        fn: ScalarField,
        real: Tensor,
        fake: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        points = real
        if fake is not None and self.interpolates:
            points = interpolate(real, fake, generator)
        return gradient_penalty(fn, points, self.center, self.weight)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, center={self.center}, interpolates={self.interpolates}"
