"""Free energies: eliminating the latent variable of ``E(x, y, z)``.

* zero temperature: ``F∞(x, y) = min_z E(x, y, z)``;
* temperature ``1/β``: ``F_β(x, y) = -1/β log ∫ exp(-β E(x, y, z)) dz`` (a soft minimum).

``F_β → F∞`` as ``β → ∞``; as ``β → 0``, ``F_β + log(V)/β`` tends to the mean energy over a
latent domain of volume ``V`` (``e^{-βE} ≈ 1 - βE``).

Three ways to handle ``z``, each a small object passed as ``method``:

* :class:`Enumerate`: a discrete set or a grid of ``z`` (quadrature with the cell volume),
  evaluated for every sample in **one batched call** of the energy;
* :class:`GradientDescent`: continuous ``z``, projected gradient descent from one or more
  starts (with bounds or a projection); finite ``β`` uses the Laplace approximation
  ``F_β ≈ E(ž) + 1/(2β) log det(β H(ž) / 2π)``, exact for energies quadratic in ``z``;
* :class:`MonteCarlo`: importance sampling, ``∫ e^{-βE} dz ≈ 1/S Σ_s e^{-βE(z_s)} / q(z_s)``
  with ``z_s`` uniform in a box or Gaussian.

At ``β = ∞`` the gradient of ``F∞`` with respect to ``y`` and the parameters is that of ``E`` at
the minimizer ``ž`` (the envelope theorem): ``ž`` is found without a graph, then ``E`` is
evaluated once more at ``ž`` with one.

[0] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006,
    http://yann.lecun.com/exdb/publis/pdf/lecun-06.pdf
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from eblearn._validate import check_finite
from eblearn.energy._descent import Projection, make_projection, projected_descent
from eblearn.energy.base import (
    Energy,
    LatentEnergy,
    check_answers,
    check_energy_output,
    expand_options,
    repeat_each,
)
from eblearn.energy.protocol import HasLatentEnergy, as_latent_energy

Bound = float | Tensor | None


@dataclass
class Enumerate:
    """Free energy over an explicit set of latent values.

    Attributes:
        grid: The values of ``z``: shared ``(K, Dz)`` or per-sample ``(B, K, Dz)``.
        cell_volume: The quadrature weight of each value (the grid cell's volume); 1 for a
            truly discrete ``z``. Only shifts ``F_β`` by ``-log(cell_volume)/β``.
    """

    grid: Tensor
    cell_volume: float = 1.0


@dataclass
class GradientDescent:
    """Free energy with ``z`` found by projected gradient descent.

    Attributes:
        steps: Descent steps.
        step_size: Learning rate ``η``.
        starts: Starting values of ``z`` shared by all samples, shape ``(S, Dz)``; the best
            of the ``S`` solutions is kept. Zeros (one start) when ``None``.
        bounds: ``(low, high)`` box for ``z`` (scalars or ``(Dz,)`` tensors; a side may be
            ``None``).
        project: Any other projection ``z ↦ Π(z)`` applied after each step.
        momentum: Heavy-ball momentum in ``[0, 1)``.
    """

    steps: int = 100
    step_size: float = 0.1
    starts: Tensor | None = None
    bounds: tuple[Bound, Bound] | None = None
    project: Projection | None = None
    momentum: float = 0.0


@dataclass
class MonteCarlo:
    """Free energy by importance sampling of ``z``.

    Attributes:
        n_samples: ``S`` samples of ``z`` per data point.
        low: Lower corner of a uniform proposal box (with ``high``).
        high: Upper corner of the box.
        scale: Standard deviation of the Gaussian proposal ``N(0, scale² I)`` used when no
            box is given.
        generator: Random generator for reproducible samples.
    """

    n_samples: int = 1000
    low: Bound = None
    high: Bound = None
    scale: float = 1.0
    generator: torch.Generator | None = None


Method = Enumerate | GradientDescent | MonteCarlo


def _check_beta(beta: float) -> None:
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (math.inf for the minimum), got {beta!r}")


def _check_latent_set(z: Tensor, batch: int, latent_dim: int) -> bool:
    """Validates a set of z values; returns whether it is per-sample."""
    if z.ndim not in (2, 3) or z.shape[-1] != latent_dim:
        raise ValueError(
            f"latent values must have shape (K, Dz={latent_dim}) or (B, K, Dz), "
            f"got shape {tuple(z.shape)}"
        )
    check_finite(z, "latent values")
    if z.ndim == 3 and z.shape[0] != batch:
        raise ValueError(f"per-sample latent values must have B={batch} rows, got {z.shape[0]}")
    return z.ndim == 3


def latent_energies(
    latent: LatentEnergy | HasLatentEnergy, y: Tensor, z: Tensor, x: Tensor | None = None
) -> Tensor:
    """``E(x_b, y_b, z_k)`` for every sample and every latent value, in one batched call.

    Calls :meth:`LatentEnergy.energy_table` once (by default one :meth:`forward` on
    ``B·K`` rows; no Python loop over ``z``).

    Args:
        latent: The latent energy: a :class:`LatentEnergy` or any object with
            ``latent_energy(y, z, x=None)`` and ``latent_dim``
            (:class:`~eblearn.energy.HasLatentEnergy`).
        y: Answers, shape ``(B, ...)``.
        z: Latent values, shared ``(K, Dz)`` or per-sample ``(B, K, Dz)``.
        x: Observations ``(B, ...)`` or ``None``.

    Returns:
        Tensor of shape ``(B, K)``.

    Example:
        >>> from eblearn.energy.models import DecoderLatentEnergy
        >>> latent = DecoderLatentEnergy(2, latent_dim=1)
        >>> latent_energies(latent, torch.randn(3, 2), torch.randn(1000, 1)).shape
        torch.Size([3, 1000])
    """
    latent = as_latent_energy(latent)
    check_answers(y, x)
    batch = y.shape[0]
    per_sample = _check_latent_set(z, batch, latent.latent_dim)
    z = z.to(device=y.device, dtype=y.dtype)  # a grid built on the CPU follows the data
    values = latent.energy_table(y, expand_options(z, batch, per_sample), x)
    if values.shape != (batch, z.shape[-2]):
        raise ValueError(
            f"{type(latent).__name__}.energy_table must return shape (B, K) = "
            f"({batch}, {z.shape[-2]}), got {tuple(values.shape)}"
        )
    return values


def soft_minimum(energies: Tensor, beta: float, log_weights: Tensor | float = 0.0) -> Tensor:
    """``-1/β log Σ_k w_k exp(-β E_k)`` over the last dimension (``min_k E_k`` at β = ∞).

    Args:
        energies: Shape ``(..., K)``.
        beta: Inverse temperature ``β > 0`` (``math.inf`` allowed).
        log_weights: ``log w_k``, broadcastable to ``energies`` (ignored at β = ∞).

    Example:
        >>> e = torch.tensor([[0.0, 1.0]])
        >>> soft_minimum(e, math.inf), soft_minimum(e, 1.0)
        (tensor([0.]), tensor([-0.3133]))
    """
    _check_beta(beta)
    if math.isinf(beta):
        return energies.min(dim=-1).values
    return -torch.logsumexp(-beta * energies + log_weights, dim=-1) / beta


def _descent_minimum(
    latent: LatentEnergy, y: Tensor, x: Tensor | None, method: GradientDescent
) -> tuple[Tensor, Tensor]:
    """(ž (B, Dz), E(x, y, ž) (B,) with graph) by multi-start projected descent."""
    batch, dz = y.shape[0], latent.latent_dim
    starts = method.starts
    if starts is None:
        starts = torch.zeros(1, dz, device=y.device, dtype=y.dtype)
    if starts.ndim != 2 or starts.shape[1] != dz:
        raise ValueError(f"starts must have shape (S, Dz={dz}), got {tuple(starts.shape)}")
    s = starts.shape[0]
    flat_y, flat_x = repeat_each(y, s), repeat_each(x, s)
    z0 = starts.to(y).repeat(batch, 1)  # (B·S, Dz), sample-major
    project = make_projection(method.bounds, method.project)
    z = projected_descent(
        lambda v: latent(flat_y.detach(), v, None if flat_x is None else flat_x.detach()),
        z0,
        method.steps,
        method.step_size,
        method.momentum,
        project,
    )
    values = latent(flat_y, z, flat_x)
    check_energy_output(values, batch * s, latent)
    best = values.view(batch, s).argmin(dim=1)
    rows = torch.arange(batch, device=y.device) * s + best
    return z[rows], values[rows]


def _latent_hessian(latent: LatentEnergy, y: Tensor, z: Tensor, x: Tensor | None) -> Tensor:
    """Per-sample Hessians ``∂²E/∂z²``, shape ``(B, Dz, Dz)`` (Dz backward passes)."""
    create = torch.is_grad_enabled()
    with torch.enable_grad():
        point = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(latent(y, point, x).sum(), point, create_graph=True)
        rows = [
            torch.autograd.grad(grad[:, i].sum(), point, create_graph=create, retain_graph=True)[0]
            for i in range(z.shape[1])
        ]
    return torch.stack(rows, dim=1)


def _monte_carlo_samples(
    method: MonteCarlo, batch: int, dz: int, like: Tensor
) -> tuple[Tensor, Tensor]:
    """z samples (B, S, Dz) and their proposal log-densities (B, S)."""
    shape = (batch, method.n_samples, dz)
    if method.n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {method.n_samples}")
    gen = method.generator
    if (method.low is None) != (method.high is None):
        raise ValueError("give both low and high for a uniform proposal, or neither")
    if method.low is not None:
        low = torch.as_tensor(method.low, dtype=like.dtype, device=like.device).expand(dz)
        high = torch.as_tensor(method.high, dtype=like.dtype, device=like.device).expand(dz)
        if bool((high <= low).any()):
            raise ValueError(f"need low < high, got {method.low} and {method.high}")
        u = torch.rand(shape, generator=gen, dtype=like.dtype).to(like.device)
        z = low + (high - low) * u
        log_q = -torch.log(high - low).sum().expand(batch, method.n_samples)
        return z, log_q
    if not method.scale > 0:
        raise ValueError(f"scale must be > 0, got {method.scale}")
    noise = torch.randn(shape, generator=gen, dtype=like.dtype).to(like.device)
    log_q = -0.5 * noise.pow(2).sum(-1) - dz * (
        math.log(method.scale) + 0.5 * math.log(2 * math.pi)
    )
    return method.scale * noise, log_q


def free_energy(
    latent: LatentEnergy | HasLatentEnergy,
    y: Tensor,
    x: Tensor | None = None,
    *,
    method: Method,
    beta: float = math.inf,
) -> Tensor:
    """The free energy ``F_β(x, y) = -1/β log ∫ exp(-β E(x, y, z)) dz`` (``min_z E`` at β = ∞).

    Args:
        latent: The latent energy ``E(x, y, z)``: a :class:`LatentEnergy` or any object with
            ``latent_energy(y, z, x=None)`` and ``latent_dim`` (a K-means, a GMM, a VAE...).
        y: Answers, shape ``(B, ...)``.
        x: Observations ``(B, ...)`` or ``None``.
        method: :class:`Enumerate`, :class:`GradientDescent` or :class:`MonteCarlo`.
        beta: Inverse temperature ``β > 0``; ``math.inf`` for the zero-temperature minimum.

    Returns:
        Tensor of shape ``(B,)``, differentiable with respect to ``y`` and the parameters.

    Raises:
        ValueError: If ``beta <= 0``, shapes disagree, or (Laplace at finite β) the Hessian
            at the minimum is not positive definite.

    Example:
        >>> from eblearn.energy.models import DecoderLatentEnergy
        >>> latent = DecoderLatentEnergy(2, latent_dim=1, periodic=True)
        >>> grid = torch.linspace(0, 2 * math.pi, 65)[:-1, None]
        >>> y = torch.randn(4, 2)
        >>> f_inf = free_energy(latent, y, method=Enumerate(grid))
        >>> f_2 = free_energy(latent, y, method=Enumerate(grid, 2 * math.pi / 64), beta=2.0)
        >>> # ∫ exp(-βE) dz ≤ 2π exp(-β F∞), so F_β ≥ F∞ - log(2π)/β
        >>> bool((f_2 >= f_inf - math.log(2 * math.pi) / 2.0 - 1e-5).all())
        True
    """
    _check_beta(beta)
    latent = as_latent_energy(latent)
    check_answers(y, x)
    if isinstance(method, Enumerate):
        energies = latent_energies(latent, y, method.grid, x)
        if not method.cell_volume > 0:
            raise ValueError(f"cell_volume must be > 0, got {method.cell_volume}")
        return soft_minimum(energies, beta, math.log(method.cell_volume))
    if isinstance(method, GradientDescent):
        z, values = _descent_minimum(latent, y, x, method)
        if math.isinf(beta):
            return values
        hessian = _latent_hessian(latent, y, z, x)
        sign, logdet = torch.linalg.slogdet(beta * hessian / (2 * math.pi))
        if bool((sign <= 0).any()):
            raise ValueError(
                "the Laplace approximation needs a positive-definite Hessian of E in z at the "
                "minimum; use Enumerate or MonteCarlo for this energy, or beta=math.inf"
            )
        return values + 0.5 * logdet / beta
    if isinstance(method, MonteCarlo):
        z, log_q = _monte_carlo_samples(method, y.shape[0], latent.latent_dim, y)
        energies = latent_energies(latent, y, z, x)
        return soft_minimum(energies, beta, -log_q - math.log(method.n_samples))
    raise ValueError(
        f"method must be Enumerate, GradientDescent or MonteCarlo, got {type(method).__name__}"
    )


def infer_latent(
    latent: LatentEnergy | HasLatentEnergy, y: Tensor, x: Tensor | None = None, *, method: Method
) -> Tensor:
    """``ž = argmin_z E(x, y, z)``: the best grid point, descent solution or sample.

    Args:
        latent: The latent energy.
        y: Answers, shape ``(B, ...)``.
        x: Observations or ``None``.
        method: :class:`Enumerate`, :class:`GradientDescent` or :class:`MonteCarlo`.

    Returns:
        Tensor of shape ``(B, Dz)``, detached.

    Example:
        >>> from eblearn.energy.models import DecoderLatentEnergy
        >>> latent = DecoderLatentEnergy(2, latent_dim=1)
        >>> infer_latent(latent, torch.randn(5, 2), method=GradientDescent(steps=10)).shape
        torch.Size([5, 1])
    """
    latent = as_latent_energy(latent)
    check_answers(y, x)
    with torch.no_grad():
        if isinstance(method, GradientDescent):
            return _descent_minimum(latent, y, x, method)[0].detach()
        if isinstance(method, Enumerate):
            z = method.grid
        elif isinstance(method, MonteCarlo):
            z = _monte_carlo_samples(method, y.shape[0], latent.latent_dim, y)[0]
        else:
            raise ValueError(
                "method must be Enumerate, GradientDescent or MonteCarlo, "
                f"got {type(method).__name__}"
            )
        energies = latent_energies(latent, y, z, x)
        z = expand_options(z.to(device=y.device, dtype=y.dtype), y.shape[0], z.ndim == 3)
        best = energies.argmin(dim=1)
        return z[torch.arange(y.shape[0], device=z.device), best]


class FreeEnergy(Energy):
    """The :class:`Energy` ``F_β(x, y)`` of a :class:`LatentEnergy`, for samplers and losses.

    Args:
        latent: The latent energy ``E(x, y, z)``.
        method: How ``z`` is eliminated (:class:`Enumerate`, :class:`GradientDescent`,
            :class:`MonteCarlo`).
        beta: Inverse temperature; ``math.inf`` (default) for ``min_z``.

    Example:
        >>> from eblearn.energy.models import DecoderLatentEnergy
        >>> grid = torch.linspace(-2, 2, 41)[:, None]
        >>> energy = FreeEnergy(DecoderLatentEnergy(2, latent_dim=1), Enumerate(grid))
        >>> energy(torch.randn(6, 2)).shape
        torch.Size([6])
    """

    def __init__(
        self, latent: LatentEnergy | HasLatentEnergy, method: Method, beta: float = math.inf
    ) -> None:
        super().__init__()
        _check_beta(beta)
        self.latent = as_latent_energy(latent)
        self.method = method
        self.beta = beta

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        return free_energy(self.latent, y, x, method=self.method, beta=self.beta)
