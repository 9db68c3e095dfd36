"""EBGAN: an autoencoder's reconstruction error as the energy, a generator as its sampler.

Energy: ``D(y) = ||Dec(Enc(y)) - y||₂``, low where the autoencoder reconstructs well. Strategy:
contrastive with a margin [0]. The energy is trained with

``L_D = D(x) + max(0, m - D(G(ξ)))``,

which is the **simple loss** of the contrastive table (``[F⁺]⁺ + [m - F⁻]⁺``, ``D ≥ 0``):
push the data down, push the generated points up until their energy reaches ``m``. The
generator, the sampler of the contrastive points, is trained with

``L_G = D(G(ξ)) + λ_PT · PT(S)``, ``PT(S) = 1/(N(N-1)) Σ_{i≠j} cos²(s_i, s_j)``,

the pull-away term on the encoder's codes ``s_i = Enc(G(ξ_i))`` of the batch: it repels the
samples from each other in code space, against mode collapse.

[0] Zhao, Mathieu, LeCun, Energy-based Generative Adversarial Network, ICLR 2017,
    https://arxiv.org/abs/1609.03126
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn._validate import check_positive
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_real
from eblearn.latent.gan import GAN, mlp_generator
from eblearn.latent.nets import mlp
from eblearn.losses import simple_loss
from eblearn.sampling import GeneratorSampler, pull_away_term


def ebgan_discriminator_loss(real_energy: Tensor, fake_energy: Tensor, margin: float) -> Tensor:
    """``mean_i D(x_i) + mean_i max(0, m - D(G(ξ_i)))`` on energies ``(B,)`` and ``(B,)``.

    Example:
        >>> ebgan_discriminator_loss(torch.tensor([0.5, 1.0]), torch.tensor([2.0, 4.0]), 3.0)
        tensor(1.2500)
    """
    return simple_loss(real_energy, fake_energy, margin=margin)


def ebgan_generator_loss(fake_energy: Tensor, codes: Tensor, pull_away: float) -> Tensor:
    """``mean_i D(G(ξ_i)) + λ_PT · PT(codes)``; ``codes`` ``(B, ...)`` are ``Enc(G(ξ))``.

    Example:
        >>> codes = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # parallel: PT = 1
        >>> ebgan_generator_loss(torch.tensor([1.0, 3.0]), codes, pull_away=0.5)
        tensor(2.5000)
    """
    loss = fake_energy.mean()
    if pull_away:
        loss = loss + pull_away * pull_away_term(codes)
    return loss


class AutoencoderEnergy(nn.Module):
    """``D(y) = ||Dec(Enc(y)) - y||₂`` per sample (flattened), shape ``(B,)``.

    Args:
        encoder: ``Enc``, from ``y`` ``(B, ...)`` to codes ``(B, K)``.
        decoder: ``Dec``, from codes to reconstructions with ``y``'s number of elements.

    Example:
        >>> energy = AutoencoderEnergy(nn.Identity(), nn.Identity())
        >>> energy(torch.ones(2, 3))  # a perfect reconstruction
        tensor([0., 0.])
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, y: Tensor) -> Tensor:
        return self.reconstruction_error(y, self.encoder(y))

    def reconstruction_error(self, y: Tensor, codes: Tensor) -> Tensor:
        """``||Dec(codes) - y||₂`` per sample."""
        reconstruction = self.decoder(codes).reshape(y.shape)
        return (reconstruction - y).flatten(1).norm(dim=1)


class EBGAN(GAN):
    """Energy-based GAN: autoencoder energy, margin loss, generator with the pull-away term.

    See the module docstring for the formulas. Inference: none (the generator amortizes the
    search for low-energy points).

    Args:
        sampler: The generator ``G``.
        energy_model: The autoencoder energy ``D``.
        margin: ``m`` of the discriminator's loss (in units of the reconstruction error).
        pull_away: ``λ_PT`` (paper: 0.1).

    Example:
        >>> model = mlp_ebgan(data_dim=2, noise_dim=2, hidden=8, code_dim=1)
        >>> terms = model.discriminator_loss(torch.randn(4, 2))
        >>> sorted(terms), model.energy(torch.randn(3, 2)).shape
        (['fake_energy', 'loss', 'real_energy'], torch.Size([3]))
    """

    def __init__(
        self,
        sampler: GeneratorSampler,
        energy_model: AutoencoderEnergy,
        margin: float = 1.0,
        pull_away: float = 0.1,
    ) -> None:
        super().__init__(sampler)
        check_positive(margin, "margin")
        check_real(pull_away, "pull_away")
        self.energy_model = energy_model
        self.margin, self.pull_away = margin, pull_away

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        check_unconditional(self, x)
        return self.energy_model(y)

    def discriminator_loss(
        self, real: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        fake = self.sampler(len(real), generator=generator).detach().reshape(real.shape)
        real_energy, fake_energy = self.energy(real), self.energy(fake)
        loss = ebgan_discriminator_loss(real_energy, fake_energy, self.margin)
        return {
            "loss": loss,
            "real_energy": real_energy.mean().detach(),
            "fake_energy": fake_energy.mean().detach(),
        }

    def generator_loss(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        fake = self.sampler(n, generator=generator)
        codes = self.energy_model.encoder(fake)
        fake_energy = self.energy_model.reconstruction_error(fake, codes)
        loss = ebgan_generator_loss(fake_energy, codes, self.pull_away)
        return {"loss": loss, "pull_away": pull_away_term(codes).detach()}


def mlp_ebgan(
    data_dim: int,
    noise_dim: int = 8,
    hidden: int = 64,
    code_dim: int = 8,
    margin: float = 1.0,
    pull_away: float = 0.1,
    output: str = "none",
) -> EBGAN:
    """An EBGAN on vectors ``(B, data_dim)``: MLP generator, MLP autoencoder with a
    ``code_dim`` bottleneck.

    Example:
        >>> mlp_ebgan(64, output="sigmoid").sample(3).shape
        torch.Size([3, 64])
    """
    encoder = mlp([data_dim, hidden, code_dim])
    decoder = mlp([code_dim, hidden, data_dim])
    return EBGAN(
        mlp_generator(noise_dim, hidden, data_dim, output),
        AutoencoderEnergy(encoder, decoder),
        margin,
        pull_away,
    )
