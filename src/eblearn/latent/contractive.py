"""Contracting autoencoder: reconstruction plus the squared Frobenius norm of the encoder's
Jacobian.

With a sigmoid encoder layer ``h = σ(W y + b)`` (``W`` of shape ``(K, D)``), the Jacobian is
``∂h_j/∂y_i = h_j (1 - h_j) W_ji``, so its squared Frobenius norm has the closed form

``||∂h/∂y||²_F = Σ_j (h_j (1 - h_j))² Σ_i W_ji²``,

computed in ``O(K·D)`` without forming the Jacobian [0]. The penalty makes the code locally
insensitive to the input except along the directions the reconstruction needs, i.e. along
the data manifold.

[0] Rifai, Vincent, Muller, Glorot, Bengio, Contractive Auto-Encoders: Explicit Invariance
    During Feature Extraction, ICML 2011,
    https://icml.cc/2011/papers/455_icmlpaper.pdf
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int, check_real


def contraction_penalty(codes: Tensor, weight: Tensor) -> Tensor:
    """``||∂h/∂y||²_F = Σ_j (h_j(1 - h_j))² Σ_i W_ji²`` per sample for a sigmoid layer.

    Args:
        codes: Sigmoid outputs ``h`` of shape ``(N, K)``.
        weight: The layer's weight ``W`` of shape ``(K, D)``.

    Returns:
        Tensor of shape ``(N,)``.

    Example:
        >>> contraction_penalty(torch.full((1, 2), 0.5), torch.ones(2, 3))
        tensor([0.3750])
    """
    slope = codes * (1 - codes)  # (N, K): σ'(a) = σ(a)(1 - σ(a))
    return slope.pow(2) @ weight.pow(2).sum(1)  # (N,)


class ContractiveAutoencoder(nn.Module):
    """A contracting autoencoder (CAE): a sigmoid encoder layer, a linear decoder, and the
    Jacobian penalty [0].

    Energy: ``E(y) = ||y - Dec(h(y))||²`` with ``h(y) = σ(W y + b)``. Inference: amortized.
    Strategy: regularized; training minimizes ``E(y) + λ ||∂h/∂y||²_F``
    (:func:`contraction_penalty`), which flattens the code, and so the reconstruction, in
    every direction the data do not use: off the data the reconstruction stays on the
    manifold and the energy grows.

    Args:
        n_features: Input size ``D``.
        code_dim: Code size ``K``.
        lam: Weight ``λ`` of the Jacobian penalty.

    Example:
        >>> cae = ContractiveAutoencoder(8, 4, lam=0.1)
        >>> cae.energy(torch.zeros(3, 8)).shape
        torch.Size([3])
    """

    def __init__(self, n_features: int, code_dim: int, lam: float = 0.1) -> None:
        super().__init__()
        check_int(n_features, "n_features")
        check_int(code_dim, "code_dim")
        check_real(lam, "lam")
        self.lam = lam
        self.encoder = nn.Linear(n_features, code_dim)
        self.decoder = nn.Linear(code_dim, n_features)

    def encode(self, y: Tensor) -> Tensor:
        """Codes ``h = σ(W y + b)`` ``(N, K)``."""
        check_ndim(y, 2, "y", "(N, D)")
        return torch.sigmoid(self.encoder(y))

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, D)``."""
        return self.decoder(self.encode(y))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``||y - Dec(h(y))||²`` per sample, ``(N,)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        return (y - self(y)).pow(2).sum(1)

    def penalty(self, y: Tensor) -> Tensor:
        """``||∂h/∂y||²_F`` per sample, ``(N,)``, in closed form."""
        return contraction_penalty(self.encode(y), self.encoder.weight)

    def loss(self, y: Tensor) -> Tensor:
        """``mean(||y - Dec(h(y))||² + λ ||∂h/∂y||²_F)`` over the batch."""
        codes = self.encode(y)
        reconstruction = (y - self.decoder(codes)).pow(2).sum(1)
        return (reconstruction + self.lam * contraction_penalty(codes, self.encoder.weight)).mean()
