"""Learned forward models ``s' = G(s, a, z)``, deterministic or with a latent variable z.

``G(s, a, z) = s + σ_Δ · f([ŝ, â, z]) + μ_Δ`` with ``f`` an MLP, ``ŝ`` and ``â`` the state and
action standardized with statistics of the training transitions, and ``μ_Δ, σ_Δ`` those of the
state increments ``Δ = s' - s`` (a residual model: it predicts the change).

The latent variable ``z ∈ R^L`` carries what ``(s, a)`` cannot tell about ``s'`` (the energy
view: ``E(s, a, s', z) = ||s' - G(s, a, z)||² / 2 + β R(z)``, ``F(s, a, s') = min_z E``).
Training infers ``z`` with an amortized encoder ``e(s, a, s')`` (a conditional VAE) and keeps
its information low so that ``z`` cannot simply copy ``s'``:

    "kl"     a Gaussian encoder ``q(z | s, a, s') = N(μ, diag σ²)`` sampled by
             reparameterization, with ``R = KL(q || N(0, I))``;
    "norm"   a deterministic encoder with ``R(z) = ½ ||z||²``.

"Dropout on z": with probability ``latent_dropout`` a training sample's ``z`` is replaced by a
draw from the prior (``"kl"``) or by 0 (``"norm"``), so ``G`` must also predict well without
the encoder's help, which is how it is used when planning. At planning time
``z ~ q(z) ∝ exp(-R(z))``: ``N(0, I)`` for ``"kl"``, ``N(0, diag std²)`` of the encoder's codes
on the training set for ``"norm"`` (``latent_std``, set by :func:`fit_forward_model`).

[0] Henaff, Zhao, LeCun, Prediction under uncertainty with error-encoding networks, 2017,
    https://arxiv.org/abs/1711.04994
[1] Henaff, Canziani, LeCun, Model-predictive policy learning with uncertainty
    regularization for driving in dense traffic, ICLR 2019, https://arxiv.org/abs/1901.02705
[2] Sohn, Lee, Yan, Learning structured output representation using deep conditional
    generative models, NeurIPS 2015.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice
from eblearn.world.dynamics import Dynamics, check_state_action, device_of

PENALTIES = ("kl", "norm")


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """``Linear → SiLU`` between the given sizes, ending with a plain ``Linear``."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class ForwardModel(Dynamics):
    """A learned residual forward model, with or without latent variable (module docstring).

    Energy: ``||s' - G(s, a, z)||²`` (+ ``β R(z)`` with a latent). Inference of ``z``: the
    amortized encoder at training, prior samples or gradient descent when planning.
    Anti-collapse: the information in ``z`` is limited by ``R(z)`` (KL or norm) and by dropout
    on ``z``.

    Args:
        state_dim: State size S.
        action_dim: Action size A.
        latent_dim: Latent size L (0: deterministic).
        hidden_dims: Hidden layer sizes of the predictor and of the encoder.
        penalty: ``"kl"`` or ``"norm"`` (see the module docstring).
        beta: Weight β of ``R(z)`` in the training loss.
        latent_dropout: Probability of replacing a training sample's ``z`` by the prior's.

    Raises:
        ValueError: If a size or setting is out of range.

    Example:
        >>> model = ForwardModel(state_dim=3, action_dim=1, latent_dim=2)
        >>> model(torch.zeros(5, 3), torch.zeros(5, 1)).shape  # z = 0, the prior's mode
        torch.Size([5, 3])
        >>> sorted(model.loss(torch.zeros(5, 3), torch.zeros(5, 1), torch.ones(5, 3)))
        ['loss', 'penalty', 'prediction']
    """

    state_mean: Tensor
    state_std: Tensor
    action_mean: Tensor
    action_std: Tensor
    delta_mean: Tensor
    delta_std: Tensor
    latent_mean: Tensor
    latent_std: Tensor

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        latent_dim: int = 0,
        hidden_dims: Sequence[int] = (200, 200),
        penalty: str = "kl",
        beta: float = 1.0,
        latent_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if min(state_dim, action_dim) < 1 or latent_dim < 0:
            raise ValueError(
                f"state_dim and action_dim must be >= 1 and latent_dim >= 0, got "
                f"{state_dim}, {action_dim}, {latent_dim}"
            )
        check_choice(penalty, PENALTIES, "penalty")
        if not 0.0 <= latent_dropout <= 1.0 or beta < 0:
            raise ValueError(
                f"latent_dropout must be in [0, 1] and beta >= 0, got {latent_dropout}, {beta}"
            )
        self.state_dim, self.action_dim, self.latent_dim = state_dim, action_dim, latent_dim
        self.hidden_dims = tuple(hidden_dims)
        self.penalty, self.beta, self.latent_dropout = penalty, beta, latent_dropout
        self.predictor = mlp([state_dim + action_dim + latent_dim, *hidden_dims, state_dim])
        self.encoder: nn.Module | None = None
        if latent_dim:
            width = 2 * latent_dim if penalty == "kl" else latent_dim
            self.encoder = mlp([2 * state_dim + action_dim, *hidden_dims, width])
        for name, size in (
            ("state", state_dim),
            ("action", action_dim),
            ("delta", state_dim),
            ("latent", latent_dim),
        ):
            self.register_buffer(f"{name}_mean", torch.zeros(size))
            self.register_buffer(f"{name}_std", torch.ones(size))

    def config(self) -> dict[str, object]:
        """The constructor arguments (to rebuild the model before loading its state)."""
        return {
            "state_dim": self.state_dim,
            "action_dim": self.action_dim,
            "latent_dim": self.latent_dim,
            "hidden_dims": list(self.hidden_dims),
            "penalty": self.penalty,
            "beta": self.beta,
            "latent_dropout": self.latent_dropout,
        }

    def set_statistics(self, states: Tensor, actions: Tensor, next_states: Tensor) -> None:
        """Sets the standardization from training transitions ``(N, S), (N, A), (N, S)``."""
        for name, values in (
            ("state", states),
            ("action", actions),
            ("delta", next_states - states),
        ):
            getattr(self, f"{name}_mean").copy_(values.mean(0))
            getattr(self, f"{name}_std").copy_(values.std(0).clamp_min(1e-6))

    def _inputs(self, state: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        return (state - self.state_mean) / self.state_std, (
            action - self.action_mean
        ) / self.action_std

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        """``G(s, a, z)`` on ``(..., S)``, ``(..., A)``, ``(..., L)``; ``z = 0`` when omitted."""
        s, a = self._inputs(state, action)
        parts = [s, a]
        if self.latent_dim:
            if z is None:
                z = s.new_zeros((*s.shape[:-1], self.latent_dim))
            parts.append(z)
        delta = self.predictor(torch.cat(parts, -1))
        return state + delta * self.delta_std + self.delta_mean

    def encode(self, state: Tensor, action: Tensor, next_state: Tensor) -> tuple[Tensor, Tensor]:
        """Infers ``z`` from a transition and returns ``(z (N, L), R (N,))``.

        For ``"kl"``, ``z`` is a reparameterized sample and ``R`` the KL to ``N(0, I)``; for
        ``"norm"``, ``z`` is the encoder's code and ``R = ½ ||z||²``.

        Raises:
            ValueError: If the model has no latent variable.
        """
        code = self._encoder_output(state, action, next_state)
        if self.penalty == "norm":
            return code, 0.5 * code.pow(2).sum(-1)
        mean, log_var = code.chunk(2, dim=-1)
        log_var = log_var.clamp(-10, 5)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
        return z, kl

    def loss(self, state: Tensor, action: Tensor, next_state: Tensor) -> dict[str, Tensor]:
        """Training loss on transitions: standardized prediction error + ``β · R(z)``.

        Returns:
            ``loss`` (scalar), ``prediction`` (mean squared standardized error) and ``penalty``
            (mean ``R``, 0 without latent).
        """
        check_state_action(self, state, action)
        z, penalty = None, state.new_zeros(())
        if self.latent_dim:
            z, r = self.encode(state, action, next_state)
            if self.training and self.latent_dropout > 0:
                drop = torch.rand(z.shape[:-1], device=z.device) < self.latent_dropout
                prior = torch.randn_like(z) if self.penalty == "kl" else torch.zeros_like(z)
                z = torch.where(drop[..., None], prior, z)
                r = torch.where(drop, torch.zeros_like(r), r)
            penalty = r.mean()
        predicted = self(state, action, z)
        error = ((predicted - next_state) / self.delta_std).pow(2).mean()
        return {"loss": error + self.beta * penalty, "prediction": error, "penalty": penalty}

    def infer_code(self, state: Tensor, action: Tensor, next_state: Tensor) -> Tensor:
        """The amortized code ``ž = e(s, a, s')`` ``(N, L)``: the encoder's mean for
        ``"kl"`` (no sampling), its code for ``"norm"``.

        Raises:
            ValueError: If the model has no latent variable.
        """
        code = self._encoder_output(state, action, next_state)
        return code if self.penalty == "norm" else code.chunk(2, dim=-1)[0]

    def _encoder_output(self, state: Tensor, action: Tensor, next_state: Tensor) -> Tensor:
        """``e(s, a, Δs)`` on standardized inputs: the code (``"norm"``) or mean and log-variance
        side by side (``"kl"``), shape ``(N, L)`` or ``(N, 2L)``.

        Raises:
            ValueError: If the model has no latent variable.
        """
        if self.encoder is None:
            raise ValueError("this ForwardModel has latent_dim=0: there is no z to infer")
        s, a = self._inputs(state, action)
        delta = (next_state - state - self.delta_mean) / self.delta_std  # standardized Δs
        return self.encoder(torch.cat((s, a, delta), -1))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F̃(s, a, s') = E(s, a, s', ž)`` at the amortized code ``ž`` (:meth:`infer_code`),
        an upper bound on ``min_z E``; ``||s' - G(s, a)||²`` without latent. ``x = [s, a]``
        ``(B, S + A)``, ``y = s'`` ``(B, S)``; shape ``(B,)``."""
        if not self.latent_dim:
            return super().energy(y, x)
        state, action = self.split_transition(y, x)
        return self.latent_energy(y, self.infer_code(state, action, y), x)

    def sample_latent(
        self, shape: tuple[int, ...], generator: torch.Generator | None = None
    ) -> Tensor:
        noise = torch.randn((*shape, self.latent_dim), generator=generator, device=device_of(self))
        return noise * self.latent_std if self.penalty == "norm" else noise

    def latent_penalty(self, z: Tensor) -> Tensor:
        """``R(z) = ½ ||z / std||²``, the negative log prior (std = 1 for ``"kl"``)."""
        scale = self.latent_std if self.penalty == "norm" else torch.ones_like(self.latent_std)
        return 0.5 * (z / scale).pow(2).sum(-1)
