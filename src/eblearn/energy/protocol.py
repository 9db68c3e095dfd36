"""The energy protocol: any object with an ``energy`` method is an :class:`Energy`.

Models keep their own classes (a scikit-learn-style estimator, a self-supervised method, a
world model) and expose the energy view through two methods:

* :class:`HasEnergy`: ``energy(y, x=None) -> (B,)``, the energy ``F(x, y)``; for a model with
  a latent variable, its free energy (``z`` eliminated by the model's own inference);
* :class:`HasLatentEnergy`: ``latent_energy(y, z, x=None) -> (B,)``, the latent energy
  ``E(x, y, z)``, and ``latent_dim``, the size ``Dz`` of ``z``.

:func:`as_energy` and :func:`as_latent_energy` turn such an object into an
:class:`~eblearn.energy.base.Energy` / :class:`~eblearn.energy.base.LatentEnergy` module, so
inference (:func:`~eblearn.energy.infer_descent`), free energies
(:func:`~eblearn.energy.free_energy`) and samplers (:mod:`eblearn.sampling`) take any of
them; they call these adapters at their entry points.

The two protocols use different method names so that ``isinstance`` tells them apart (a
runtime-checkable protocol checks names, not signatures): a latent model has both.

Example:
    >>> import torch
    >>> class Parabola:
    ...     def energy(self, y, x=None):
    ...         return y.pow(2).sum(1)
    >>> isinstance(Parabola(), HasEnergy)
    True
    >>> as_energy(Parabola())(torch.ones(2, 3))
    tensor([3., 3.])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from eblearn.energy.base import Energy, FunctionEnergy, LatentEnergy

__all__ = [
    "EnergyLike",
    "HasEnergy",
    "HasLatentEnergy",
    "ModelEnergy",
    "ModelLatentEnergy",
    "as_energy",
    "as_latent_energy",
    "check_unconditional",
]


@runtime_checkable
class HasEnergy(Protocol):
    """An object with ``energy(y, x=None) -> Tensor of shape (B,)``: the energy ``F(x, y)``."""

    def energy(self, y: Any, x: Any = None) -> Tensor:
        """One energy per sample of ``y`` (``x`` the observed context or ``None``)."""
        ...


@runtime_checkable
class HasLatentEnergy(Protocol):
    """An object with ``latent_energy(y, z, x=None) -> (B,)`` and ``latent_dim``: ``E(x, y, z)``."""

    @property
    def latent_dim(self) -> int:
        """Size ``Dz`` of the latent variable ``z``."""
        ...

    def latent_energy(self, y: Any, z: Any, x: Any = None) -> Tensor:
        """One energy per sample of ``y`` at the latent values ``z`` ``(B, Dz)``."""
        ...


EnergyLike = Energy | HasEnergy | Callable[..., Tensor]
"""What the entry points take as an energy: an :class:`Energy`, a :class:`HasEnergy` object or
a function ``(y, x) -> (B,)``."""


def _check_output(values: object, batch: int, model: object, what: str) -> Tensor:
    if not isinstance(values, Tensor) or values.shape != (batch,):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(
            f"{type(model).__name__}.{what} must return one energy per sample, shape "
            f"({batch},), got {got}"
        )
    return values


class ModelEnergy(Energy):
    """The :class:`Energy` ``F(x, y) = model.energy(y, x)`` of a :class:`HasEnergy` object.

    If ``model`` is an ``nn.Module`` it becomes a submodule (its parameters and device
    follow the wrapper); otherwise (an estimator) it is kept as a plain attribute.

    Args:
        model: Any object with ``energy(y, x=None)``.
    """

    def __init__(self, model: HasEnergy) -> None:
        super().__init__()
        self.model = model

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        return _check_output(self.model.energy(y, x), y.shape[0], self.model, "energy")


class ModelLatentEnergy(LatentEnergy):
    """The :class:`LatentEnergy` ``E(x, y, z) = model.latent_energy(y, z, x)``.

    Args:
        model: Any object with ``latent_energy(y, z, x=None)`` and ``latent_dim``.
    """

    def __init__(self, model: HasLatentEnergy) -> None:
        super().__init__()
        latent_dim = model.latent_dim
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(
                f"{type(model).__name__} has latent_dim={latent_dim!r}: a latent energy needs "
                "a latent variable of size >= 1"
            )
        self.model = model
        self.latent_dim = latent_dim

    def forward(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        values = self.model.latent_energy(y, z, x)
        return _check_output(values, y.shape[0], self.model, "latent_energy")


def as_energy(obj: object) -> Energy:
    """The :class:`Energy` of ``obj``, for inference, samplers and losses.

    * an :class:`Energy` is returned as is;
    * an object with ``energy(y, x=None)`` (:class:`HasEnergy`) is wrapped in
      :class:`ModelEnergy`;
    * a plain function ``fn(y, x) -> (B,)`` is wrapped in
      :class:`~eblearn.energy.base.FunctionEnergy`.

    Args:
        obj: The energy, model or function.

    Raises:
        TypeError: For a :class:`LatentEnergy` (eliminate ``z`` first with
            :class:`~eblearn.energy.FreeEnergy`) or any other object; the message names the
            method needed.

    Example:
        >>> as_energy(object())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: object does not expose an energy: it needs a method energy(y, x=None) ...
    """
    if isinstance(obj, Energy):
        return obj
    if isinstance(obj, HasEnergy):
        return ModelEnergy(obj)
    if isinstance(obj, LatentEnergy) or (
        isinstance(obj, HasLatentEnergy) and not isinstance(obj, HasEnergy)
    ):
        raise TypeError(
            f"{type(obj).__name__} is a latent energy E(x, y, z), not an energy F(x, y): "
            "eliminate z first, e.g. FreeEnergy(as_latent_energy(model), method=Enumerate(...))"
        )
    if callable(obj):
        return FunctionEnergy(obj, conditional=True)
    raise TypeError(
        f"{type(obj).__name__} does not expose an energy: it needs a method "
        "energy(y, x=None) returning a Tensor of shape (B,) (the HasEnergy protocol of "
        "eblearn.energy), or to be a function (y, x) -> (B,)"
    )


def as_latent_energy(obj: object) -> LatentEnergy:
    """The :class:`LatentEnergy` of ``obj``, for free energies and latent inference.

    A :class:`LatentEnergy` is returned as is; an object with ``latent_energy(y, z, x=None)``
    and ``latent_dim`` (:class:`HasLatentEnergy`) is wrapped in :class:`ModelLatentEnergy`.

    Raises:
        TypeError: For any other object; the message names what is needed.
        ValueError: If ``latent_dim`` is not an integer >= 1.

    Example:
        >>> import torch
        >>> from eblearn.latent import KMeans
        >>> km = KMeans(2, random_state=0).fit(torch.tensor([[0.0], [0.2], [4.0], [4.2]]))
        >>> from eblearn.energy import Enumerate, free_energy
        >>> one_hot = torch.eye(2, dtype=torch.float64)
        >>> free_energy(as_latent_energy(km), torch.tensor([[1.1]]), method=Enumerate(one_hot))
        tensor([1.])
    """
    if isinstance(obj, LatentEnergy):
        return obj
    if isinstance(obj, HasLatentEnergy):
        return ModelLatentEnergy(obj)
    raise TypeError(
        f"{type(obj).__name__} does not expose a latent energy: it needs a method "
        "latent_energy(y, z, x=None) returning a Tensor of shape (B,) and an integer "
        "attribute latent_dim (the HasLatentEnergy protocol of eblearn.energy)"
    )


def check_unconditional(model: object, x: object) -> None:
    """Raises ``ValueError`` unless ``x`` is ``None``: ``model``'s energy ``F(y)`` has no context.

    Example:
        >>> import torch
        >>> check_unconditional(object(), torch.zeros(2, 1))
        Traceback (most recent call last):
        ...
        ValueError: object has an unconditional energy F(y): x must be None, got shape (2, 1)
    """
    if x is not None:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{type(model).__name__} has an unconditional energy F(y): x must be None, "
            f"got shape {shape}"
        )
