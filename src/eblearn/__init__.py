"""eblearn: energy-based self-supervised learning on PyTorch.

Every model is an energy function ``F(x, y)`` (low on data, higher elsewhere), an inference
procedure (``argmin`` over ``y`` or a latent ``z``) and a training strategy that keeps the
energy from collapsing (contrastive points, or a limit on the volume of low energy).

The package is organised from the ground up: ``data``, ``energy``, ``losses``, ``sampling``,
``nn``, ``latent``, ``methods``, ``evaluate``, ``train``, ``world``, ``plot``, ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_encoder"]

if TYPE_CHECKING:
    from eblearn.app.export import load_encoder


def __getattr__(name: str) -> Any:
    """``eblearn.load_encoder`` is imported on first use, so ``import eblearn`` stays light."""
    if name == "load_encoder":
        from eblearn.app.export import load_encoder

        return load_encoder
    raise AttributeError(f"module 'eblearn' has no attribute {name!r}")
