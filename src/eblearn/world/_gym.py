"""Lazy import of gymnasium, an optional extra: a clear error when it is missing."""

from __future__ import annotations

from types import ModuleType


def require_gymnasium() -> ModuleType:
    """Returns the ``gymnasium`` module.

    Raises:
        ImportError: If gymnasium is not installed; the message says how to install it.
    """
    try:
        import gymnasium
    except ImportError as error:
        raise ImportError(
            "the gymnasium environments (pendulum, mountaincar) need gymnasium, an optional "
            "extra of eblearn: pip install 'eblearn[world]'"
        ) from error
    return gymnasium
