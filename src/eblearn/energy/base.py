"""Energies: ``F(x, y)`` (one scalar per sample) and latent energies ``E(x, y, z)``.

An :class:`Energy` scores how compatible an answer ``y`` is with an observation ``x``: low
energy means compatible. Unconditional energies ``F(y)`` ignore ``x``. A
:class:`LatentEnergy` also takes an unobserved variable ``z``; a free energy
(:mod:`eblearn.energy.free_energy`) eliminates it.

``y`` comes first in every signature because it is the variable that inference and samplers
move; ``x`` is the optional observed context.

[0] LeCun, Chopra, Hadsell, Ranzato, Huang, A Tutorial on Energy-Based Learning, 2006,
    http://yann.lecun.com/exdb/publis/pdf/lecun-06.pdf
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import overload

import torch
from torch import Tensor, nn

from eblearn._validate import check_finite

EnergyFn = Callable[..., Tensor]
"""Anything called as ``energy(y, x) -> (B,)``: an :class:`Energy` or a plain function."""


class Energy(nn.Module, ABC):
    """Base class of energies ``F(x, y)``: one scalar per sample, low when y fits x.

    Subclasses implement :meth:`forward`. Everything else in eblearn (free energies,
    inference, samplers, the loss table, score matching) takes an ``Energy`` object.

    Example:
        >>> class Parabola(Energy):
        ...     def forward(self, y, x=None):
        ...         return 0.5 * y.pow(2).sum(dim=1)
        >>> Parabola()(torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
        tensor([2.5000, 0.0000])
    """

    @abstractmethod
    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """The energy of each sample.

        Args:
            y: Answers, shape ``(B, ...)`` (``(B, D)`` for vectors).
            x: Observations, shape ``(B, ...)``, or ``None`` for an unconditional energy.

        Returns:
            Tensor of shape ``(B,)``.
        """


class LatentEnergy(nn.Module, ABC):
    """Base class of latent-variable energies ``E(x, y, z)``.

    Attributes:
        latent_dim: Size ``Dz`` of the latent variable ``z``.
    """

    latent_dim: int

    @abstractmethod
    def forward(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """The energy of each sample.

        Args:
            y: Answers, shape ``(B, ...)``.
            z: Latent variables, shape ``(B, Dz)``.
            x: Observations, shape ``(B, ...)``, or ``None``.

        Returns:
            Tensor of shape ``(B,)``.
        """

    def energy_table(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(x_b, y_b, z_k)`` for every sample ``b`` and latent value ``k``: shape ``(B, K)``.

        The default pairs every sample with every value and makes **one** batched call of
        :meth:`forward` on ``B·K`` rows. Subclasses may override it when part of the energy
        does not depend on the sample (a decoder of ``z`` alone is evaluated ``K`` times, not
        ``B·K``). Inputs are validated by :func:`eblearn.energy.latent_energies`.

        Args:
            y: Answers, shape ``(B, ...)``.
            z: Latent values, shape ``(B, K, Dz)``.
            x: Observations ``(B, ...)`` or ``None``.
        """
        batch, k = z.shape[:2]
        values = self(repeat_each(y, k), z.reshape(batch * k, -1), repeat_each(x, k))
        check_energy_output(values, batch * k, self)
        return values.view(batch, k)


class FunctionEnergy(Energy):
    """An :class:`Energy` from a plain function ``fn(y, x) -> (B,)`` (or ``fn(y)``).

    Args:
        fn: The energy function.
        conditional: Whether ``fn`` takes ``x`` as a second argument.

    Example:
        >>> energy = FunctionEnergy(lambda y: y.pow(2).sum(dim=1))
        >>> energy(torch.ones(3, 2))
        tensor([2., 2., 2.])
    """

    def __init__(self, fn: Callable[..., Tensor], conditional: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.conditional = conditional

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        return self.fn(y, x) if self.conditional else self.fn(y)


def check_answers(y: Tensor, x: Tensor | None, what: str = "y") -> None:
    """Raises ``ValueError`` unless ``y`` is a finite batch and ``x`` (if any) matches it."""
    if y.ndim < 2:
        raise ValueError(
            f"{what} must be a batch of shape (B, ...) such as (B, D), got shape {tuple(y.shape)}"
        )
    check_finite(y, what)
    if x is not None and x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and {what} must hold the same number of samples, got {x.shape[0]} and {y.shape[0]}"
        )


def check_energy_output(energies: Tensor, batch: int, source: object) -> None:
    """Raises ``ValueError`` unless ``energies`` has shape ``(batch,)``."""
    if energies.shape != (batch,):
        raise ValueError(
            f"{type(source).__name__} must return one energy per sample, shape ({batch},), "
            f"got shape {tuple(energies.shape)}"
        )


def energy_and_grad(
    energy: EnergyFn,
    y: Tensor,
    x: Tensor | None = None,
    create_graph: bool = False,
) -> tuple[Tensor, Tensor]:
    """The energies ``F(x, y)`` and their gradients ``∇_y F`` in one forward-backward pass.

    Parameters of ``energy`` receive no gradient (``torch.autograd.grad`` is taken with
    respect to ``y`` only), so samplers can run inside a training step.

    Args:
        energy: An :class:`Energy` (or a callable ``(y, x) -> (B,)``).
        y: Answers, shape ``(B, ...)``.
        x: Observations or ``None``.
        create_graph: Keep the graph of the gradient (for losses on the gradient, such as
            score matching); then ``y`` is used as given instead of a detached copy.

    Returns:
        ``(energies (B,), gradient (B, ...))``; both detached unless ``create_graph``.
    """
    with torch.enable_grad():
        if create_graph:
            point = y if y.requires_grad else y.detach().requires_grad_(True)
        else:
            point = y.detach().requires_grad_(True)
        values = energy(point, x)
        check_energy_output(values, y.shape[0], energy)
        (grad,) = torch.autograd.grad(values.sum(), point, create_graph=create_graph)
    if create_graph:
        return values, grad
    return values.detach(), grad.detach()


@overload
def repeat_each(t: Tensor, k: int) -> Tensor: ...


@overload
def repeat_each(t: None, k: int) -> None: ...


def repeat_each(t: Tensor | None, k: int) -> Tensor | None:
    """Each sample of ``t`` (shape ``(B, ...)``) repeated ``k`` times in a row: ``(B·k, ...)``.

    Row ``b·k + j`` is sample ``b``; ``None`` stays ``None``.
    """
    if t is None:
        return None
    return t.unsqueeze(1).expand(t.shape[0], k, *t.shape[1:]).reshape(-1, *t.shape[1:])


def expand_options(options: Tensor, batch: int, per_sample: bool) -> Tensor:
    """Options for every sample, shape ``(B, K, ...)``.

    Args:
        options: Shared options ``(K, ...)`` (``per_sample=False``) or per-sample options
            ``(B, K, ...)``.
        batch: The batch size ``B``.
        per_sample: Whether ``options`` already holds one set per sample.
    """
    if per_sample:
        if options.shape[0] != batch:
            raise ValueError(
                f"per-sample options must have shape (B={batch}, K, ...), "
                f"got shape {tuple(options.shape)}"
            )
        return options
    return options.unsqueeze(0).expand(batch, *options.shape)
