"""Saturating autoencoder: a penalty that pushes the encoder's units into their flat regions.

For an activation ``f`` with saturation set ``S = {a : f'(a) = 0}``, the complementary
nonlinearity is the distance to it, ``f_c(a) = inf_{s ∈ S} |a - s|`` [0]. Penalizing
``Σ_j f_c(a_j)`` at the encoder's pre-activations ``a = W y + b`` drives units into regions
where the code does not change with the input, so only inputs near the data, which the
reconstruction needs, keep units in their linear regions; elsewhere the code is constant and
the energy grows. For the two activations here:

- ``relu`` (``f(a) = max(a, 0)``, ``S = (-∞, 0]``): ``f_c(a) = max(a, 0)``, an L1 penalty on
  the code, as in a sparse autoencoder;
- ``saturated-linear`` (``f(a) = min(max(a, 0), 1)``, ``S = (-∞, 0] ∪ [1, ∞)``):
  ``f_c(a) = min(max(a, 0), max(1 - a, 0))``.

[0] Goroshin, LeCun, Saturating Auto-Encoders, ICLR 2013, https://arxiv.org/abs/1301.3577
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice, check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int, check_real

ACTIVATIONS = ("relu", "saturated-linear")


def saturating_activation(a: Tensor, kind: str) -> Tensor:
    """``f(a)``: ``max(a, 0)`` (``relu``) or ``min(max(a, 0), 1)`` (``saturated-linear``).

    Example:
        >>> saturating_activation(torch.tensor([-1.0, 0.5, 2.0]), "saturated-linear")
        tensor([0.0000, 0.5000, 1.0000])
    """
    check_choice(kind, ACTIVATIONS, "activation")
    return a.clamp_min(0) if kind == "relu" else a.clamp(0, 1)


def complementary_nonlinearity(a: Tensor, kind: str) -> Tensor:
    """``f_c(a)``, the distance of ``a`` to the saturation set of ``f`` (elementwise).

    Example:
        >>> complementary_nonlinearity(torch.tensor([-1.0, 0.25, 0.5, 2.0]), "saturated-linear")
        tensor([0.0000, 0.2500, 0.5000, 0.0000])
    """
    check_choice(kind, ACTIVATIONS, "activation")
    if kind == "relu":
        return a.clamp_min(0)
    return torch.minimum(a.clamp_min(0), (1 - a).clamp_min(0))


class SaturatingAutoencoder(nn.Module):
    """A saturating autoencoder (SATAE): one saturating encoder layer, a linear decoder and the
    penalty ``η Σ_j f_c(a_j)`` [0].

    Energy: ``E(y) = ||y - Dec(f(W y + b))||²``. Inference: amortized. Strategy: regularized;
    the saturation penalty makes the code constant away from the data, which bounds the volume
    of low reconstruction energy.

    Args:
        n_features: Input size ``D``.
        code_dim: Code size ``K``.
        eta: Weight ``η`` of the saturation penalty.
        activation: ``"relu"`` or ``"saturated-linear"``.

    Example:
        >>> sat = SaturatingAutoencoder(8, 4, eta=0.1)
        >>> sat.loss(torch.zeros(3, 8)).shape
        torch.Size([])
    """

    def __init__(
        self,
        n_features: int,
        code_dim: int,
        eta: float = 0.1,
        activation: str = "saturated-linear",
    ) -> None:
        super().__init__()
        check_int(n_features, "n_features")
        check_int(code_dim, "code_dim")
        check_real(eta, "eta")
        check_choice(activation, ACTIVATIONS, "activation")
        self.eta, self.activation = eta, activation
        self.encoder = nn.Linear(n_features, code_dim)
        self.decoder = nn.Linear(code_dim, n_features)

    def preactivation(self, y: Tensor) -> Tensor:
        """``a = W y + b``, shape ``(N, K)``."""
        check_ndim(y, 2, "y", "(N, D)")
        return self.encoder(y)

    def encode(self, y: Tensor) -> Tensor:
        """Codes ``f(a)`` ``(N, K)``."""
        return saturating_activation(self.preactivation(y), self.activation)

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, D)``."""
        return self.decoder(self.encode(y))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``||y - Dec(f(a))||²`` per sample, ``(N,)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        return (y - self(y)).pow(2).sum(1)

    def penalty(self, y: Tensor) -> Tensor:
        """``Σ_j f_c(a_j)`` per sample, ``(N,)``."""
        return complementary_nonlinearity(self.preactivation(y), self.activation).sum(1)

    def loss(self, y: Tensor) -> Tensor:
        """``mean(||y - Dec(f(a))||² + η Σ_j f_c(a_j))`` over the batch."""
        a = self.preactivation(y)
        reconstruction = (y - self.decoder(saturating_activation(a, self.activation))).pow(2)
        penalty = complementary_nonlinearity(a, self.activation).sum(1)
        return (reconstruction.sum(1) + self.eta * penalty).mean()
