"""Boltzmann machines over binary vectors, small enough to normalize exactly by enumeration.

Two energies of ``y ∈ {0, 1}^n``:

* :class:`BoltzmannMachine`, fully visible: ``F(y) = -½ yᵀWy - bᵀy`` with ``W`` symmetric
  and zero on the diagonal [0];
* :class:`RBM`, restricted, with hidden units ``h ∈ {0, 1}^m``:
  ``E(v, h) = -vᵀWh - bᵀv - cᵀh``, whose free energy over ``h`` is closed-form [1]:
  ``F(v) = -log Σ_h exp(-E(v, h)) = -bᵀv - Σ_j softplus(c_j + (vW)_j)``.

Both are :class:`BinaryEnergy` objects: for ``n ≤ 20`` units the partition function
``Z = Σ_y exp(-F(y))`` is a sum over the ``2ⁿ`` states, computed in chunks, so the exact
log-likelihood ``log p(y) = -F(y) - log Z`` and exact samples are available, and every
estimator (maximum likelihood, CD, PCD, NCE, ratio matching, minimum probability flow,
pseudo-likelihood) can be judged by the exact test log-likelihood it reaches.

[0] Ackley, Hinton, Sejnowski, A Learning Algorithm for Boltzmann Machines, Cognitive
    Science 1985.
[1] Smolensky, Information processing in dynamical systems: foundations of harmony theory,
    1986; Hinton, A Practical Guide to Training Restricted Boltzmann Machines, 2010.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_positive
from eblearn.energy.base import Energy, EnergyFn, check_energy_output
from eblearn.energy.protocol import check_unconditional

MAX_ENUMERATED_UNITS = 20
"""Most binary units whose ``2ⁿ`` states are enumerated (about a million)."""

CHUNK_STATES = 1 << 14
"""States per chunk of the enumeration (bounds the memory of one energy call)."""


def check_enumerable(n_units: int) -> None:
    """Raises ``ValueError`` unless ``1 ≤ n_units ≤ 20``, the sizes enumeration can normalize."""
    if not isinstance(n_units, int) or n_units < 1:
        raise ValueError(f"the number of units must be an integer >= 1, got {n_units!r}")
    if n_units > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"exact enumeration covers at most {MAX_ENUMERATED_UNITS} binary units "
            f"(2^{MAX_ENUMERATED_UNITS} states), got {n_units}; train larger models with the "
            "estimators that need no partition function (CD, PCD, NCE, ratio matching, "
            "minimum probability flow, pseudo-likelihood)"
        )


def binary_states(
    n_units: int,
    start: int = 0,
    stop: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """States ``start .. stop - 1`` of ``{0, 1}^n`` in binary order, ``(stop - start, n)``.

    State ``k`` has unit ``i`` equal to bit ``n - 1 - i`` of ``k`` (the first unit is the most
    significant bit).

    Example:
        >>> binary_states(2).tolist()
        [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    """
    check_enumerable(n_units)
    total = 1 << n_units
    stop = total if stop is None else stop
    if not 0 <= start <= stop <= total:
        raise ValueError(f"need 0 <= start <= stop <= 2^{n_units} = {total}, got {start}, {stop}")
    index = torch.arange(start, stop, device=device)
    shifts = torch.arange(n_units - 1, -1, -1, device=device)
    return ((index[:, None] >> shifts) & 1).to(dtype)


def state_chunks(
    n_units: int,
    chunk: int = CHUNK_STATES,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Iterator[Tensor]:
    """All ``2ⁿ`` states of ``{0, 1}^n`` in binary order, ``chunk`` at a time."""
    check_enumerable(n_units)
    check_positive(chunk, "chunk")
    total = 1 << n_units
    for start in range(0, total, chunk):
        yield binary_states(n_units, start, min(start + chunk, total), dtype, device)


def check_binary(y: Tensor, n_units: int, what: str = "y") -> None:
    """Raises ``ValueError`` unless ``y`` is ``(B, n_units)`` with entries in ``{0, 1}``."""
    if y.ndim != 2 or y.shape[1] != n_units:
        raise ValueError(
            f"{what} must have shape (B, {n_units}) (one binary vector per row), "
            f"got {tuple(y.shape)}"
        )
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError(f"{what} must hold only 0s and 1s")


def check_binary_batch(y: Tensor, what: str = "y") -> None:
    """Raises ``ValueError`` unless ``y`` is a ``(B, n)`` batch of 0s and 1s (any ``n``)."""
    if y.ndim != 2:
        raise ValueError(
            f"{what} must have shape (B, n) (one binary vector per row), got {tuple(y.shape)}"
        )
    check_binary(y, y.shape[1], what)


def flip_each_bit(y: Tensor) -> Tensor:
    """Every single-bit-flip neighbor of each row: ``out[b, i] = y_b`` with bit ``i`` flipped.

    Args:
        y: Binary vectors, shape ``(B, n)``.

    Returns:
        Tensor of shape ``(B, n, n)``.

    Example:
        >>> flip_each_bit(torch.tensor([[1.0, 0.0]])).tolist()
        [[[0.0, 0.0], [1.0, 1.0]]]
    """
    eye = torch.eye(y.shape[1], dtype=y.dtype, device=y.device)
    return y[:, None, :] + eye * (1 - 2 * y[:, None, :])


def log_partition(
    energy: EnergyFn,
    n_units: int,
    chunk: int = CHUNK_STATES,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """``log Z = log Σ_{y ∈ {0,1}ⁿ} exp(-F(y))`` of any energy of binary vectors, exactly.

    The ``2ⁿ`` states are scored ``chunk`` at a time and the per-chunk log-sum-exps combined;
    the result is differentiable in the energy's parameters.

    Args:
        energy: Any unconditional energy ``F(y)`` of ``(B, n)`` binary vectors.
        n_units: ``n``, at most 20.
        chunk: States per energy call.
        dtype: Dtype of the states.
        device: Device of the states.

    Returns:
        Tensor of shape ``()``.

    Raises:
        ValueError: If ``n_units`` is above 20 (``2ⁿ`` states are too many to enumerate).

    Example:
        >>> # F = 0 everywhere: Z = 2ⁿ
        >>> float(log_partition(lambda y, x=None: torch.zeros(len(y)), 3).exp())
        8.0
    """
    parts = []
    for states in state_chunks(n_units, chunk, dtype, device):
        values = energy(states, None)
        check_energy_output(values, len(states), energy)
        parts.append(torch.logsumexp(-values, dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0)


class BinaryEnergy(Energy):
    """An energy ``F(y)`` of ``y ∈ {0, 1}^n`` normalized exactly by enumeration (``n ≤ 20``).

    ``p(y) = exp(-F(y)) / Z`` with ``Z = Σ_{y ∈ {0,1}ⁿ} exp(-F(y))``. Subclasses implement
    :meth:`free_energy` and ``n_units``; ``forward(y)`` checks ``y`` and returns it.
    """

    n_units: int

    @abstractmethod
    def free_energy(self, y: Tensor) -> Tensor:
        """``F(y)`` of binary vectors ``(B, n)`` without input checks, shape ``(B,)``."""

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F(y)``, shape ``(B,)``, for binary ``y (B, n)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        check_binary(y, self.n_units)
        return self.free_energy(y)

    def _reference(self) -> Tensor:
        return next(self.parameters())

    def all_states(self) -> Tensor:
        """The ``2ⁿ`` states in binary order, shape ``(2ⁿ, n)``."""
        ref = self._reference()
        return binary_states(self.n_units, dtype=ref.dtype, device=ref.device)

    def log_partition(self, chunk: int = CHUNK_STATES) -> Tensor:
        """``log Z = log Σ_y exp(-F(y))`` by enumeration in chunks; differentiable, shape ``()``.

        Raises:
            ValueError: If the model has more than 20 units.
        """
        ref = self._reference()
        return log_partition(
            lambda y, x=None: self.free_energy(y), self.n_units, chunk, ref.dtype, ref.device
        )

    def log_prob(self, y: Tensor) -> Tensor:
        """The exact ``log p(y) = -F(y) - log Z``, shape ``(B,)``."""
        return -self(y) - self.log_partition()

    def probabilities(self) -> Tensor:
        """``p(y)`` of every state in binary order, shape ``(2ⁿ,)``; sums to 1."""
        return torch.softmax(-self.free_energy(self.all_states()), dim=0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact, independent samples of ``p``, shape ``(n, n_units)``, no gradient.

        Example:
            >>> machine = BoltzmannMachine(3, bias=torch.tensor([9.0, -9.0, 9.0]))
            >>> machine.sample(2, torch.Generator().manual_seed(0)).tolist()
            [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        with torch.no_grad():
            probs = self.probabilities()
            index = torch.multinomial(probs, n, replacement=True, generator=generator)
            return self.all_states()[index]


def _vector(value: Tensor | None, size: int, what: str) -> Tensor:
    if value is None:
        return torch.zeros(size)
    if value.shape != (size,):
        raise ValueError(f"{what} must have shape ({size},), got {tuple(value.shape)}")
    return value.detach().clone().float()


class BoltzmannMachine(BinaryEnergy):
    """Fully visible Boltzmann machine: ``F(y) = -½ yᵀWy - bᵀy = -Σ_{i<j} W_ij y_i y_j - bᵀy``.

    ``W`` is symmetric with a zero diagonal: the parameter ``coupling`` is free and only its
    strict upper triangle is used (``weight`` returns the symmetric matrix). Energy: the
    pairwise couplings; inference: none (every unit is visible); training: any estimator of
    :mod:`eblearn.losses.binary_estimators`, checked against the exact likelihood.

    [0] Ackley, Hinton, Sejnowski, A Learning Algorithm for Boltzmann Machines, 1985.

    Args:
        n_units: Number of binary units ``n`` (at most 20).
        weight: Starting couplings ``(n, n)`` (its strict upper triangle is used); zeros by
            default.
        bias: Starting biases ``(n,)``; zeros by default.

    Example:
        >>> machine = BoltzmannMachine(2, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        >>> machine(torch.tensor([[1.0, 1.0], [0.0, 1.0]])).tolist()  # -W_12 y_1 y_2
        [-1.0, -0.0]
        >>> round(machine.log_partition().exp().item(), 4)  # 3 + e
        5.7183
    """

    def __init__(
        self, n_units: int, weight: Tensor | None = None, bias: Tensor | None = None
    ) -> None:
        super().__init__()
        check_enumerable(n_units)
        self.n_units = n_units
        if weight is not None and weight.shape != (n_units, n_units):
            raise ValueError(
                f"weight must have shape ({n_units}, {n_units}), got {tuple(weight.shape)}"
            )
        start = torch.zeros(n_units, n_units) if weight is None else weight.detach().float()
        self.coupling = nn.Parameter(start.clone())
        self.bias = nn.Parameter(_vector(bias, n_units, "bias"))

    @property
    def weight(self) -> Tensor:
        """The symmetric, zero-diagonal ``W (n, n)``."""
        upper = torch.triu(self.coupling, diagonal=1)
        return upper + upper.T

    def free_energy(self, y: Tensor) -> Tensor:
        upper = torch.triu(self.coupling, diagonal=1)
        return -((y @ upper) * y).sum(-1) - y @ self.bias


class RBM(BinaryEnergy):
    """Restricted Boltzmann machine, energy ``F(v) = -bᵀv - Σ_j softplus(c_j + (vW)_j)``.

    The joint energy ``E(v, h) = -vᵀWh - bᵀv - cᵀh`` (:meth:`joint_energy`) has no
    hidden-hidden or visible-visible terms, so the hidden units are independent given ``v``
    and the free energy sums them out in closed form:
    ``-log Σ_h exp(-E(v, h)) = -bᵀv - Σ_j log(1 + exp(c_j + (vW)_j))``.
    Energy: the free energy of the visible units (``n_visible ≤ 20`` are enumerated for
    ``Z``); inference: ``p(h_j = 1 | v) = σ(c_j + (vW)_j)``; training: any estimator of
    :mod:`eblearn.losses.binary_estimators`.

    [1] Hinton, A Practical Guide to Training Restricted Boltzmann Machines, 2010.

    Args:
        n_visible: Visible units ``n`` (at most 20).
        n_hidden: Hidden units ``m``.
        init_std: Standard deviation of the random starting ``W (n, m)`` (biases start at 0;
            a zero ``W`` would be a saddle where the hidden units stay identical).
        generator: Random generator for ``W``.

    Example:
        >>> rbm = RBM(3, 2, generator=torch.Generator().manual_seed(0))
        >>> rbm(torch.tensor([[1.0, 0.0, 1.0]])).shape
        torch.Size([1])
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        init_std: float = 0.01,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_enumerable(n_visible)
        if not isinstance(n_hidden, int) or n_hidden < 1:
            raise ValueError(f"n_hidden must be an integer >= 1, got {n_hidden!r}")
        if not init_std >= 0:
            raise ValueError(f"init_std must be >= 0, got {init_std!r}")
        self.n_units = n_visible
        self.n_hidden = n_hidden
        self.weight = nn.Parameter(init_std * torch.randn(n_visible, n_hidden, generator=generator))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    def free_energy(self, y: Tensor) -> Tensor:
        return -y @ self.visible_bias - F.softplus(y @ self.weight + self.hidden_bias).sum(-1)

    def joint_energy(self, v: Tensor, h: Tensor) -> Tensor:
        """``E(v, h) = -vᵀWh - bᵀv - cᵀh`` of visible ``(B, n)`` and hidden ``(B, m)`` states."""
        check_binary(v, self.n_units, "v")
        check_binary(h, self.n_hidden, "h")
        return -((v @ self.weight) * h).sum(-1) - v @ self.visible_bias - h @ self.hidden_bias

    def hidden_probs(self, v: Tensor) -> Tensor:
        """``p(h_j = 1 | v) = σ(c_j + (vW)_j)``, shape ``(B, m)``."""
        check_binary(v, self.n_units, "v")
        return torch.sigmoid(v @ self.weight + self.hidden_bias)

    def visible_probs(self, h: Tensor) -> Tensor:
        """``p(v_i = 1 | h) = σ(b_i + (Wh)_i)``, shape ``(B, n)``."""
        check_binary(h, self.n_hidden, "h")
        return torch.sigmoid(h @ self.weight.T + self.visible_bias)
