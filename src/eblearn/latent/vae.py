"""Variational autoencoder: a latent energy whose free energy is bounded variationally.

Energy: ``E(y, z) = -log p(y|z) - log p(z)``, the decoder's reconstruction cost plus a unit
Gaussian prior. The free energy ``F(y) = -log ∫ exp(-E(y, z)) dz = -log p(y)`` is out of
reach; with a Gaussian encoder ``q(z|y) = N(μ(y), diag σ²(y))`` Jensen's inequality gives the
variational free energy

``F̃(y) = E_q[-log p(y|z)] + KL(q(z|y) || N(0, I)) = -ELBO(y) ≥ F(y)``,

estimated with the reparameterization ``z = μ + σ·ε``, ``ε ~ N(0, I)`` [0]. Inference:
amortized (the encoder). Strategy: regularized; the noise limits the information the code
carries, and the KL term pulls the noisy codes toward the origin with unit size, so the
code space is filled without gaps. The importance-sampled estimate [1]

``-log p̂_S(y) = -log 1/S Σ_s p(y|z_s) p(z_s) / q(z_s|y)``,  ``z_s ~ q(z|y)``

is a tighter bound: ``E[-log p̂_S] ≤ E[-log p̂_1] = -ELBO``, decreasing to ``-log p(y)``.

[0] Kingma, Welling, Auto-Encoding Variational Bayes, 2014, https://arxiv.org/abs/1312.6114
[1] Burda, Grosse, Salakhutdinov, Importance Weighted Autoencoders, 2016,
    https://arxiv.org/abs/1509.00519
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice, check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int
from eblearn.latent.nets import mlp

LIKELIHOODS = ("bernoulli", "gaussian")
LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² - log σ_j² - 1)``, shape ``(N,)``.

    Example:
        >>> gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3))
        tensor([0.])
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - log_var - 1).sum(-1)


def gaussian_log_density(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """``log N(z; μ, diag σ²)`` summed over the last dimension."""
    return -0.5 * (LOG_2PI + log_var + (z - mean).pow(2) / log_var.exp()).sum(-1)


def reparameterize(
    mean: Tensor, log_var: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """``z = μ + σ·ε`` with ``ε ~ N(0, I)``: a sample of ``q`` that gradients flow through."""
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + (0.5 * log_var).exp() * noise


def log_likelihood(y: Tensor, decoded: Tensor, likelihood: str, sigma: float = 1.0) -> Tensor:
    """``log p(y|z)`` summed over features, for decoder outputs ``decoded`` ``(..., D)``.

    ``"bernoulli"``: ``decoded`` are logits, ``y`` in [0, 1]. ``"gaussian"``: ``decoded``
    are means of ``N(·, σ²I)``.
    """
    if likelihood == "bernoulli":
        return -F.binary_cross_entropy_with_logits(
            decoded, y.expand_as(decoded), reduction="none"
        ).sum(-1)
    d = y.shape[-1]
    return -0.5 * ((y - decoded).pow(2).sum(-1) / sigma**2 + d * (LOG_2PI + 2 * math.log(sigma)))


class VAE(nn.Module):
    """A VAE with a Gaussian encoder, a unit Gaussian prior and a Bernoulli or Gaussian decoder.

    Args:
        encoder: Maps ``(N, D)`` to ``(N, 2·code_dim)``: the means, then the log-variances.
        decoder: Maps ``(N, code_dim)`` to ``(N, D)``: logits (Bernoulli) or means (Gaussian).
        code_dim: Latent size ``Z``.
        likelihood: ``"bernoulli"`` (data in [0, 1]) or ``"gaussian"``.
        sigma: Standard deviation of the Gaussian decoder.

    Example:
        >>> vae = mlp_vae(8, code_dim=2, hidden=(16,))
        >>> terms = vae.elbo_terms(torch.rand(4, 8).round())
        >>> sorted(terms), terms["elbo"].shape
        (['elbo', 'kl', 'reconstruction'], torch.Size([4]))
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        code_dim: int,
        likelihood: str = "bernoulli",
        sigma: float = 1.0,
    ) -> None:
        super().__init__()
        check_int(code_dim, "code_dim")
        check_choice(likelihood, LIKELIHOODS, "likelihood")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        self.encoder, self.decoder = encoder, decoder
        self.code_dim, self.likelihood, self.sigma = code_dim, likelihood, sigma

    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """The mean and log-variance of ``q(z|y)``, each ``(N, Z)``."""
        check_ndim(y, 2, "y", "(N, D)")
        statistics = self.encoder(y)
        if statistics.shape[-1] != 2 * self.code_dim:
            raise ValueError(
                f"the encoder must output 2·code_dim = {2 * self.code_dim} values per sample, "
                f"got {statistics.shape[-1]}"
            )
        mean, log_var = statistics.chunk(2, dim=-1)
        return mean, log_var

    def decode(self, z: Tensor) -> Tensor:
        """Decoder outputs (logits or means) ``(..., D)`` for codes ``(..., Z)``."""
        return self.decoder(z)

    def reconstruct(self, y: Tensor) -> Tensor:
        """The decoded mean at the posterior mean: ``E[y | z = μ(y)]``, shape ``(N, D)``."""
        decoded = self.decode(self.encode(y)[0])
        return torch.sigmoid(decoded) if self.likelihood == "bernoulli" else decoded

    def elbo_terms(
        self, y: Tensor, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """``reconstruction = E_q log p(y|z)`` (``n_samples`` draws), ``kl`` and their
        difference ``elbo``, each ``(N,)``."""
        check_int(n_samples, "n_samples")
        mean, log_var = self.encode(y)
        z = reparameterize(
            mean.expand(n_samples, *mean.shape),
            log_var.expand(n_samples, *log_var.shape),
            generator,
        )  # (S, N, Z)
        reconstruction = log_likelihood(y, self.decode(z), self.likelihood, self.sigma).mean(0)
        kl = gaussian_kl(mean, log_var)
        return {"reconstruction": reconstruction, "kl": kl, "elbo": reconstruction - kl}

    def loss(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``-ELBO`` averaged over the batch: the training loss."""
        return -self.elbo_terms(y, generator=generator)["elbo"].mean()

    def free_energy(self, y: Tensor, n_samples: int = 1) -> Tensor:
        """The variational free energy ``-ELBO(y)`` ``(N,)``, an upper bound on ``-log p(y)``."""
        return -self.elbo_terms(y, n_samples)["elbo"]

    @property
    def latent_dim(self) -> int:
        """``Z``, the size of the code."""
        return self.code_dim

    def latent_energy(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(y, z) = -log p(y|z) - log p(z)``, with ``p(z) = N(0, I)``, shape ``(N,)``.

        Normalized, so its free energy at ``β = 1`` is ``-log ∫ p(y|z) p(z) dz = -log p(y)``.
        ``x`` must be ``None``.
        """
        check_unconditional(self, x)
        log_prior = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
        return -(log_likelihood(y, self.decode(z), self.likelihood, self.sigma) + log_prior)

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F̃(y) = -log p(y | z = μ(y)) + KL(q(z|y) || N(0, I))``, shape ``(N,)``.

        The negative ELBO with its expectation over ``q`` taken at the posterior mean (the
        reparameterization at ``ε = 0``): deterministic and differentiable in ``y``, so that
        inference and samplers can use it. Unlike :meth:`free_energy` (sampled) it is not a
        guaranteed bound on ``-log p(y)``. ``x`` must be ``None``.
        """
        check_unconditional(self, x)
        mean, log_var = self.encode(y)
        reconstruction = log_likelihood(y, self.decode(mean), self.likelihood, self.sigma)
        return gaussian_kl(mean, log_var) - reconstruction

    @torch.no_grad()
    def importance_nll(
        self,
        y: Tensor,
        n_samples: int = 1000,
        chunk: int = 100,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Importance-sampled ``-log p̂_S(y)`` with ``q(z|y)`` as proposal, shape ``(N,)``.

        Args:
            y: Samples ``(N, D)``.
            n_samples: Importance samples ``S`` per input.
            chunk: Samples drawn at once (memory ``chunk × N × D``).
            generator: Random generator.
        """
        check_int(n_samples, "n_samples")
        mean, log_var = self.encode(y)
        log_weights = []
        for start in range(0, n_samples, chunk):
            count = min(chunk, n_samples - start)
            z = reparameterize(
                mean.expand(count, *mean.shape), log_var.expand(count, *log_var.shape), generator
            )  # (S, N, Z)
            log_joint = log_likelihood(y, self.decode(z), self.likelihood, self.sigma)
            log_prior = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
            log_weights.append(log_joint + log_prior - gaussian_log_density(z, mean, log_var))
        weights = torch.cat(log_weights)  # (S, N)
        return -(torch.logsumexp(weights, 0) - math.log(n_samples))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` decoded means (probabilities or means) from prior codes, ``(n, D)``."""
        parameter = next(self.parameters())
        z = torch.randn(n, self.code_dim, generator=generator, device=parameter.device)
        decoded = self.decode(z)
        return torch.sigmoid(decoded) if self.likelihood == "bernoulli" else decoded


def mlp_vae(
    n_features: int,
    code_dim: int = 2,
    hidden: Sequence[int] = (256, 128),
    likelihood: str = "bernoulli",
    sigma: float = 1.0,
) -> VAE:
    """A :class:`VAE` with MLP encoder and decoder (the decoder mirrors ``hidden``).

    Example:
        >>> vae = mlp_vae(64, code_dim=2, hidden=(32,))
        >>> vae.importance_nll(torch.zeros(3, 64), n_samples=10).shape
        torch.Size([3])
    """
    encoder = mlp([n_features, *hidden, 2 * code_dim])
    decoder = mlp([code_dim, *reversed(hidden), n_features])
    return VAE(encoder, decoder, code_dim, likelihood, sigma)
