"""Conditional VAE with dropout on the latent: predicting an uncertain future.

Energy: ``E(x, y, z) = C(y, Dec(h(x), z)) + ½||z||²`` with ``x`` the observed past, ``y`` the
next frame, ``h`` a context encoder and ``C`` the squared error (a Gaussian decoder of std
``σ``). Inference: amortized; a posterior encoder ``q(z|x, y) = N(μ, diag σ_z²)`` sees the
true future during training, and at test time ``z`` is drawn from the prior ``N(0, I)``, one
prediction per draw. Strategy: regularized; the KL term to the prior limits the information
``z`` carries about ``y``, and **latent dropout** [0] sets ``z = 0`` for a random half of the
training samples, so the decoder must explain what ``x`` alone predicts without ``z`` and
``z`` only carries what ``x`` cannot tell (here: which way the ball bounces). The training
loss is ``C(y, Dec(h(x), z))/(2σ²) + β·KL(q || N(0, I))`` (the KL is counted only where ``z``
was kept).

A deterministic predictor (:class:`DeterministicPredictor`, the same networks without
``z``) trained with the squared error predicts the conditional mean: on a two-mode future it
draws both modes at half intensity, a blur that matches neither. :func:`best_of_k` measures
the difference: the distance to the truth of the best of ``K`` predictions.

[0] Henaff, Canziani, LeCun, Model-Predictive Policy Learning with Uncertainty
    Regularization for Driving in Dense Traffic, ICLR 2019, https://arxiv.org/abs/1901.02705
[1] Sohn, Lee, Yan, Learning Structured Output Representation using Deep Conditional
    Generative Models, NeurIPS 2015
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim
from eblearn.latent._estimator import check_int
from eblearn.latent.nets import mlp
from eblearn.latent.vae import gaussian_kl, reparameterize


def _check_pair(x: Tensor, y: Tensor | None, context_dim: int, target_dim: int) -> None:
    check_ndim(x, 2, "context x", "(N, Dx)")
    if x.shape[1] != context_dim:
        raise ValueError(f"context x must have {context_dim} features, got {x.shape[1]}")
    if y is not None:
        check_ndim(y, 2, "target y", "(N, Dy)")
        if y.shape != (len(x), target_dim):
            raise ValueError(
                f"target y must have shape ({len(x)}, {target_dim}), got {tuple(y.shape)}"
            )


def drop_latent(
    z: Tensor, rate: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Latent dropout: sets the whole code of each sample to 0 with probability ``rate``.

    Unlike ``nn.Dropout`` the kept codes are not rescaled: ``z = 0`` is the "no information"
    input the decoder must learn to use.

    Args:
        z: Codes ``(N, Z)``.
        rate: Probability of dropping a sample's code.
        generator: Random generator.

    Returns:
        The codes with dropped rows zeroed ``(N, Z)``, and the keep mask ``(N,)`` (1 kept, 0
        dropped).

    Example:
        >>> z, keep = drop_latent(torch.ones(4, 2), 0.0)
        >>> keep.tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    if not 0 <= rate < 1:
        raise ValueError(f"latent dropout rate must lie in [0, 1), got {rate!r}")
    if rate == 0:
        return z, torch.ones(len(z), device=z.device, dtype=z.dtype)
    keep = (torch.rand(len(z), generator=generator, device=z.device) >= rate).to(z.dtype)
    return z * keep[:, None], keep


class DeterministicPredictor(nn.Module):
    """``ŷ = Dec(h(x))`` trained with the squared error: it predicts the conditional mean.

    Args:
        context_dim: Size of the flattened past ``Dx``.
        target_dim: Size of the flattened future ``Dy``.
        hidden: Width of the hidden layers.

    Example:
        >>> DeterministicPredictor(8, 4)(torch.zeros(2, 8)).shape
        torch.Size([2, 4])
    """

    def __init__(self, context_dim: int, target_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.context_dim, self.target_dim = context_dim, target_dim
        self.context = mlp([context_dim, hidden, hidden])
        self.decoder = mlp([hidden, hidden, target_dim])

    def forward(self, x: Tensor) -> Tensor:
        """The prediction ``(N, Dy)``."""
        _check_pair(x, None, self.context_dim, self.target_dim)
        return self.decoder(torch.relu(self.context(x)))

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean squared error summed over features."""
        _check_pair(x, y, self.context_dim, self.target_dim)
        return (self(x) - y).pow(2).sum(1).mean()


class ConditionalVAE(nn.Module):
    """A conditional VAE of ``y`` given ``x`` with dropout on the latent (see module doc).

    Args:
        context_dim: Size of the flattened past ``Dx``.
        target_dim: Size of the flattened future ``Dy``.
        code_dim: Latent size ``Z``.
        hidden: Width of the hidden layers.
        latent_dropout: Probability of setting ``z = 0`` for a training sample (0.5 in [0]).
        sigma: Standard deviation of the Gaussian decoder.
        kl_weight: ``β``, the weight of the KL term.

    Example:
        >>> cvae = ConditionalVAE(8, 4, code_dim=2)
        >>> cvae.sample(torch.zeros(3, 8), n_samples=5).shape
        torch.Size([3, 5, 4])
    """

    def __init__(
        self,
        context_dim: int,
        target_dim: int,
        code_dim: int = 8,
        hidden: int = 256,
        latent_dropout: float = 0.5,
        sigma: float = 0.1,
        kl_weight: float = 1.0,
    ) -> None:
        super().__init__()
        check_int(code_dim, "code_dim")
        if not 0 <= latent_dropout < 1:
            raise ValueError(f"latent_dropout must lie in [0, 1), got {latent_dropout!r}")
        if not sigma > 0 or not kl_weight >= 0:
            raise ValueError(f"need sigma > 0 and kl_weight >= 0, got {sigma!r}, {kl_weight!r}")
        self.context_dim, self.target_dim, self.code_dim = context_dim, target_dim, code_dim
        self.latent_dropout, self.sigma, self.kl_weight = latent_dropout, sigma, kl_weight
        self.context = mlp([context_dim, hidden, hidden])
        self.posterior = mlp([hidden + target_dim, hidden, 2 * code_dim])
        self.decoder = mlp([hidden + code_dim, hidden, hidden, target_dim])

    def _decode(self, state: Tensor, z: Tensor) -> Tensor:
        return self.decoder(torch.cat([state, z], -1))

    def terms(
        self, x: Tensor, y: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """The training loss and its terms (``reconstruction``, ``kl``), all scalars."""
        _check_pair(x, y, self.context_dim, self.target_dim)
        state = torch.relu(self.context(x))  # h(x), (N, H)
        mean, log_var = self.posterior(torch.cat([state, y], 1)).chunk(2, dim=1)
        z = reparameterize(mean, log_var, generator)
        rate = self.latent_dropout if self.training else 0.0
        z, keep = drop_latent(z, rate, generator)
        prediction = self._decode(state, z)
        reconstruction = (prediction - y).pow(2).sum(1).mean() / (2 * self.sigma**2)
        kl = (gaussian_kl(mean, log_var) * keep).mean()
        return {
            "loss": reconstruction + self.kl_weight * kl,
            "reconstruction": reconstruction,
            "kl": kl,
        }

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The training loss (see :meth:`terms`)."""
        return self.terms(x, y)["loss"]

    @property
    def latent_dim(self) -> int:
        """``Z``, the size of the code."""
        return self.code_dim

    def _state(self, y: Tensor, x: Tensor | None) -> Tensor:
        """``h(x)`` ``(N, H)`` after checking the pair (``x`` is required)."""
        if x is None:
            raise ValueError(
                "ConditionalVAE has a conditional energy E(x, y, z): pass the context x, "
                f"shape (N, {self.context_dim})"
            )
        _check_pair(x, y, self.context_dim, self.target_dim)
        return torch.relu(self.context(x))

    def latent_energy(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(x, y, z) = ||y - Dec(h(x), z)||² / (2σ²) + ½||z||²``, shape ``(N,)``."""
        prediction = self._decode(self._state(y, x), z)
        return (prediction - y).pow(2).sum(1) / (2 * self.sigma**2) + 0.5 * z.pow(2).sum(1)

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F̃(x, y) = ||y - Dec(h(x), μ)||² / (2σ²) + β·KL(q(z|x, y) || N(0, I))``, ``(N,)``.

        The per-sample training loss with the code at the posterior mean ``μ`` (the
        reparameterization at ``ε = 0``, no latent dropout): deterministic and differentiable
        in ``y``. ``x``, the observed past, is required.
        """
        state = self._state(y, x)
        mean, log_var = self.posterior(torch.cat([state, y], 1)).chunk(2, dim=1)
        error = (self._decode(state, mean) - y).pow(2).sum(1) / (2 * self.sigma**2)
        return error + self.kl_weight * gaussian_kl(mean, log_var)

    @torch.no_grad()
    def sample(
        self, x: Tensor, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n_samples`` predictions per context, from prior codes: ``(N, S, Dy)``."""
        _check_pair(x, None, self.context_dim, self.target_dim)
        check_int(n_samples, "n_samples")
        state = torch.relu(self.context(x))
        z = torch.randn(
            len(x), n_samples, self.code_dim, generator=generator, device=x.device, dtype=x.dtype
        )
        return self._decode(state[:, None].expand(-1, n_samples, -1), z)

    @torch.no_grad()
    def mean_prediction(self, x: Tensor) -> Tensor:
        """The prediction at ``z = 0`` (what dropout trained it to output without a code)."""
        _check_pair(x, None, self.context_dim, self.target_dim)
        state = torch.relu(self.context(x))
        return self._decode(state, torch.zeros(len(x), self.code_dim, device=x.device))


def best_of_k(predictions: Tensor, truth: Tensor) -> Tensor:
    """Squared distance to the truth of the closest of ``K`` predictions, per sample.

    ``min_k ||ŷ_k - y||²``; a deterministic predictor is the case ``K = 1``.

    Args:
        predictions: ``(N, K, D)``.
        truth: ``(N, D)``.

    Returns:
        Tensor of shape ``(N,)``.

    Example:
        >>> best_of_k(torch.tensor([[[0.0], [2.0]]]), torch.tensor([[1.9]]))
        tensor([0.0100])
    """
    check_ndim(predictions, 3, "predictions", "(N, K, D)")
    if truth.shape != (predictions.shape[0], predictions.shape[2]):
        raise ValueError(
            f"truth must have shape ({predictions.shape[0]}, {predictions.shape[2]}), "
            f"got {tuple(truth.shape)}"
        )
    return (predictions - truth[:, None]).pow(2).sum(-1).min(1).values


def mode_coverage(predictions: Tensor, outcomes: Tensor) -> Tensor:
    """Fraction of samples for which every possible outcome is the nearest to some prediction.

    Args:
        predictions: ``(N, K, D)``.
        outcomes: The possible futures ``(N, M, D)``.

    Returns:
        A scalar in [0, 1]: 1 when the ``K`` predictions of every sample cover all ``M``
        modes; a deterministic predictor covers at most one of them.
    """
    distances = torch.cdist(predictions, outcomes)  # (N, K, M)
    nearest = distances.argmin(-1)  # (N, K)
    covered = torch.stack([(nearest == m).any(1) for m in range(outcomes.shape[1])], 1)
    return covered.all(1).float().mean()


def single_outcome(predictions: Tensor, outcomes: Tensor, ratio: float = 0.5) -> Tensor:
    """Whether each prediction shows one outcome at full intensity, not a blend of them.

    A prediction ``ŷ`` is single-outcome when its squared distance to the nearest outcome is
    below ``ratio`` times its squared distance to the outcomes' average ``ō``:
    ``min_m ||ŷ - o_m||² < ρ ||ŷ - ō||²``. On the segment between two outcomes
    ``ŷ = (1-t) o_1 + t o_2`` this holds for ``t < √ρ / (2(1 + √ρ))`` (0.207 with the default
    ``ρ = ½``: at least 79% of one outcome's intensity), never for the half-and-half blend
    ``t = ½`` nor for an empty frame between two disjoint balls.

    Args:
        predictions: ``(N, K, D)``.
        outcomes: The possible futures ``(N, M, D)``.
        ratio: ``ρ`` in ``(0, 1]``.

    Returns:
        A boolean tensor ``(N, K)``; its mean is the fraction of single-outcome samples.

    Example:
        >>> outcomes = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
        >>> single_outcome(torch.tensor([[[0.9, 0.1], [0.5, 0.5]]]), outcomes).tolist()
        [[True, False]]
    """
    check_ndim(predictions, 3, "predictions", "(N, K, D)")
    check_ndim(outcomes, 3, "outcomes", "(N, M, D)")
    if outcomes.shape[0] != predictions.shape[0] or outcomes.shape[2] != predictions.shape[2]:
        raise ValueError(
            f"outcomes must have shape ({predictions.shape[0]}, M, {predictions.shape[2]}), "
            f"got {tuple(outcomes.shape)}"
        )
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio!r}")
    nearest = torch.cdist(predictions, outcomes).pow(2).min(-1).values  # (N, K)
    average = (predictions - outcomes.mean(1, keepdim=True)).pow(2).sum(-1)  # (N, K)
    return nearest < ratio * average


def flatten_frames(frames: Sequence[Tensor] | Tensor) -> Tensor:
    """``(N, T, H, W)`` or ``(N, H, W)`` frames to ``(N, T·H·W)`` rows."""
    tensor = frames if isinstance(frames, Tensor) else torch.stack(list(frames), 1)
    return tensor.flatten(1)
