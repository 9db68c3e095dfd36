"""A discrete latent trained by winner-take-all: a predictor that commits to one future.

Energy: ``E(x, y, k) = ||y - Dec(h(x), e_k)||² / (2σ²) - log π_k(x)`` with a discrete latent
``k ∈ {1..K}`` (``e_k`` its one-hot code), ``h`` a context encoder and ``π(x)`` a learned prior
over the ``K`` hypotheses. Inference: enumeration; the zero-temperature free energy
``F∞(x, y) = min_k E(x, y, k)``. Strategy: regularized (architectural); only ``K`` outputs per
context exist, so the volume of low energy is ``K`` points.

Training minimizes the relaxed winner-take-all loss [0, 1] (multiple choice learning)

    ``(1 - ε) min_k ||y - ŷ_k||² + ε / (K - 1) Σ_{k ≠ k*} ||y - ŷ_k||²``

(``k*`` the winner; ``ε`` small keeps losing hypotheses moving, so none is stranded) plus the
cross-entropy of the prior ``π(x)`` to the winner ``k*``. Each hypothesis becomes the mean of
the futures it wins; on a two-mode future two of them settle on the two sharp outcomes, and the
prior learns how often each wins.

With ``prior_target="posterior"`` the prior is instead fitted by the likelihood of the mixture
``p(y | x) = Σ_k π_k(x) N(y; ŷ_k, σ²I)`` (the hypotheses held fixed, as in an EM step): the
cross-entropy to the posterior ``r_k ∝ π_k(x) exp(-||y - ŷ_k||² / (2σ²))``, whose gradient in
the prior's logits, ``π - r``, is that of ``-log p(y | x)``. Where hypotheses coincide (a
deterministic future) ``r = π`` and the prior is left alone, instead of being taught whichever
hypothesis happens to be a hair closer; only contexts whose hypotheses differ shape it.

Sampling draws ``k ~ π(x)`` and outputs ``ŷ_k``: one outcome at full intensity, never the
half-and-half average a Gaussian latent drifts to when it carries only part of the choice
(:class:`~eblearn.latent.cvae.ConditionalVAE`).

[0] Guzman-Rivera, Batra, Kohli, Multiple Choice Learning: learning to produce multiple
    structured outputs, NeurIPS 2012.
[1] Rupprecht et al., Learning in an uncertain world: representing ambiguity through
    multiple hypotheses, ICCV 2017, https://arxiv.org/abs/1612.00197
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.latent._estimator import check_int
from eblearn.latent.cvae import _check_pair
from eblearn.latent.nets import mlp


def relaxed_winner_take_all(errors: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """The relaxed winner-take-all loss of errors ``(N, K)``, per sample ``(N,)``, and winners.

    ``(1 - ε) e_{k*} + ε / (K - 1) Σ_{k ≠ k*} e_k`` with ``k* = argmin_k e_k``; with ``K = 1``
    the error itself.

    Example:
        >>> loss, winner = relaxed_winner_take_all(torch.tensor([[4.0, 1.0, 7.0]]), 0.1)
        >>> round(loss.item(), 3), winner.item()  # 0.9·1 + 0.05·(4 + 7)
        (1.45, 1)
    """
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must lie in [0, 1), got {epsilon!r}")
    best, winner = errors.min(1)
    count = errors.shape[1]
    if count == 1:
        return best, winner
    others = (errors.sum(1) - best) / (count - 1)
    return (1 - epsilon) * best + epsilon * others, winner


PRIOR_TARGETS = ("winner", "posterior")
"""What :class:`MultipleChoicePredictor` fits its prior to."""


def posterior(logits: Tensor, errors: Tensor, sigma: float) -> Tensor:
    """The hypotheses' posterior ``r_k ∝ π_k exp(-e_k / (2σ²))``, ``(N, K)``, held constant.

    ``π = softmax(logits)`` and ``e_k = ||y - ŷ_k||²``; no gradient flows through it.

    Example:
        >>> posterior(torch.zeros(1, 2), torch.tensor([[0.0, 0.02]]), sigma=0.1)  # e^-1 : 1
        tensor([[0.7311, 0.2689]])
    """
    with torch.no_grad():
        return torch.softmax(torch.log_softmax(logits, -1) - errors / (2 * sigma**2), -1)


class MultipleChoicePredictor(nn.Module):
    """``K`` hypotheses ``ŷ_k = Dec(h(x), e_k)`` and a prior ``π(x)`` (see the module doc).

    Args:
        context_dim: Size of the flattened past ``Dx``.
        target_dim: Size of the flattened future ``Dy``.
        hypotheses: ``K``, the number of values of the discrete latent.
        hidden: Width of the hidden layers.
        epsilon: ``ε`` of the relaxed winner-take-all loss.
        sigma: Standard deviation of the Gaussian decoder in the energy.
        prior_target: What the prior ``π(x)`` is fitted to: ``"winner"`` (cross-entropy to
            ``k*``) or ``"posterior"`` (the mixture likelihood, see the module docstring).

    Example:
        >>> model = MultipleChoicePredictor(8, 4, hypotheses=3)
        >>> model.hypotheses_of(torch.zeros(2, 8)).shape, model.sample(torch.zeros(2, 8), 5).shape
        (torch.Size([2, 3, 4]), torch.Size([2, 5, 4]))
    """

    def __init__(
        self,
        context_dim: int,
        target_dim: int,
        hypotheses: int = 4,
        hidden: int = 256,
        epsilon: float = 0.05,
        sigma: float = 0.1,
        prior_target: str = "winner",
    ) -> None:
        super().__init__()
        check_int(hypotheses, "hypotheses")
        if not 0 <= epsilon < 1:
            raise ValueError(f"epsilon must lie in [0, 1), got {epsilon!r}")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        if prior_target not in PRIOR_TARGETS:
            raise ValueError(
                f"prior_target must be one of {', '.join(PRIOR_TARGETS)}, got {prior_target!r}"
            )
        self.context_dim, self.target_dim = context_dim, target_dim
        self.hypotheses, self.epsilon, self.sigma = hypotheses, epsilon, sigma
        self.prior_target = prior_target
        self.context = mlp([context_dim, hidden, hidden])
        self.decoder = mlp([hidden + hypotheses, hidden, hidden, target_dim])
        self.prior = nn.Linear(hidden, hypotheses)

    def _state(self, x: Tensor) -> Tensor:
        return torch.relu(self.context(x))  # h(x), (N, H)

    def _decode_all(self, state: Tensor) -> Tensor:
        count, k = state.shape[0], self.hypotheses
        codes = torch.eye(k, device=state.device, dtype=state.dtype).expand(count, k, k)
        inputs = torch.cat([state[:, None].expand(-1, k, -1), codes], -1)  # (N, K, H + K)
        return self.decoder(inputs)  # (N, K, Dy)

    def hypotheses_of(self, x: Tensor) -> Tensor:
        """The ``K`` predictions per context, ``(N, K, Dy)``."""
        _check_pair(x, None, self.context_dim, self.target_dim)
        return self._decode_all(self._state(x))

    def terms(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """The training loss and its terms (``winner_take_all``, ``prior``), all scalars."""
        _check_pair(x, y, self.context_dim, self.target_dim)
        state = self._state(x)
        errors = (self._decode_all(state) - y[:, None]).pow(2).sum(-1)  # (N, K)
        wta, winner = relaxed_winner_take_all(errors, self.epsilon)
        logits = self.prior(state)
        if self.prior_target == "winner":
            prior = F.cross_entropy(logits, winner)
        else:
            prior = F.cross_entropy(logits, posterior(logits, errors, self.sigma))
        wta = wta.mean()
        return {"loss": wta + prior, "winner_take_all": wta, "prior": prior}

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The training loss (see :meth:`terms`)."""
        return self.terms(x, y)["loss"]

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F∞(x, y) = min_k ||y - ŷ_k||² / (2σ²) - log π_k(x)``, shape ``(N,)``."""
        if x is None:
            raise ValueError(
                "MultipleChoicePredictor has a conditional energy E(x, y, k): pass the context "
                f"x, shape (N, {self.context_dim})"
            )
        _check_pair(x, y, self.context_dim, self.target_dim)
        state = self._state(x)
        errors = (self._decode_all(state) - y[:, None]).pow(2).sum(-1) / (2 * self.sigma**2)
        return (errors - torch.log_softmax(self.prior(state), -1)).min(1).values

    @torch.no_grad()
    def most_probable(self, x: Tensor, count: int) -> Tensor:
        """The ``count ≤ K`` hypotheses of highest prior ``π_k(x)``, most probable first.

        Distinct hypotheses rather than independent draws: on a fair two-way future, four
        independent draws all miss the true side with probability 1/16, the first two of these
        cover both sides whenever two hypotheses have settled on them.

        Returns:
            Tensor of shape ``(N, count, Dy)``.
        """
        _check_pair(x, None, self.context_dim, self.target_dim)
        check_int(count, "count")
        if count > self.hypotheses:
            raise ValueError(f"count must be <= hypotheses={self.hypotheses}, got {count}")
        state = self._state(x)
        order = self.prior(state).argsort(-1, descending=True)[:, :count]  # (N, count)
        outputs = self._decode_all(state)  # (N, K, Dy)
        return outputs.gather(1, order[..., None].expand(-1, -1, outputs.shape[-1]))

    @torch.no_grad()
    def sample(
        self,
        x: Tensor,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
        systematic: bool = False,
    ) -> Tensor:
        """``n_samples`` predictions per context, ``k ~ π(x)``: ``(N, S, Dy)``.

        With ``systematic``, the draws are systematic [2]: one ``u ~ U[0, 1)`` per context and
        ``k_i = F⁻¹((i + u) / S)`` with ``F`` the prior's cumulative distribution. Each draw is
        still distributed as ``π(x)``, but together they take every hypothesis about
        ``S · π_k`` times, so ``S`` draws of a fair two-way future cover both sides.

        [2] Kitagawa, Monte Carlo filter and smoother for non-Gaussian nonlinear state space
            models, 1996.
        """
        _check_pair(x, None, self.context_dim, self.target_dim)
        check_int(n_samples, "n_samples")
        state = self._state(x)
        probabilities = torch.softmax(self.prior(state), -1)  # (N, K)
        if systematic:
            offset = torch.rand(len(x), 1, generator=generator, device=x.device)
            points = (torch.arange(n_samples, device=x.device) + offset) / n_samples  # (N, S)
            cumulative = probabilities.cumsum(-1)
            picks = torch.searchsorted(cumulative, points.contiguous()).clamp_max(
                self.hypotheses - 1
            )
        else:
            picks = torch.multinomial(
                probabilities, n_samples, replacement=True, generator=generator
            )
        outputs = self._decode_all(state)  # (N, K, Dy)
        return outputs.gather(1, picks[..., None].expand(-1, -1, outputs.shape[-1]))
