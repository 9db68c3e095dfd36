"""A generator network that produces contrastive samples: the GAN view of EBM training.

The generator ``G`` maps noise ``ξ`` to answers ``ȳ = G(ξ)`` and is trained to make their
energy low (to fool the energy); the energy is trained with any loss of the table that pushes
down the data and pushes up ``ȳ``. This is the energy-based GAN [0]: the generator is an
amortized sampler that learns where the energy is wrongly low.

[0] Zhao, Mathieu, LeCun, Energy-based Generative Adversarial Network, ICLR 2017,
    https://arxiv.org/abs/1609.03126
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._validate import check_batch_size
from eblearn.energy.base import check_energy_output
from eblearn.energy.protocol import EnergyLike, as_energy


def pull_away_term(samples: Tensor) -> Tensor:
    """EBGAN's repelling regularizer ``1/(N(N-1)) Σ_{i≠j} cos²(s_i, s_j)`` on flattened samples.

    Example:
        >>> float(pull_away_term(torch.tensor([[1.0, 0.0], [0.0, 1.0]])))
        0.0
    """
    check_batch_size(samples, 2, "pull_away_term", "it compares pairs of samples")
    unit = nn.functional.normalize(samples.flatten(1), dim=1)
    cos2 = (unit @ unit.T).pow(2)
    n = samples.shape[0]
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


class GeneratorSampler(nn.Module):
    """Contrastive samples ``ȳ = G(ξ)`` (or ``G([ξ, x])``), ``ξ ~ N(0, I)``.

    Args:
        generator: The network ``G``, from ``noise_dim`` (+ the size of ``x``) inputs to an
            answer.
        noise_dim: Size of ``ξ``.

    Example:
        >>> from eblearn.energy import QuadraticEnergy, mlp
        >>> sampler = GeneratorSampler(mlp([4, 16, 2]), noise_dim=4)
        >>> negatives = sampler(32).detach()  # push these up in the energy's loss
        >>> loss = sampler.generator_loss(QuadraticEnergy(torch.zeros(2)), 32)
        >>> negatives.shape, loss.shape
        (torch.Size([32, 2]), torch.Size([]))
    """

    def __init__(self, generator: nn.Module, noise_dim: int) -> None:
        super().__init__()
        if noise_dim < 1:
            raise ValueError(f"noise_dim must be >= 1, got {noise_dim}")
        self.generator = generator
        self.noise_dim = noise_dim

    def forward(
        self, n: int, x: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` samples (differentiable with respect to ``G``'s parameters), ``(n, ...)``."""
        if x is not None and x.shape[0] != n:
            raise ValueError(f"x must hold n={n} observations, got {x.shape[0]}")
        device = next(self.generator.parameters()).device
        noise = torch.randn(n, self.noise_dim, generator=generator, device=device)
        if x is not None:
            noise = torch.cat([noise, x.reshape(n, -1)], dim=1)
        return self.generator(noise)

    def generator_loss(
        self,
        energy: EnergyLike,
        n: int,
        x: Tensor | None = None,
        pull_away: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``L_G = mean_i F(x_i, G(ξ_i)) + λ·PT``: make the generated answers' energy low.

        Args:
            energy: The energy being trained.
            n: Number of samples.
            x: Observations ``(n, ...)`` or ``None``.
            pull_away: ``λ``, the weight of :func:`pull_away_term` (keeps samples diverse).
            generator: Random generator for ``ξ``.
        """
        energy = as_energy(energy)
        samples = self(n, x, generator)
        values = energy(samples, x)
        check_energy_output(values, n, energy)
        loss = values.mean()
        if pull_away:
            loss = loss + pull_away * pull_away_term(samples)
        return loss
