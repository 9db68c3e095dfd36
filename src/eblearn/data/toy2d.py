"""2-D toy data for the energy lab: ellipse, horn, two moons, spirals, eight Gaussians.

Each generator returns a :class:`Toy2D` with the points ``y`` (N, 2) and, where the data has
them, the observation ``x`` it is conditioned on, the hidden latent ``z`` that generated it
and a component label. All live roughly in ``[-2.5, 2.5]²``.

* ``ellipse``: ``y = (w₁ cos z, w₂ sin z) + noise`` with a latent angle ``z`` (the talk's
  latent-variable example: one ``x``, a whole curve of compatible ``y``);
* ``horn``: the ellipse whose radii grow with an observed ``x ∈ [0, 1]``: conditioned on
  ``x``, ``y`` is multimodal (every point of an ellipse);
* ``two-moons``, ``spirals``, ``eight-gaussians``: unconditional multimodal densities.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from eblearn.registry import Registry


@dataclass(frozen=True)
class Toy2D:
    """A 2-D toy data set.

    Attributes:
        y: The points, shape ``(N, 2)``.
        x: The observation each point is conditioned on, shape ``(N, 1)``, or ``None``.
        latent: The hidden variable that generated each point, shape ``(N,)``, or ``None``.
        labels: The mixture component (moon, arm, Gaussian) of each point, or ``None``.
    """

    y: Tensor
    x: Tensor | None = None
    latent: Tensor | None = None
    labels: Tensor | None = None


TOY2D: Registry[Callable[..., Toy2D]] = Registry("toy data set")
"""The generators by name, each called as ``fn(n, noise=..., generator=...)``."""


def _check(n: int, noise: float) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


def _noise(n: int, scale: float, generator: torch.Generator | None) -> Tensor:
    return scale * torch.randn(n, 2, generator=generator)


@TOY2D.register("ellipse")
def ellipse(
    n: int = 512,
    noise: float = 0.05,
    radii: tuple[float, float] = (1.6, 0.8),
    generator: torch.Generator | None = None,
) -> Toy2D:
    """The ellipse with a latent angle: ``y = (w₁ cos z, w₂ sin z) + σ ε``, ``z ~ U[0, 2π)``.

    Args:
        n: Number of points.
        noise: ``σ``, the standard deviation of the Gaussian noise.
        radii: ``(w₁, w₂)``.
        generator: Random generator.

    Example:
        >>> data = ellipse(4, noise=0.0, generator=torch.Generator().manual_seed(0))
        >>> z = data.latent
        >>> torch.allclose(data.y, torch.stack([1.6 * z.cos(), 0.8 * z.sin()], 1))
        True
    """
    _check(n, noise)
    z = 2 * math.pi * torch.rand(n, generator=generator)
    y = torch.stack([radii[0] * torch.cos(z), radii[1] * torch.sin(z)], dim=1)
    return Toy2D(y + _noise(n, noise, generator), latent=z)


def horn_radii(x: Tensor) -> Tensor:
    """The horn's radii for observations ``x (N, 1)``: ``(0.4 + 1.6x, 0.2 + 0.8x)``, (N, 2)."""
    return torch.cat([0.4 + 1.6 * x, 0.2 + 0.8 * x], dim=1)


@TOY2D.register("horn")
def horn(n: int = 512, noise: float = 0.03, generator: torch.Generator | None = None) -> Toy2D:
    """The horn: ``x ~ U[0, 1]``, ``y = ρ(x) ⊙ (cos z, sin z) + σ ε`` with radii ``ρ(x)``.

    Given ``x``, every point of an ellipse is a correct ``y``: a multimodal conditional
    answer, which a regression to the mean cannot represent but an energy can.

    Args:
        n: Number of points.
        noise: ``σ``.
        generator: Random generator.

    Example:
        >>> data = horn(8, generator=torch.Generator().manual_seed(0))
        >>> data.x.shape, data.y.shape
        (torch.Size([8, 1]), torch.Size([8, 2]))
    """
    _check(n, noise)
    x = torch.rand(n, 1, generator=generator)
    z = 2 * math.pi * torch.rand(n, generator=generator)
    y = horn_radii(x) * torch.stack([torch.cos(z), torch.sin(z)], dim=1)
    return Toy2D(y + _noise(n, noise, generator), x=x, latent=z)


@TOY2D.register("two-moons")
def two_moons(n: int = 512, noise: float = 0.08, generator: torch.Generator | None = None) -> Toy2D:
    """Two interleaved half circles (as scikit-learn's ``make_moons``), centred and scaled ×1.5.

    Example:
        >>> two_moons(10).labels.tolist()
        [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """
    _check(n, noise)
    upper = n - n // 2
    t = math.pi * torch.rand(n, generator=generator)
    labels = torch.cat([torch.zeros(upper), torch.ones(n // 2)]).long()
    first = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    second = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    y = torch.where(labels[:, None] == 0, first, second) - torch.tensor([0.5, 0.25])
    return Toy2D(1.5 * y + _noise(n, noise, generator), labels=labels)


@TOY2D.register("spirals")
def spirals(
    n: int = 512, noise: float = 0.05, turns: float = 1.5, generator: torch.Generator | None = None
) -> Toy2D:
    """Two interleaved spiral arms, ``r = 2t``, angle ``2π·turns·t + πk``, ``t ~ U[0.1, 1]``.

    Example:
        >>> bool(spirals(100, noise=0.0).y.norm(dim=1).max() <= 2.0 + 1e-6)
        True
    """
    _check(n, noise)
    t = 0.1 + 0.9 * torch.rand(n, generator=generator)
    labels = torch.arange(n) % 2
    angle = 2 * math.pi * turns * t + math.pi * labels
    y = 2 * t[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return Toy2D(y + _noise(n, noise, generator), latent=t, labels=labels)


def eight_gaussian_centers(radius: float = 2.0) -> Tensor:
    """The eight means on a circle of ``radius``, shape ``(8, 2)``."""
    angle = 2 * math.pi * torch.arange(8) / 8
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


@TOY2D.register("eight-gaussians")
def eight_gaussians(
    n: int = 512,
    noise: float = 0.15,
    radius: float = 2.0,
    generator: torch.Generator | None = None,
) -> Toy2D:
    """A mixture of eight equal Gaussians (std ``noise``) on a circle of ``radius``.

    Example:
        >>> data = eight_gaussians(800, noise=0.0)
        >>> bool(torch.allclose(data.y, eight_gaussian_centers()[data.labels]))
        True
    """
    _check(n, noise)
    labels = torch.randint(8, (n,), generator=generator)
    y = eight_gaussian_centers(radius)[labels]
    return Toy2D(y + _noise(n, noise, generator), labels=labels)


def load_toy(
    name: str, n: int = 512, noise: float | None = None, generator: torch.Generator | None = None
) -> Toy2D:
    """The toy data set ``name`` (see :data:`TOY2D`), with its default noise unless given.

    Raises:
        ValueError: If ``name`` is unknown (the message lists the valid names).

    Example:
        >>> load_toy("spirals", 16).y.shape
        torch.Size([16, 2])
    """
    fn = TOY2D.get(name)
    if noise is None:
        return fn(n, generator=generator)
    return fn(n, noise=noise, generator=generator)
