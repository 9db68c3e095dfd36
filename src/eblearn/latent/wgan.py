"""WGAN-GP: a critic energy kept smooth by the gradient penalty, a generator as its sampler.

Energy: ``E(y)``, any network with one output (the Wasserstein critic with its sign flipped,
``E = -D``, so that the data sit low). Inference: none. Strategy: contrastive with an
infinite margin, made safe by a smoothness regularizer [0]. The energy minimizes

``L_E = mean_i E(x_i) - mean_i E(G(ξ_i)) + λ E_x̂[(||∇_x̂ E(x̂)||₂ - 1)²]``,

(push the data down and the generated points up, without limit, while the penalty on
interpolates ``x̂`` keeps ``E`` about 1-Lipschitz, so the gap is the Wasserstein-1 distance);
the generator minimizes ``L_G = mean_i E(G(ξ_i))``. The critic takes ``n_critic = 5``
updates per generator update.

[0] Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville, Improved Training of Wasserstein GANs,
    NeurIPS 2017, https://arxiv.org/abs/1704.00028
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eblearn.energy.protocol import check_unconditional
from eblearn.latent.gan import GAN, mlp_generator
from eblearn.latent.nets import mlp
from eblearn.losses import GradientPenalty
from eblearn.sampling import GeneratorSampler


def wgan_critic_loss(real_energy: Tensor, fake_energy: Tensor) -> Tensor:
    """``mean_i E(x_i) - mean_i E(G(ξ_i))`` (without the penalty).

    Example:
        >>> wgan_critic_loss(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 5.0]))
        tensor(-3.5000)
    """
    return real_energy.mean() - fake_energy.mean()


class WGANGP(GAN):
    """Wasserstein GAN with gradient penalty, written over an energy ``E = -critic``.

    See the module docstring for the formulas.

    Args:
        sampler: The generator ``G``.
        critic: The energy ``E``, from points ``(B, ...)`` to ``(B,)`` (or ``(B, 1)``).
        penalty_weight: ``λ`` (paper: 10).
        critic_steps: Energy updates per generator update (paper: 5).

    Example:
        >>> model = mlp_wgan_gp(data_dim=2, noise_dim=2, hidden=8)
        >>> terms = model.discriminator_loss(torch.randn(4, 2))
        >>> sorted(terms)
        ['gap', 'loss', 'penalty']
    """

    def __init__(
        self,
        sampler: GeneratorSampler,
        critic: nn.Module,
        penalty_weight: float = 10.0,
        critic_steps: int = 5,
    ) -> None:
        super().__init__(sampler)
        if critic_steps < 1:
            raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
        self.critic = critic
        self.penalty = GradientPenalty(weight=penalty_weight, center=1.0)
        self.discriminator_steps = critic_steps

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        check_unconditional(self, x)
        values = self.critic(y)
        return values.reshape(len(y))

    def discriminator_loss(
        self, real: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        fake = self.sampler(len(real), generator=generator).detach().reshape(real.shape)
        gap = wgan_critic_loss(self.energy(real), self.energy(fake))
        penalty = self.penalty(self.energy, real, fake, generator=generator)
        return {"loss": gap + penalty, "gap": gap.detach(), "penalty": penalty.detach()}

    def generator_loss(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return {"loss": self.energy(self.sampler(n, generator=generator)).mean()}


def mlp_wgan_gp(
    data_dim: int,
    noise_dim: int = 8,
    hidden: int = 64,
    penalty_weight: float = 10.0,
    critic_steps: int = 5,
    output: str = "none",
) -> WGANGP:
    """A WGAN-GP on vectors ``(B, data_dim)`` with MLP generator and critic.

    Example:
        >>> mlp_wgan_gp(64).energy(torch.zeros(3, 64)).shape
        torch.Size([3])
    """
    critic = mlp([data_dim, hidden, hidden, 1])
    return WGANGP(
        mlp_generator(noise_dim, hidden, data_dim, output), critic, penalty_weight, critic_steps
    )
