"""Vector-quantized autoencoder (VQ-VAE): a discrete latent found by nearest-neighbor search.

The encoder maps ``y`` to ``P`` code positions ``z_e ∈ R^{P×D}``; each position is replaced
by its nearest of ``K`` codebook vectors ``e_k ∈ R^D``, ``z_q = e_{k*}`` with
``k* = argmin_k ||z_e - e_k||²``, and the decoder reconstructs ``y`` from ``z_q`` [0].
Nearest-neighbor search has no gradient, so the straight-through estimator copies the
decoder's gradient with respect to ``z_q`` onto ``z_e``. Training minimizes

``L = ||y - Dec(z_q)||² + ||sg[z_e] - e||² + β ||z_e - sg[e]||²``

(``sg`` stops gradients; the second term moves the codebook toward the encoder outputs, the
third, the commitment term with ``β = 0.25``, keeps the encoder near its codes).

Energy view: the latent ``k = (k_1, ..., k_P)`` is discrete, and the free energy is the
minimum over it (zero temperature), ``F(y) = min_k ||y - Dec(e_{k_1}, ..., e_{k_P})||²``:
the reconstruction energy with the best codes. The encoder's nearest codes are amortized
inference, an upper bound on that minimum. Strategy: architectural; at most ``K^P`` points
``Dec(e_k)`` have zero energy, so the volume of low energy is bounded by the codebook.

[0] van den Oord, Vinyals, Kavukcuoglu, Neural Discrete Representation Learning, NeurIPS 2017,
    https://arxiv.org/abs/1711.00937
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from eblearn._validate import check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import check_int, check_real
from eblearn.latent.nets import mlp

MAX_ENUMERATION = 65536
"""The most code combinations ``K^P`` that :meth:`VQVAE.energy` enumerates."""


def nearest_code(vectors: Tensor, codebook: Tensor) -> Tensor:
    """``argmin_k ||v - e_k||²`` for each row ``v`` of ``vectors`` ``(M, D)``; codebook
    ``(K, D)``; returns indices ``(M,)`` (the lowest index on ties).

    Example:
        >>> nearest_code(torch.tensor([[0.9, 0.0], [0.0, 2.0]]), torch.eye(2))
        tensor([0, 1])
    """
    # ||v - e||² = ||v||² - 2 v·e + ||e||²; ||v||² does not change the argmin.
    distances = codebook.pow(2).sum(1) - 2 * vectors @ codebook.T  # (M, K)
    return distances.argmin(1)


def straight_through(z_e: Tensor, z_q: Tensor) -> Tensor:
    """``z_e + sg[z_q - z_e]``: equal to ``z_q`` forward, gradient copied onto ``z_e``.

    Example:
        >>> z_e = torch.zeros(2, requires_grad=True)
        >>> out = straight_through(z_e, torch.ones(2))
        >>> out.sum().backward(); out.tolist(), z_e.grad.tolist()
        ([1.0, 1.0], [1.0, 1.0])
    """
    return z_e + (z_q - z_e).detach()


def vq_terms(z_e: Tensor, z_q: Tensor, beta: float = 0.25) -> tuple[Tensor, Tensor]:
    """The codebook term ``||sg[z_e] - e||²`` and the commitment term ``β||z_e - sg[e]||²``,
    each summed over all but the first dimension, shape ``(N,)``; ``z_q`` holds the chosen
    codes ``e``.

    Example:
        >>> codebook, commitment = vq_terms(torch.ones(1, 2), torch.zeros(1, 2), beta=0.5)
        >>> codebook.tolist(), commitment.tolist()
        ([2.0], [1.0])
    """
    codebook = (z_e.detach() - z_q).pow(2).flatten(1).sum(1)
    commitment = beta * (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
    return codebook, commitment


def codebook_usage(indices: Tensor, n_codes: int) -> tuple[float, float]:
    """The perplexity ``exp(-Σ_k p_k log p_k)`` of the code assignments (``p_k`` the fraction of
    assignments to code ``k``; ``K`` when all are used equally, 1 when one is used) and the
    fraction of the ``K`` codes used at least once.

    Example:
        >>> codebook_usage(torch.tensor([0, 1, 0, 1]), 4)
        (2.0, 0.5)
    """
    counts = torch.bincount(indices.flatten(), minlength=n_codes).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return float(entropy.exp()), float((counts > 0).double().mean())


class VQVAE(nn.Module):
    """A VQ-VAE with MLP encoder and decoder, ``P`` code positions and ``K`` codes of size ``D``.

    Energy: ``F(y) = min_k ||y - Dec(e_{k_1}, ..., e_{k_P})||²`` (the free energy by
    minimization over the discrete latent; :meth:`energy`, by enumeration of the ``K^P``
    combinations). Inference: amortized, nearest code to each encoder output
    (:meth:`amortized_energy`, an upper bound on ``F``). Strategy: architectural, at most
    ``K^P`` zero-energy points. Training loss (per sample, averaged over the batch):
    ``||y - Dec(z_q)||² + ||sg[z_e] - e||² + β||z_e - sg[e]||²`` with the straight-through
    gradient [0].

    Dead codes: in training mode, :meth:`loss` counts, for each code, the steps since it was
    last assigned; a code unused for ``restart_after`` steps is re-initialized to a random
    encoder output of the current batch (:meth:`restart_dead_codes`). Codes start as dead,
    so the first training step sets every code it leaves unassigned to an encoder output
    (a data-dependent initialization). ``restart_after=0`` turns restarts off.

    Args:
        n_features: Input size.
        n_codes: Codebook size ``K``.
        code_dim: Size ``D`` of each codebook vector.
        n_positions: Code positions ``P`` per input (the code carries ``P log2 K`` bits).
        hidden: Hidden layer sizes of the encoder (the decoder mirrors them).
        beta: Commitment weight ``β``.
        restart_after: Steps without an assignment after which a code is restarted.

    Raises:
        ValueError: On a size below 1, a negative ``beta`` or ``restart_after``.

    Example:
        >>> vq = VQVAE(8, n_codes=4, code_dim=2, n_positions=2, hidden=(16,))
        >>> vq.encode_indices(torch.zeros(3, 8)).shape, vq.energy(torch.zeros(3, 8)).shape
        (torch.Size([3, 2]), torch.Size([3]))
    """

    steps_unused: Tensor
    """Buffer ``(K,)``: training steps since each code was last assigned."""

    def __init__(
        self,
        n_features: int,
        n_codes: int = 64,
        code_dim: int = 8,
        n_positions: int = 1,
        hidden: Sequence[int] = (128,),
        beta: float = 0.25,
        restart_after: int = 100,
    ) -> None:
        super().__init__()
        for value, name in ((n_features, "n_features"), (n_codes, "n_codes")):
            check_int(value, name)
        check_int(code_dim, "code_dim")
        check_int(n_positions, "n_positions")
        check_real(beta, "beta")
        check_int(restart_after, "restart_after", minimum=0)
        self.n_codes, self.code_dim, self.n_positions = n_codes, code_dim, n_positions
        self.beta, self.restart_after = beta, restart_after
        self.encoder = mlp([n_features, *hidden, n_positions * code_dim])
        self.decoder = mlp([n_positions * code_dim, *reversed(hidden), n_features])
        self.codebook = nn.Parameter(torch.randn(n_codes, code_dim) / math.sqrt(code_dim))
        # Codes start as dead, so the first training step re-initializes every code it does
        # not assign to an encoder output of that batch (a data-dependent initialization).
        self.register_buffer("steps_unused", torch.full((n_codes,), restart_after))

    @property
    def bits(self) -> float:
        """``P log2 K``: the information the code carries."""
        return self.n_positions * math.log2(self.n_codes)

    def encode(self, y: Tensor) -> Tensor:
        """Encoder outputs ``z_e`` ``(N, P, D)`` of ``y`` ``(N, n_features)``."""
        check_ndim(y, 2, "y", "(N, D)")
        return self.encoder(y).view(len(y), self.n_positions, self.code_dim)

    def encode_indices(self, y: Tensor) -> Tensor:
        """The nearest code of each position, ``(N, P)``."""
        z_e = self.encode(y)
        with torch.no_grad():
            return nearest_code(z_e.flatten(0, 1), self.codebook).view(len(y), -1)

    def decode_indices(self, indices: Tensor) -> Tensor:
        """``Dec(e_{k_1}, ..., e_{k_P})`` for indices ``(N, P)``, shape ``(N, n_features)``."""
        return self.decoder(self.codebook[indices].flatten(1))

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, n_features)`` through the nearest codes."""
        return self.decode_indices(self.encode_indices(y))

    def code_energy(self, y: Tensor, indices: Tensor) -> Tensor:
        """``||y - Dec(e_k)||²`` at given codes ``k`` ``(N, P)``: the energy ``E(y, k)``."""
        return (y - self.decode_indices(indices)).pow(2).sum(1)

    def amortized_energy(self, y: Tensor) -> Tensor:
        """``E(y, k)`` at the encoder's nearest codes, ``(N,)``: an upper bound on ``F(y)``."""
        return self.code_energy(y, self.encode_indices(y))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``F(y) = min_k ||y - Dec(e_k)||²`` over all ``K^P`` code combinations, ``(N,)``.

        Raises:
            ValueError: If ``x`` is given, or ``K^P`` exceeds :data:`MAX_ENUMERATION` (use
                :meth:`amortized_energy` then).
        """
        check_unconditional(self, x)
        check_ndim(y, 2, "y", "(N, D)")
        combinations = self.n_codes**self.n_positions
        if combinations > MAX_ENUMERATION:
            raise ValueError(
                f"energy enumerates K^P = {self.n_codes}^{self.n_positions} = {combinations} "
                f"code combinations, more than {MAX_ENUMERATION}; use amortized_energy"
            )
        grid = torch.tensor(
            list(itertools.product(range(self.n_codes), repeat=self.n_positions)),
            device=y.device,
        )  # (K^P, P)
        decoded = self.decode_indices(grid)  # (K^P, n_features)
        distances = (y[:, None, :] - decoded[None]).pow(2).sum(2)  # (N, K^P)
        return distances.min(1).values

    def loss_terms(self, y: Tensor) -> dict[str, Tensor]:
        """The batch means of ``reconstruction``, ``codebook`` and ``commitment``, their sum
        ``loss``, and the ``indices`` ``(N, P)``. In training mode, updates the usage counts
        and restarts dead codes first (see the class docstring)."""
        z_e = self.encode(y)  # (N, P, D)
        flat = z_e.flatten(0, 1)  # (N·P, D)
        with torch.no_grad():
            indices = nearest_code(flat, self.codebook)
            if self.training and self.restart_after > 0:
                self._count_usage(indices)
                if self.restart_dead_codes(flat):
                    indices = nearest_code(flat, self.codebook)
        z_q = self.codebook[indices].view_as(z_e)
        reconstruction = (y - self.decoder(straight_through(z_e, z_q).flatten(1))).pow(2).sum(1)
        codebook, commitment = vq_terms(z_e, z_q, self.beta)
        terms = {
            "reconstruction": reconstruction.mean(),
            "codebook": codebook.mean(),
            "commitment": commitment.mean(),
        }
        terms["loss"] = terms["reconstruction"] + terms["codebook"] + terms["commitment"]
        terms["indices"] = indices.view(len(y), self.n_positions)
        return terms

    def loss(self, y: Tensor) -> Tensor:
        """The training loss (see :meth:`loss_terms`)."""
        return self.loss_terms(y)["loss"]

    @torch.no_grad()
    def _count_usage(self, indices: Tensor) -> None:
        used = torch.bincount(indices, minlength=self.n_codes) > 0
        self.steps_unused.add_(1).masked_fill_(used, 0)

    @torch.no_grad()
    def restart_dead_codes(self, vectors: Tensor, generator: torch.Generator | None = None) -> int:
        """Re-initializes each code unused for ``restart_after`` steps to a random row of
        ``vectors`` ``(M, D)`` (encoder outputs), resets its count; returns how many."""
        dead = (self.steps_unused >= self.restart_after).nonzero().flatten()
        if self.restart_after == 0 or len(dead) == 0:
            return 0
        rows = torch.randint(len(vectors), (len(dead),), generator=generator)
        self.codebook[dead] = vectors[rows.to(vectors.device)].to(self.codebook.dtype)
        self.steps_unused[dead] = 0
        return len(dead)
