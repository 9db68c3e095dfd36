"""What the classical estimators share: scikit-learn's conventions on torch tensors.

Hyper-parameters are stored unchanged in ``__init__`` (no work there), ``fit`` returns
``self``, learned state ends in ``_``, and data may be a torch tensor on any device (the
fitted state lives on that device) or anything ``numpy.asarray`` takes (turned into a CPU
tensor; integers become the default float type). Half-precision data (float16, bfloat16)
is computed in float32, so the fitted state is float32: torch has no CPU kernels for several
of the steps in half precision, and its 3 significant digits cannot hold the sums of the
M-steps and Lloyd updates. Complex data is refused: these models are defined on real vectors.
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eblearn._validate import check_finite


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs the learned state is called before ``fit``.

    Like scikit-learn's, it is both a ``ValueError`` and an ``AttributeError``.
    """


class TorchEstimator:
    """Base class: ``get_params``/``set_params``, a readable ``repr`` and input checks."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters, as passed to ``__init__`` (scikit-learn's convention)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> TorchEstimator:
        """Sets hyper-parameters by name and returns ``self``.

        Raises:
            ValueError: On a name ``__init__`` does not take (the message lists valid ones).
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; valid: {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            same = isinstance(value, (int, float, str, bool, type(None))) and value == default
            if not same:
                shown = f"Tensor{tuple(value.shape)}" if isinstance(value, Tensor) else repr(value)
                changed.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) before using it"
            )

    def _reference(self) -> Tensor:
        """A fitted tensor whose device and dtype new inputs must match."""
        raise NotImplementedError

    def _check_input(self, X: Any, what: str = "X") -> Tensor:
        """``X`` as a 2-D float tensor with the fitted width, device and dtype."""
        reference = self._reference()
        x = as_data(X, what, min_samples=1)
        if x.shape[1] != reference.shape[-1]:
            raise ValueError(
                f"{what} has {x.shape[1]} features, but {type(self).__name__} was fitted on "
                f"{reference.shape[-1]}"
            )
        if x.device != reference.device:
            raise ValueError(
                f"{what} is on {x.device} but {type(self).__name__} was fitted on "
                f"{reference.device}; move the data with .to({str(reference.device)!r})"
            )
        return x.to(reference.dtype)


def as_data(X: Any, what: str = "X", min_samples: int = 1) -> Tensor:
    """Checks data and returns it as a floating-point tensor of shape ``(N, D)``.

    Args:
        X: A tensor (kept on its device) or array-like of shape ``(N, D)``.
        what: Name used in error messages.
        min_samples: Fewest rows accepted.

    Integers become the default float type, float16 and bfloat16 become float32.

    Raises:
        ValueError: If ``X`` is complex, is not 2-D, has too few rows or no columns, or holds
            NaN or Inf.

    Example:
        >>> as_data([[1, 2], [3, 4]]).dtype
        torch.float32
        >>> as_data(torch.ones(2, 2, dtype=torch.float16)).dtype
        torch.float32
        >>> as_data([1.0, 2.0])
        Traceback (most recent call last):
        ...
        ValueError: X must be a 2-D array of shape (N, D), got shape (2,)
        >>> as_data([[1 + 2j, 0]])
        Traceback (most recent call last):
        ...
        ValueError: X holds complex values (dtype torch.complex128); ... pass real values ...
    """
    x = X if isinstance(X, Tensor) else torch.as_tensor(np.asarray(X))
    if x.is_complex():
        raise ValueError(
            f"{what} holds complex values (dtype {x.dtype}); these models are defined on real "
            f"vectors: pass real values (e.g. {what}.real, {what}.abs(), or real and imaginary "
            "parts as separate features)"
        )
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array of shape (N, D), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    elif x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if x.shape[0] < min_samples:
        raise ValueError(f"{what} needs at least {min_samples} sample(s), got {x.shape[0]}")
    if x.shape[1] < 1:
        raise ValueError(f"{what} has no features (shape {tuple(x.shape)})")
    if not bool(torch.isfinite(x.sum())):  # one reduction; the full scan only on failure
        check_finite(x, what)
    return x


def make_generator(
    random_state: int | torch.Generator | None, device: torch.device
) -> torch.Generator:
    """A generator on ``device``: seeded by ``random_state``, or drawn from torch's global one.

    ``None`` draws the seed from the global generator, so ``torch.manual_seed`` makes runs
    repeatable, as ``np.random.seed`` does for scikit-learn.
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    seed = int(torch.randint(0, 2**62, (1,)).item()) if random_state is None else int(random_state)
    return torch.Generator(device=device).manual_seed(seed)


def as_codes(codes: Any, y: Tensor, k: int) -> Tensor:
    """Latent codes ``z`` ``(N, K)`` for the ``N`` rows of ``y``, on ``y``'s device and dtype.

    Raises:
        ValueError: If the codes are complex or not of shape ``(N, K)``.

    Example:
        >>> as_codes([[1, 0]], torch.zeros(1, 3), 2)
        tensor([[1., 0.]])
    """
    z = torch.as_tensor(codes)
    if z.is_complex():
        raise ValueError(f"codes hold complex values (dtype {z.dtype}); pass real codes")
    z = z.to(device=y.device, dtype=y.dtype)
    if z.shape != (len(y), k):
        raise ValueError(f"codes must have shape ({len(y)}, {k}), got {tuple(z.shape)}")
    return z


def check_int(value: Any, name: str, minimum: int = 1) -> None:
    """Raises ``ValueError`` unless ``value`` is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_real(value: Any, name: str, minimum: float = 0.0) -> None:
    """Raises ``ValueError`` unless ``value`` is a finite real number ``>= minimum`` (a Python
    or numpy number, or a one-element real tensor).

    Example:
        >>> check_real(float("nan"), "tol")
        Traceback (most recent call last):
        ...
        ValueError: tol must be >= 0 and finite, got nan
    """
    if isinstance(value, Tensor) and value.numel() == 1 and value.is_floating_point():
        value = value.item()
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not float(value) >= minimum
    ):
        raise ValueError(f"{name} must be >= {minimum:g} and finite, got {value!r}")
