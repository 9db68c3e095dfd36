"""Noisy autoencoder: Gaussian noise added to a norm-bounded code.

The code is projected onto the ball of radius ``r``, ``z = Enc(y) · min(1, r / ||Enc(y)||)``,
and training decodes ``z + σε``, ``ε ~ N(0, I)``. The bound keeps the encoder from drowning
the noise by scaling its code up, so the code carries a limited amount of information: for a
``K``-dimensional code, at most the capacity of a Gaussian channel with that power,
``(K/2) log2(1 + r² / (K σ²))`` bits. That limit, not the code size, bounds the volume of low
energy (LeCun's taxonomy of regularized latent-variable energy models; the VAE's noise and KL
play the same role).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int, check_real
from eblearn.latent.nets import mlp


def project_to_ball(z: Tensor, radius: float) -> Tensor:
    """``z · min(1, r / ||z||)`` row-wise: the nearest point of the ball ``||z|| ≤ r``.

    Example:
        >>> project_to_ball(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0)
        tensor([[0.6000, 0.8000],
                [0.3000, 0.4000]])
    """
    norms = z.norm(dim=-1, keepdim=True)
    return z * (radius / norms.clamp_min(1e-12)).clamp(max=1.0)


class NoisyAutoencoder(nn.Module):
    """An autoencoder whose code is norm-bounded and then corrupted by Gaussian noise.

    Energy: ``E(y) = ||y - Dec(z)||²`` at the bounded, noise-free code ``z``. Inference:
    amortized. Strategy: regularized; training minimizes ``||y - Dec(z + σε)||²``, and the
    bound ``||z|| ≤ r`` caps the information the code carries at
    ``(K/2) log2(1 + r²/(Kσ²))`` bits (:attr:`capacity_bits`).

    Args:
        n_features: Input size ``D``.
        code_dim: Code size ``K``.
        hidden: Hidden layer sizes of the encoder (the decoder mirrors them).
        radius: Bound ``r`` on the code's norm.
        noise: Noise standard deviation ``σ``.

    Example:
        >>> nae = NoisyAutoencoder(8, 4, hidden=(16,), radius=1.0, noise=0.5)
        >>> bool(nae.encode(100 * torch.ones(2, 8)).norm(dim=1).le(1.0 + 1e-6).all())
        True
    """

    def __init__(
        self,
        n_features: int,
        code_dim: int,
        hidden: Sequence[int] = (128,),
        radius: float = 1.0,
        noise: float = 0.1,
    ) -> None:
        super().__init__()
        check_int(n_features, "n_features")
        check_int(code_dim, "code_dim")
        check_real(noise, "noise")
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be > 0 and finite, got {radius!r}")
        self.code_dim, self.radius, self.noise = code_dim, float(radius), float(noise)
        self.encoder = mlp([n_features, *hidden, code_dim])
        self.decoder = mlp([code_dim, *reversed(hidden), n_features])

    @property
    def capacity_bits(self) -> float:
        """``(K/2) log2(1 + r²/(Kσ²))``; infinite without noise."""
        k = self.code_dim
        if self.noise == 0:
            return math.inf
        return 0.5 * k * math.log2(1 + self.radius**2 / (k * self.noise**2))

    def encode(self, y: Tensor) -> Tensor:
        """Bounded codes ``(N, K)``, each of norm at most ``r``."""
        check_ndim(y, 2, "y", "(N, D)")
        return project_to_ball(self.encoder(y), self.radius)

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, D)`` from the noise-free codes."""
        return self.decoder(self.encode(y))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``||y - Dec(z)||²`` per sample, ``(N,)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        return (y - self(y)).pow(2).sum(1)

    def loss(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``mean ||y - Dec(z + σε)||²`` with fresh noise ``ε``."""
        z = self.encode(y)
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        return (y - self.decoder(z + self.noise * noise)).pow(2).sum(1).mean()
