"""LISTA: ISTA unrolled for a fixed number of steps, with its matrices learned.

Energy: the sparse coding energy ``E(y, z) = ½||y - z·W||² + λ||z||₁`` on a fixed dictionary
``W`` ``(K, D)``. Inference: amortized; the recurrent encoder

``b = y·W_eᵀ,  z_1 = shrink(b, θ),  z_{t+1} = shrink(b + z_t·Sᵀ, θ)``  for ``t < T``

replaces the iterative solver. Initialized at ``W_e = W/L``, ``S = I - WWᵀ/L``, ``θ = λ/L``
it computes exactly ``T`` ISTA steps from zero; trained by back-propagation through time, its
``T``-step codes get much closer to the minimum than ``T`` steps of ISTA or FISTA [0].
Strategy: regularized (the L1 term of the energy). Two training targets:

- ``"codes"``: ``½||z_T(y) - z*(y)||²`` with ``z*`` the optimal codes (FISTA to convergence), as
  in [0];
- ``"energy"``: ``E(y, z_T(y))`` itself, which needs no solver.

[0] Gregor, LeCun, Learning Fast Approximations of Sparse Coding, ICML 2010,
    https://icml.cc/Conferences/2010/papers/449.pdf
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from eblearn._validate import check_choice
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int
from eblearn.latent.sparse_coding import (
    check_dictionary,
    fista,
    gradient_step,
    ista,
    soft_threshold,
    sparse_coding_energy,
)
from eblearn.latent.training import fit_model

TARGETS = ("codes", "energy")


class LISTA(nn.Module):
    """Learned ISTA with ``n_layers`` steps sharing ``W_e``, ``S`` and ``θ`` (a recurrent net).

    Args:
        dictionary: Atoms ``W`` ``(K, D)`` of the energy (kept fixed, as a buffer).
        lam: Sparsity weight ``λ``.
        n_layers: Unrolled steps ``T``.

    Raises:
        ValueError: If ``dictionary`` is not 2-D, ``lam < 0`` or ``n_layers < 1``.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> W = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
        >>> y = torch.randn(5, 8)
        >>> from eblearn.latent.sparse_coding import ista
        >>> torch.allclose(LISTA(W, lam=0.1, n_layers=3)(y),
        ...                ista(y, W, 0.1, max_iter=3, tol=0).codes, atol=1e-6)
        True
    """

    dictionary: Tensor

    def __init__(self, dictionary: Tensor, lam: float, n_layers: int) -> None:
        super().__init__()
        if dictionary.ndim != 2:
            raise ValueError(f"dictionary must have shape (K, D), got {tuple(dictionary.shape)}")
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        check_int(n_layers, "n_layers")
        dictionary = dictionary.detach().float()
        k, d = dictionary.shape
        step = gradient_step(dictionary)
        self.lam = lam
        self.n_layers = n_layers
        self.register_buffer("dictionary", dictionary.clone())
        self.encoder = nn.Linear(d, k, bias=False)  # W_e
        self.lateral = nn.Linear(k, k, bias=False)  # S
        self.threshold = nn.Parameter(torch.full((k,), lam * step))  # θ
        with torch.no_grad():
            self.encoder.weight.copy_(dictionary * step)
            self.lateral.weight.copy_(torch.eye(k) - step * dictionary @ dictionary.T)

    def forward(self, y: Tensor, n_layers: int | None = None) -> Tensor:
        """Codes ``(N, K)`` of ``y`` ``(N, D)`` after ``n_layers`` steps (default: all)."""
        check_dictionary(self.dictionary, y)
        steps = self.n_layers if n_layers is None else n_layers
        check_int(steps, "n_layers")
        drive = self.encoder(y)  # b = y W_eᵀ, (N, K)
        codes = soft_threshold(drive, self.threshold)
        for _ in range(steps - 1):
            codes = soft_threshold(drive + self.lateral(codes), self.threshold)
        return codes

    @property
    def latent_dim(self) -> int:
        """``K``, the number of atoms: the size of the code ``z``."""
        return int(self.dictionary.shape[0])

    def latent_energy(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(y, z) = ½||y - z·W||² + λ||z||₁`` at any codes ``z`` ``(N, K)``, ``(N,)``."""
        check_unconditional(self, x)
        check_dictionary(self.dictionary, y)
        return sparse_coding_energy(y, z, self.dictionary, self.lam)

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(y, z_T(y))``, the sparse coding energy at the network's codes, ``(N,)``: an
        amortized upper bound on ``F(y) = min_z E(y, z)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        return sparse_coding_energy(y, self(y), self.dictionary, self.lam)


def train_lista(
    model: LISTA,
    y: Tensor,
    target: str = "codes",
    epochs: int = 50,
    batch_size: int = 256,
    lr: float = 1e-3,
    optimal_codes: Tensor | None = None,
    seed: int = 0,
) -> list[float]:
    """Trains ``model`` by back-propagation through its unrolled steps.

    Args:
        model: The network.
        y: Training samples ``(N, D)``.
        target: ``"codes"`` (match the optimal codes) or ``"energy"`` (minimize the energy).
        epochs, batch_size, lr, seed: As :func:`~eblearn.latent.training.fit_model`.
        optimal_codes: ``z*`` ``(N, K)`` for ``target="codes"``; computed by FISTA (to a
            duality gap of ``1e-6 ||y||²``) when not given.

    Returns:
        The mean loss of each epoch.

    Raises:
        ValueError: On an unknown ``target`` or codes of the wrong shape.
    """
    check_choice(target, TARGETS, "target")
    if target == "energy":
        return fit_model(
            model, lambda batch: model.energy(batch).mean(), y, epochs, batch_size, lr, seed=seed
        )
    if optimal_codes is None:
        optimal_codes = fista(
            y, model.dictionary.to(y.dtype), model.lam, max_iter=20000, tol=1e-6
        ).codes
    if optimal_codes.shape != (len(y), len(model.dictionary)):
        raise ValueError(
            f"optimal_codes must have shape ({len(y)}, {len(model.dictionary)}), "
            f"got {tuple(optimal_codes.shape)}"
        )

    def code_loss(batch: Tensor, codes: Tensor) -> Tensor:
        return 0.5 * (model(batch) - codes).pow(2).sum(1).mean()

    return fit_model(model, code_loss, (y, optimal_codes), epochs, batch_size, lr, seed=seed)


def iterations_to_reach(
    y: Tensor,
    dictionary: Tensor,
    lam: float,
    energies: Tensor,
    algorithm: str = "fista",
    max_iter: int = 10000,
) -> list[int]:
    """For each target mean energy, the solver iterations (from zero) needed to reach it.

    FISTA runs without restart, as in [0]'s comparison.

    Args:
        y: Samples ``(N, D)``.
        dictionary: Atoms ``(K, D)``.
        lam: Sparsity weight.
        energies: Target mean energies ``(M,)`` (for example LISTA's at each depth).
        algorithm: ``"fista"`` or ``"ista"``.
        max_iter: Most iterations tried; a target not reached reports ``max_iter + 1``.

    Returns:
        One iteration count per target.
    """
    check_choice(algorithm, ("fista", "ista"), "algorithm")
    common: dict[str, Any] = {"max_iter": max_iter, "tol": 0.0, "record_history": True}
    if algorithm == "fista":
        history = fista(y, dictionary, lam, restart=False, **common).history
    else:
        history = ista(y, dictionary, lam, **common).history
    curve = torch.tensor(history)
    counts = []
    for energy in energies.tolist():
        reached = (curve <= energy).nonzero()
        counts.append(int(reached[0]) + 1 if len(reached) else max_iter + 1)
    return counts
