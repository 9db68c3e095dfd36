"""Normalizing flow (RealNVP affine couplings, Glow's actnorm): an exactly normalized energy.

An invertible map ``f: R^D → R^D`` with a tractable Jacobian carries the data to a unit
Gaussian code ``z = f(y)``; the change of variables gives the density, hence the energy

``E(y) = -log p(y) = -log N(f(y); 0, I) - log |det ∂f/∂y|
= ½ ||f(y)||² + (D/2) log 2π - log |det ∂f/∂y|``.

``f`` is a composition of layers, each returning its output and its ``log |det|``:

* affine coupling [0]: with a binary mask ``m``, ``y' = m ⊙ y + (1 - m) ⊙ (y ⊙ exp(s) + t)``
  where ``(s, t) = NN(m ⊙ y)``; the Jacobian is triangular, ``log |det| = Σ_j (1 - m_j) s_j``,
  and the inverse is ``y = m ⊙ y' + (1 - m) ⊙ (y' - t) ⊙ exp(-s)`` (same ``s, t``, since the
  masked half passes unchanged). Consecutive couplings swap the mask, so every dimension is
  transformed;
* actnorm [1]: ``y' = (y - b) ⊙ exp(-ℓ)``, ``log |det| = -Σ_j ℓ_j``, initialized from the data
  so that the first batch leaves it with zero mean and unit variance;
* invertible linear map (optional; Glow's 1×1 convolution on vectors) [1]: ``y' = y Wᵀ``,
  ``log |det| = log |det W|``, ``W`` starting as a random rotation, so that the couplings
  mix all dimensions rather than only even with odd.

The latent ``z`` is a deterministic function of ``y``, so there is no latent energy to
eliminate: the free energy is the energy. Inference: the forward pass. Strategy:
architectural; ``exp(-E)`` integrates to 1 by construction, so pushing down the energy of the
data (maximum likelihood) pushes it up everywhere else.

[0] Dinh, Sohl-Dickstein, Bengio, Density estimation using Real NVP, 2017,
    https://arxiv.org/abs/1605.08803
[1] Kingma, Dhariwal, Glow: Generative Flow with Invertible 1x1 Convolutions, 2018,
    https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from eblearn._validate import check_finite, check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int
from eblearn.latent.nets import mlp
from eblearn.latent.training import fit_model

LOG_2PI = math.log(2 * math.pi)


def alternating_mask(dim: int, parity: int) -> Tensor:
    """The coupling mask ``m_j = 1`` where ``j ≡ parity (mod 2)``: the dimensions held fixed.

    Example:
        >>> alternating_mask(5, 0), alternating_mask(5, 1)
        (tensor([1., 0., 1., 0., 1.]), tensor([0., 1., 0., 1., 0.]))
    """
    return (torch.arange(dim) % 2 == parity % 2).float()


class AffineCoupling(nn.Module):
    """RealNVP affine coupling: ``y' = m ⊙ y + (1 - m) ⊙ (y ⊙ exp(s) + t)``, ``(s, t) = NN(m ⊙ y)``.

    ``s = scale · tanh(ŝ)`` keeps each log-scale in ``[-scale, scale]`` so that training
    cannot blow up one step. The network's last layer starts at zero: the layer starts as the
    identity.

    Args:
        mask: ``(D,)`` of zeros and ones, at least one of each; ones are held fixed.
        hidden: Widths of the hidden layers of ``NN``.
        scale: Bound on ``|s|``.

    Example:
        >>> layer = AffineCoupling(alternating_mask(3, 0), hidden=(8,))
        >>> y = torch.randn(4, 3)
        >>> out, log_det = layer(y)
        >>> torch.allclose(layer.inverse(out), y), log_det.shape
        (True, torch.Size([4]))
    """

    mask: Tensor

    def __init__(self, mask: Tensor, hidden: Sequence[int] = (64, 64), scale: float = 2.0) -> None:
        super().__init__()
        check_ndim(mask, 1, "mask", "(D,)")
        if not bool(((mask == 0) | (mask == 1)).all()) or mask.min() == mask.max():
            raise ValueError(
                f"mask must hold zeros and ones, at least one of each, got {mask.tolist()}"
            )
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        dim = len(mask)
        self.register_buffer("mask", mask.float())
        self.scale = scale
        self.net = mlp([dim, *hidden, 2 * dim])
        last = cast(nn.Linear, self.net[-1])
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def _shift_scale(self, fixed: Tensor) -> tuple[Tensor, Tensor]:
        free = 1 - self.mask
        raw_s, t = self.net(fixed).chunk(2, dim=-1)
        return free * self.scale * torch.tanh(raw_s), free * t

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(y', log |det ∂y'/∂y|)``, shapes ``(N, D)`` and ``(N,)``."""
        fixed = y * self.mask
        s, t = self._shift_scale(fixed)
        return fixed + (1 - self.mask) * (y * s.exp() + t), s.sum(-1)

    def inverse(self, out: Tensor) -> Tensor:
        """``y = m ⊙ y' + (1 - m) ⊙ (y' - t) ⊙ exp(-s)``, shape ``(N, D)``."""
        fixed = out * self.mask
        s, t = self._shift_scale(fixed)
        return fixed + (1 - self.mask) * (out - t) * (-s).exp()


class ActNorm(nn.Module):
    """Glow's actnorm: ``y' = (y - b) ⊙ exp(-ℓ)``, ``log |det| = -Σ_j ℓ_j`` per sample.

    Starts as the identity; :meth:`initialize` sets ``b`` and ``ℓ`` from a batch so that it
    comes out with zero mean and unit variance per dimension.

    Example:
        >>> norm = ActNorm(2)
        >>> norm.initialize(torch.tensor([[0.0, 1.0], [2.0, 5.0]]))
        >>> out, log_det = norm(torch.tensor([[0.0, 1.0], [2.0, 5.0]]))
        >>> out.detach().round(decimals=4), log_det.detach().round(decimals=4)
        (tensor([[-1., -1.],
                [ 1.,  1.]]), tensor([-0.6931, -0.6931]))
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        check_int(dim, "dim")
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    @torch.no_grad()
    def initialize(self, y: Tensor, eps: float = 1e-6) -> None:
        """Sets ``b`` to the batch mean and ``exp(ℓ)`` to its standard deviation (+ ``eps``)."""
        self.bias.copy_(y.mean(0))
        self.log_scale.copy_((y.std(0, unbiased=False) + eps).log())

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(y', log |det|)``, shapes ``(N, D)`` and ``(N,)``."""
        log_det = -self.log_scale.sum().expand(len(y))
        return (y - self.bias) * (-self.log_scale).exp(), log_det

    def inverse(self, out: Tensor) -> Tensor:
        """``y = y' ⊙ exp(ℓ) + b``."""
        return out * self.log_scale.exp() + self.bias


class InvertibleLinear(nn.Module):
    """Glow's invertible 1×1 convolution on vectors: ``y' = y Wᵀ``, ``log |det| = log |det W|``.

    ``W`` starts as a random rotation (``log |det| = 0``). Nothing keeps it invertible but
    training by likelihood, whose ``-log |det W|`` term grows without bound as ``W`` nears
    a singular matrix.

    Example:
        >>> layer = InvertibleLinear(3, generator=torch.Generator().manual_seed(0))
        >>> y = torch.randn(4, 3)
        >>> out, log_det = layer(y)
        >>> torch.allclose(layer.inverse(out), y, atol=1e-6), log_det.abs().max() < 1e-5
        (True, tensor(True))
    """

    def __init__(self, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_int(dim, "dim")
        rotation = torch.linalg.qr(torch.randn(dim, dim, generator=generator))[0]
        self.weight = nn.Parameter(rotation)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(y Wᵀ, log |det W|)``, shapes ``(N, D)`` and ``(N,)``."""
        return y @ self.weight.T, torch.linalg.slogdet(self.weight)[1].expand(len(y))

    def inverse(self, out: Tensor) -> Tensor:
        """``y = y' W⁻ᵀ`` (a linear solve, not an explicit inverse)."""
        return torch.linalg.solve(self.weight, out.T).T


class RealNVP(nn.Module):
    """A RealNVP flow: ``[actnorm →] [linear →] coupling`` blocks with alternating masks and a
    Gaussian base.

    Energy ``E(y) = ½ ||f(y)||² + (D/2) log 2π - log |det ∂f/∂y| = -log p(y)``.

    Args:
        dim: Data dimension ``D`` (at least 2: a coupling needs a fixed and a free part).
        n_layers: Coupling layers (at least 2, so that every dimension is transformed).
        hidden: Hidden widths of each coupling's network.
        actnorm: Put an actnorm before each coupling.
        linear: Put an :class:`InvertibleLinear` before each coupling (Glow's mixing).
        scale: Bound on each coupling's log-scale ``|s|``.
        seed: Seed of the random rotations of the linear layers.

    Example:
        >>> flow = RealNVP(2, n_layers=4, hidden=(16,))
        >>> y = torch.randn(5, 2)
        >>> z, log_det = flow(y)
        >>> torch.allclose(flow.inverse(z), y, atol=1e-6), flow.energy(y).shape
        (True, torch.Size([5]))
    """

    def __init__(
        self,
        dim: int,
        n_layers: int = 8,
        hidden: Sequence[int] = (64, 64),
        actnorm: bool = True,
        linear: bool = False,
        scale: float = 2.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_int(dim, "dim", minimum=2)
        check_int(n_layers, "n_layers", minimum=2)
        self.dim = dim
        layers: list[nn.Module] = []
        generator = torch.Generator().manual_seed(seed)
        for k in range(n_layers):
            if actnorm:
                layers.append(ActNorm(dim))
            if linear:
                layers.append(InvertibleLinear(dim, generator))
            layers.append(AffineCoupling(alternating_mask(dim, k), hidden, scale))
        self.layers = nn.ModuleList(layers)

    def _check(self, y: Tensor, what: str) -> None:
        check_ndim(y, 2, what, "(N, D)")
        if y.shape[1] != self.dim:
            raise ValueError(f"{what} must have {self.dim} features, got shape {tuple(y.shape)}")
        parameter = next(self.parameters())
        if (y.dtype, y.device) != (parameter.dtype, parameter.device):
            raise ValueError(
                f"{what} is {y.dtype} on {y.device} but the flow is {parameter.dtype} on "
                f"{parameter.device}; convert one with .to(...)"
            )

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """``z = f(y)`` ``(N, D)`` and ``log |det ∂f/∂y|`` ``(N,)``."""
        self._check(y, "y")
        log_det = y.new_zeros(len(y))
        for layer in self.layers:
            y, step = layer(y)
            log_det = log_det + step
        return y, log_det

    def inverse(self, z: Tensor) -> Tensor:
        """``y = f⁻¹(z)``, the layers inverted in reverse order, shape ``(N, D)``."""
        self._check(z, "z")
        for layer in reversed(self.layers):
            z = cast(ActNorm | InvertibleLinear | AffineCoupling, layer).inverse(z)
        return z

    @torch.no_grad()
    def initialize(self, y: Tensor) -> None:
        """Data-dependent init: each actnorm standardizes what reaches it from ``y``."""
        self._check(y, "y")
        for layer in self.layers:
            if isinstance(layer, ActNorm):
                layer.initialize(y)
            y = layer(y)[0]

    def log_prob(self, y: Tensor) -> Tensor:
        """``log p(y) = log N(f(y); 0, I) + log |det ∂f/∂y|``, shape ``(N,)``."""
        z, log_det = self(y)
        return -0.5 * (z.pow(2).sum(-1) + self.dim * LOG_2PI) + log_det

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(y) = -log p(y)`` ``(N,)``, normalized (``∫ exp(-E) = 1``); ``x`` must be ``None``."""
        check_unconditional(self, x)
        return -self.log_prob(y)

    def loss(self, y: Tensor) -> Tensor:
        """The mean negative log-likelihood of a batch: the training loss."""
        return self.energy(y).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples ``f⁻¹(z)``, ``z ~ N(0, I)``, shape ``(n, D)``."""
        check_int(n, "n")
        parameter = next(self.parameters())
        z = torch.randn(
            n, self.dim, generator=generator, device=parameter.device, dtype=parameter.dtype
        )
        return self.inverse(z)

    def fit(
        self,
        y: Tensor,
        epochs: int = 100,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> RealNVP:
        """Maximum likelihood: actnorm init on ``y``, then Adam on the mean NLL (``fit_model``).

        Each call re-initializes the actnorms from ``y`` (the flow's current layers), so a
        second call starts from a changed map; to train on, call ``fit_model`` directly.
        The loss of each epoch is kept in ``history_``. Returns ``self``.
        """
        self._check(y, "y")
        if len(y) < 2:
            raise ValueError(f"fit needs at least 2 samples, got {len(y)}")
        check_finite(y, "y")
        self.initialize(y)
        self.history_ = fit_model(
            self, self.loss, y, epochs, batch_size, lr, weight_decay=weight_decay, seed=seed
        )
        return self
