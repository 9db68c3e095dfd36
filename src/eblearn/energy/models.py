"""Trainable energies for small problems: an MLP energy and a decoder latent energy.

* :class:`MLPEnergy`: ``F(x, y) = softplus(MLP([x, y]))``, non-negative, so that a loss
  that only pushes data energies down can drive it to zero everywhere (collapse) but not to
  minus infinity.
* :class:`DecoderLatentEnergy`: ``E(x, y, z) = ||y - Dec(x, z)||²``, low on the curve the
  decoder traces as ``z`` varies; with a 1-D ``z`` the volume of low energy is limited by the
  architecture itself (the regularized/architectural strategy).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.energy.base import Energy, LatentEnergy


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """A multi-layer perceptron ``Linear → activation → ... → Linear`` over ``sizes``.

    Args:
        sizes: Widths from input to output, at least two.
        activation: The non-linearity between layers (smooth by default, so that energies
            have gradients and curvature everywhere for samplers and score matching).

    Example:
        >>> mlp([2, 8, 1])
        Sequential(
          (0): Linear(in_features=2, out_features=8, bias=True)
          (1): SiLU()
          (2): Linear(in_features=8, out_features=1, bias=True)
        )
    """
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least two positive widths, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPEnergy(Energy):
    """``F(x, y) = softplus(MLP([x, y]))``: a non-negative trainable energy.

    Args:
        dim_y: Size ``D`` of the answer ``y``.
        dim_x: Size of the observation ``x`` (0 for an unconditional energy ``F(y)``).
        hidden: Widths of the hidden layers.
        nonnegative: Pass the output through softplus (default); otherwise the energy is the
            raw MLP output and may go to minus infinity under a loss without a contrastive
            term.

    Example:
        >>> energy = MLPEnergy(2, hidden=(16,))
        >>> energy(torch.randn(5, 2)).shape
        torch.Size([5])
    """

    def __init__(
        self, dim_y: int, dim_x: int = 0, hidden: Sequence[int] = (64, 64), nonnegative: bool = True
    ) -> None:
        super().__init__()
        self.dim_y = dim_y
        self.dim_x = dim_x
        self.nonnegative = nonnegative
        self.net = mlp([dim_y + dim_x, *hidden, 1])

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        if self.dim_x:
            if x is None:
                raise ValueError("this MLPEnergy is conditional (dim_x > 0): pass x")
            y = torch.cat([x.reshape(len(x), -1), y], dim=1)
        out = self.net(y).squeeze(1)
        return F.softplus(out) if self.nonnegative else out


class DecoderLatentEnergy(LatentEnergy):
    """``E(x, y, z) = ||y - Dec(x, z)||² + λ ||z||²``: a decoder with a latent variable.

    With ``periodic=True`` the latent is an angle: the decoder sees ``(cos z, sin z)``, so the
    low-energy set is a closed curve (the ellipse of the energy lab).

    Args:
        dim_y: Size of ``y``.
        latent_dim: Size ``Dz`` of ``z``.
        dim_x: Size of ``x`` (0 for unconditional).
        hidden: Widths of the decoder's hidden layers.
        periodic: Treat every latent coordinate as an angle.
        latent_weight: ``λ``, the weight of the ``||z||²`` regularizer (0 for angles).

    Example:
        >>> energy = DecoderLatentEnergy(2, latent_dim=1, periodic=True)
        >>> energy(torch.randn(4, 2), torch.rand(4, 1)).shape
        torch.Size([4])
    """

    def __init__(
        self,
        dim_y: int,
        latent_dim: int = 1,
        dim_x: int = 0,
        hidden: Sequence[int] = (64, 64),
        periodic: bool = False,
        latent_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.dim_x = dim_x
        self.periodic = periodic
        self.latent_weight = latent_weight
        features = 2 * latent_dim if periodic else latent_dim
        self.decoder = mlp([features + dim_x, *hidden, dim_y])

    def decode(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``Dec(x, z)``, shape ``(B, dim_y)``."""
        features = torch.cat([torch.cos(z), torch.sin(z)], dim=1) if self.periodic else z
        if self.dim_x:
            if x is None:
                raise ValueError("this DecoderLatentEnergy is conditional (dim_x > 0): pass x")
            features = torch.cat([x.reshape(len(x), -1), features], dim=1)
        return self.decoder(features)

    def forward(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        energy = (y - self.decode(z, x)).pow(2).sum(dim=1)
        if self.latent_weight:
            energy = energy + self.latent_weight * z.pow(2).sum(dim=1)
        return energy

    def energy_table(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``(B, K)`` energies; without ``x``, a shared set of ``z`` is decoded only once.

        ``||y_b - Dec(z_k)||² = ||y_b||² - 2 y_bᵀ Dec(z_k) + ||Dec(z_k)||²``: ``K`` decoder
        calls and one matrix product instead of ``B·K`` decoder calls.
        """
        shared = z.shape[0] == 1 or z.stride(0) == 0  # one set expanded over the batch
        if x is not None or not shared:
            return super().energy_table(y, z, x)
        codes = z[0]  # (K, Dz)
        decoded = self.decode(codes)  # (K, D)
        table = (y.pow(2).sum(1, keepdim=True) - 2 * y @ decoded.T + decoded.pow(2).sum(1)).clamp(
            min=0
        )  # (B, K)
        if self.latent_weight:
            table = table + self.latent_weight * codes.pow(2).sum(1)
        return table
