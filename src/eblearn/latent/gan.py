"""GANs as energy models: the discriminator is an energy, the generator its contrastive sampler.

An energy trained contrastively needs points ``ȳ`` whose energy it pushes up. A GAN learns
them: the generator ``G`` (a :class:`~eblearn.sampling.GeneratorSampler`) maps noise
``ξ ~ N(0, I)`` to ``ȳ = G(ξ)`` and is trained to make ``F(ȳ)`` low, so it keeps finding the
places where the energy is wrongly low; the energy (the discriminator) is trained to push the
data down and ``ȳ`` up. The two alternate (:func:`fit_gan`): ``discriminator_steps`` updates
of the energy on fresh ``ȳ``, then one update of ``G``.

Two instances, each with its own file: :class:`~eblearn.latent.ebgan.EBGAN` (an autoencoder's
reconstruction error as the energy, the margin loss) and
:class:`~eblearn.latent.wgan.WGANGP` (an unbounded critic energy, kept smooth by the
gradient penalty).

[0] Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014,
    https://arxiv.org/abs/1406.2661
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from eblearn.latent._estimator import check_int, check_real
from eblearn.latent.nets import mlp
from eblearn.sampling import GeneratorSampler

OUTPUTS = ("none", "sigmoid", "tanh")
"""Output squashing of :func:`mlp_generator`: none (any real), ``[0, 1]`` or ``[-1, 1]``."""


def mlp_generator(
    noise_dim: int, hidden: int, data_dim: int, output: str = "none"
) -> GeneratorSampler:
    """A two-hidden-layer MLP generator ``G: ξ (B, noise_dim) ↦ ȳ (B, data_dim)``.

    Raises:
        ValueError: On a size below 1 or an unknown ``output`` (the valid ones are listed).

    Example:
        >>> mlp_generator(2, 8, 3, "sigmoid")(5).shape
        torch.Size([5, 3])
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown generator output {output!r}; valid: {', '.join(OUTPUTS)}")
    layers: list[nn.Module] = [mlp([noise_dim, hidden, hidden, data_dim])]
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    elif output == "tanh":
        layers.append(nn.Tanh())
    return GeneratorSampler(nn.Sequential(*layers), noise_dim)


class GAN(nn.Module):
    """Base of the GANs: a generator ``sampler`` and an energy, trained by :func:`fit_gan`.

    Subclasses implement :meth:`energy`, :meth:`discriminator_loss` and
    :meth:`generator_loss`, and set ``discriminator_steps`` (the paper's default).

    Args:
        sampler: The generator.
    """

    discriminator_steps: int = 1

    def __init__(self, sampler: GeneratorSampler) -> None:
        super().__init__()
        self.sampler = sampler

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """The discriminator's energy ``F(y)`` ``(B,)``, low on data (unconditional: ``x`` must
        be ``None``)."""
        raise NotImplementedError

    def discriminator_loss(
        self, real: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """The energy's loss on data ``real`` and fresh generated points, with ``"loss"``."""
        raise NotImplementedError

    def generator_loss(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The generator's loss on ``n`` generated points, with ``"loss"``."""
        raise NotImplementedError

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters of ``G``."""
        return self.sampler.parameters()

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not ``G``'s: the energy's."""
        own = {id(p) for p in self.sampler.parameters()}
        return (p for p in self.parameters() if id(p) not in own)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` generated points ``G(ξ)``, detached."""
        check_int(n, "n")
        return self.sampler(n, generator=generator)


def fit_gan(
    model: GAN,
    data: Tensor,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    discriminator_steps: int | None = None,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Alternating Adam training: ``discriminator_steps`` energy updates, one generator update.

    Each energy update takes a fresh random minibatch of ``data`` (rows ``(N, ...)``) and
    fresh generated points; the generator update draws ``batch_size`` new points.

    Args:
        model: The GAN (left in training mode).
        data: The training data, ``(N, ...)``, on the model's device.
        steps: Generator updates.
        batch_size: Data rows and generated points per update.
        lr: Adam's learning rate (both players).
        betas: Adam's betas (WGAN-GP: ``(0, 0.9)``; DCGAN-style: ``(0.5, 0.999)``).
        discriminator_steps: Energy updates per generator update (default: the model's).
        seed: Seed of the minibatches and the noise.

    Returns:
        One record per generator update: the last energy update's terms and the generator's
        (keys prefixed ``d_`` and ``g_``).

    Raises:
        ValueError: On a setting out of range or data with fewer rows than ``batch_size``.
    """
    check_int(steps, "steps")
    check_int(batch_size, "batch_size", 2)
    check_real(lr, "lr")
    inner = model.discriminator_steps if discriminator_steps is None else discriminator_steps
    check_int(inner, "discriminator_steps")
    if len(data) < batch_size:
        raise ValueError(f"data must hold at least batch_size={batch_size} rows, got {len(data)}")
    rng = torch.Generator(device=data.device).manual_seed(seed)
    d_opt = torch.optim.Adam(model.discriminator_parameters(), lr=lr, betas=betas)
    g_opt = torch.optim.Adam(model.generator_parameters(), lr=lr, betas=betas)
    model.train()
    history: list[dict[str, float]] = []
    for _ in range(steps):
        for _ in itertools.repeat(None, inner):
            rows = torch.randint(len(data), (batch_size,), generator=rng, device=data.device)
            d_terms = model.discriminator_loss(data[rows], generator=rng)
            d_opt.zero_grad(set_to_none=True)
            d_terms["loss"].backward()
            d_opt.step()
        g_terms = model.generator_loss(batch_size, generator=rng)
        g_opt.zero_grad(set_to_none=True)
        g_terms["loss"].backward()
        g_opt.step()
        record = {f"d_{k}": float(v.detach()) for k, v in d_terms.items()}
        record |= {f"g_{k}": float(v.detach()) for k, v in g_terms.items()}
        history.append(record)
    return history
