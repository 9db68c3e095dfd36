"""Forward models ``s[t+1] = G(s[t], a[t], z[t])``: the interface, and known (true) dynamics.

Every forward model, learned or known, is a :class:`Dynamics`: an ``nn.Module`` mapping a state,
an action and an optional latent variable ``z`` to the next state, on any leading batch
dimensions. Planners, policies and the adjoint method only see this interface, so a planner runs
unchanged on the true dynamics of an environment or on a model learned from its transitions.

The known dynamics here are torch transcriptions of gymnasium's Pendulum-v1 and
MountainCarContinuous-v0 (differentiable almost everywhere: the clips have zero gradient where
they bind), and a linear system ``s' = A s + B a`` for checks against closed-form optima.

[0] Brockman et al., OpenAI Gym, 2016, https://arxiv.org/abs/1606.01540
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim


class Dynamics(nn.Module):
    """A forward model ``s' = G(s, a, z)`` on states ``(..., S)`` and actions ``(..., A)``.

    Energy view: with a latent ``z``, ``G`` defines the energy ``E(s, a, s', z) =
    ||s' - G(s, a, z)||² + β R(z)``; planning minimizes a cost of the predicted states over the
    actions (and possibly ``z``). A model without latent variable has ``latent_dim = 0`` and
    ignores ``z``.

    The energy protocol of :mod:`eblearn.energy` takes a transition as the answer ``y = s'``
    ``(B, S)`` and the observation ``x = [s, a]`` ``(B, S + A)`` (state and action
    concatenated): :meth:`energy` is ``F(x, y) = ||s' - G(s, a)||²`` (``z`` at the model's
    default), :meth:`latent_energy` is ``E``, and :meth:`trajectory_energy` sums the
    transition energies of a trajectory.

    Attributes:
        state_dim: Size S of a state.
        action_dim: Size A of an action.
        latent_dim: Size L of the latent variable (0: deterministic).
        beta: Weight β of ``R(z)`` in the energy.
    """

    state_dim: int
    action_dim: int
    latent_dim: int = 0
    beta: float = 1.0

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        """Next states ``(..., S)`` of states ``(..., S)``, actions ``(..., A)``, z ``(..., L)``."""
        raise NotImplementedError

    def sample_latent(
        self, shape: tuple[int, ...], generator: torch.Generator | None = None
    ) -> Tensor:
        """Draws ``z ~ q(z) ∝ exp(-R(z))``, shape ``(*shape, L)`` (empty when ``L = 0``)."""
        return torch.randn((*shape, self.latent_dim), generator=generator, device=device_of(self))

    def latent_penalty(self, z: Tensor) -> Tensor:
        """``R(z) = ½ ||z||²`` (the negative log of the standard normal prior), shape ``(...)``."""
        return 0.5 * z.pow(2).sum(-1)

    def split_transition(self, y: Tensor, x: Tensor | None) -> tuple[Tensor, Tensor]:
        """The state ``s`` ``(B, S)`` and action ``a`` ``(B, A)`` of ``x = [s, a]``, after
        checking ``x`` and the next states ``y`` ``(B, S)``.

        Raises:
            ValueError: If ``x`` is missing or a shape does not fit the model.
        """
        s, a = self.state_dim, self.action_dim
        if x is None or x.ndim != 2 or x.shape[1] != s + a:
            got = None if x is None else tuple(x.shape)
            raise ValueError(
                f"{type(self).__name__}'s energy takes x = [state, action] of shape "
                f"(B, {s} + {a}) and y = next state (B, {s}); got x {got}"
            )
        if y.shape != (len(x), s):
            raise ValueError(
                f"y (the next states) must have shape ({len(x)}, {s}), got {tuple(y.shape)}"
            )
        return x[:, :s], x[:, s:]

    def latent_energy(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(s, a, s', z) = ||s' - G(s, a, z)||² + β R(z)`` with ``x = [s, a]``, ``(B,)``."""
        state, action = self.split_transition(y, x)
        energy = (y - self(state, action, z)).pow(2).sum(-1)
        return energy + self.beta * self.latent_penalty(z) if self.latent_dim else energy

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F(s, a, s') = ||s' - G(s, a)||²`` with ``x = [s, a]`` and ``z`` at the model's
        default (none, or the prior's mode), shape ``(B,)``."""
        state, action = self.split_transition(y, x)
        return (y - self(state, action)).pow(2).sum(-1)

    def trajectory_energy(self, states: Tensor, actions: Tensor, z: Tensor | None = None) -> Tensor:
        """``Σ_t E(s_t, a_t, s_{t+1}, z_t)`` (or ``Σ_t F`` without ``z``), shape ``(B,)``.

        Args:
            states: ``s_0 … s_T``, shape ``(B, T + 1, S)``.
            actions: ``a_0 … a_{T-1}``, shape ``(B, T, A)``.
            z: Latent values ``(B, T, L)``; ``None`` for :meth:`energy` at every step.

        Raises:
            ValueError: If the shapes do not fit together or the model.
        """
        if (
            states.ndim != 3
            or actions.ndim != 3
            or states.shape[:2]
            != (
                actions.shape[0],
                actions.shape[1] + 1,
            )
        ):
            raise ValueError(
                "states must have shape (B, T + 1, S) and actions (B, T, A), got "
                f"{tuple(states.shape)} and {tuple(actions.shape)}"
            )
        batch, steps = actions.shape[:2]
        x = torch.cat([states[:, :-1], actions], -1).reshape(batch * steps, -1)  # (B·T, S + A)
        y = states[:, 1:].reshape(batch * steps, -1)  # (B·T, S)
        if z is None:
            values = self.energy(y, x)
        else:
            if z.shape != (batch, steps, self.latent_dim):
                raise ValueError(
                    f"z must have shape ({batch}, {steps}, {self.latent_dim}), got {tuple(z.shape)}"
                )
            values = self.latent_energy(y, z.reshape(batch * steps, -1), x)
        return values.view(batch, steps).sum(1)


def device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module with none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def check_state_action(model: Dynamics, state: Tensor, action: Tensor) -> None:
    """Raises ``ValueError`` unless ``state (..., S)`` and ``action (..., A)`` fit ``model``."""
    if state.ndim < 1 or state.shape[-1] != model.state_dim:
        raise ValueError(
            f"states must have shape (..., {model.state_dim}) for {type(model).__name__}, "
            f"got {tuple(state.shape)}"
        )
    if action.ndim < 1 or action.shape[-1] != model.action_dim:
        raise ValueError(
            f"actions must have shape (..., {model.action_dim}) for {type(model).__name__}, "
            f"got {tuple(action.shape)}"
        )


def angle_normalize(theta: Tensor) -> Tensor:
    """Wraps angles to ``[-π, π)``."""
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


class PendulumDynamics(Dynamics):
    """Gymnasium's Pendulum-v1 on its observation ``s = (cos θ, sin θ, θ̇)``.

    ``θ̇' = clip(θ̇ + (3g/(2l) sin θ + 3/(m l²) u) dt, ±8)``, ``θ' = θ + θ̇' dt`` with
    ``u = clip(a, ±2)``, ``g = 10``, ``m = l = 1``, ``dt = 0.05``. The angle is advanced by a
    rotation of ``(cos θ, sin θ)``, so no ``atan2`` is needed.

    Example:
        >>> model = PendulumDynamics()
        >>> model(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([2.0]))  # upright, full torque
        tensor([0.9999, 0.0150, 0.3000])
    """

    state_dim, action_dim = 3, 1

    def __init__(self, g: float = 10.0, max_speed: float = 8.0, max_torque: float = 2.0) -> None:
        super().__init__()
        self.g, self.max_speed, self.max_torque = g, max_speed, max_torque
        self.dt = 0.05

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        cos, sin, speed = state.unbind(-1)
        torque = action[..., 0].clamp(-self.max_torque, self.max_torque)
        speed = speed + (1.5 * self.g * sin + 3.0 * torque) * self.dt
        speed = speed.clamp(-self.max_speed, self.max_speed)
        turn = speed * self.dt
        c, s = torch.cos(turn), torch.sin(turn)
        return torch.stack((cos * c - sin * s, sin * c + cos * s, speed), -1)


class MountainCarDynamics(Dynamics):
    """Gymnasium's MountainCarContinuous-v0 on ``s = (x, v)``.

    ``v' = clip(v + 0.0015 u - 0.0025 cos 3x, ±0.07)``, ``x' = clip(x + v', [-1.2, 0.6])``, and
    ``v' = 0`` when the car stands at the left wall moving left; ``u = clip(a, ±1)``.

    Example:
        >>> MountainCarDynamics()(torch.tensor([-0.5, 0.0]), torch.tensor([1.0]))
        tensor([-0.4987,  0.0013])
    """

    state_dim, action_dim = 2, 1

    def __init__(self) -> None:
        super().__init__()
        self.min_position, self.max_position, self.max_speed = -1.2, 0.6, 0.07

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        position, speed = state.unbind(-1)
        force = action[..., 0].clamp(-1.0, 1.0)
        speed = speed + force * 0.0015 - 0.0025 * torch.cos(3 * position)
        speed = speed.clamp(-self.max_speed, self.max_speed)
        position = (position + speed).clamp(self.min_position, self.max_position)
        stopped = (position <= self.min_position) & (speed < 0)
        speed = torch.where(stopped, torch.zeros_like(speed), speed)
        return torch.stack((position, speed), -1)


class LinearDynamics(Dynamics):
    """``s' = A s + B a``: the linear system of LQR, for checks against closed-form optima.

    Args:
        A: State matrix, shape ``(S, S)``.
        B: Control matrix, shape ``(S, A)``.

    Raises:
        ValueError: If the shapes do not fit.

    Example:
        >>> model = LinearDynamics(torch.eye(2), torch.tensor([[0.0], [1.0]]))
        >>> model(torch.ones(2), torch.ones(1))
        tensor([1., 2.])
    """

    A: Tensor
    B: Tensor

    def __init__(self, A: Tensor, B: Tensor) -> None:
        super().__init__()
        check_ndim(A, 2, "A", "(S, S)")
        check_ndim(B, 2, "B", "(S, A)")
        if A.shape[0] != A.shape[1] or B.shape[0] != A.shape[0]:
            raise ValueError(
                f"A must be (S, S) and B (S, A) with the same S, got {tuple(A.shape)} and "
                f"{tuple(B.shape)}"
            )
        self.register_buffer("A", A.clone())
        self.register_buffer("B", B.clone())
        self.state_dim, self.action_dim = A.shape[0], B.shape[1]

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        return state @ self.A.T + action @ self.B.T
