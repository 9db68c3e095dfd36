"""eblearn: energy-based self-supervised learning on PyTorch.

Every model is an energy function ``F(x, y)`` (low on data, higher elsewhere), an inference
procedure (``argmin`` over ``y`` or a latent ``z``) and a training strategy that keeps the
energy from collapsing (contrastive points, or a limit on the volume of low energy).

The package is organised from the ground up: ``data``, ``energy``, ``losses``, ``sampling``,
``nn``, ``latent``, ``methods``, ``evaluate``, ``train``, ``world``, ``plot``, ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
