"""Dictionary learning: sparse coding whose atoms are learned, each kept at unit norm.

Objective: ``min_{W, Z} 1/N Σ_n ½||y_n - z_n·W||² + λ||z_n||₁`` subject to ``||w_k|| = 1``
for each atom (row of ``W`` ``(K, D)``); without the norm constraint the L1 term could be
driven to zero by shrinking ``Z`` and growing ``W``, and the energy would collapse.
Alternating minimization: codes by FISTA (warm-started from the previous ones), then one
sweep of block-coordinate descent over the atoms [0]: with ``A = ZᵀZ`` and ``B = ZᵀY``,

``w_k ← normalize(w_k + (B_k - A_k W) / A_kk)``,

the exact minimizer over ``w_k`` on the unit sphere with the other atoms fixed. An atom that
no sample uses (``A_kk = 0``) is restarted on a random sample. Energy, inference and strategy
are those of :mod:`eblearn.latent.sparse_coding`.

[0] Mairal, Bach, Ponce, Sapiro, Online Learning for Matrix Factorization and Sparse Coding,
    2010, https://arxiv.org/abs/0908.0050
[1] Olshausen, Field, Emergence of simple-cell receptive field properties by learning a
    sparse code for natural images, 1996, https://doi.org/10.1038/381607a0
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eblearn._validate import check_choice
from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import (
    TorchEstimator,
    as_data,
    check_int,
    check_real,
    make_generator,
)
from eblearn.latent.sparse_coding import ALGORITHMS, SOLVERS, SparseCoder, sparse_coding_energy


def update_atoms(
    dictionary: Tensor, y: Tensor, codes: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """One block-coordinate sweep over the atoms, each kept at unit norm (see module doc).

    Args:
        dictionary: Current atoms ``(K, D)``.
        y: Samples ``(N, D)``.
        codes: Their codes ``(N, K)``.
        generator: Draws the samples that restart unused atoms.

    Returns:
        The new atoms ``(K, D)``, each of norm 1.
    """
    atoms = dictionary.clone()
    gram = codes.T @ codes  # A (K, K)
    target = codes.T @ y  # B (K, D)
    for k in range(len(atoms)):
        if gram[k, k] <= 1e-12 * max(1.0, float(gram.diagonal().max())):
            pick = torch.randint(len(y), (1,), generator=generator, device=y.device)
            direction = y[pick[0]] + 1e-3 * torch.randn(
                y.shape[1], generator=generator, device=y.device, dtype=y.dtype
            )
        else:
            direction = atoms[k] + (target[k] - gram[k] @ atoms) / gram[k, k]
        norm = direction.norm()
        if norm > 0:
            atoms[k] = direction / norm
    return atoms


class DictionaryLearning(TorchEstimator):
    """Learns ``K`` unit-norm atoms and sparse codes, following scikit-learn's API.

    Args:
        n_components: Number of atoms ``K``.
        alpha: Sparsity weight ``λ``.
        max_iter: Most alternations (codes, then atoms).
        tol: Stop when the objective falls by less than ``tol`` times itself.
        transform_algorithm: ``"fista"`` or ``"ista"`` for the codes.
        transform_max_iter: Most solver iterations per code update.
        transform_tol: The solver's duality-gap tolerance relative to ``||y||²``.
        dict_init: Starting atoms ``(K, D)`` (normalized); by default ``K`` random samples.
        random_state: Seed (or generator); ``None`` draws from torch's generator.

    Attributes:
        components_: ``(K, D)`` unit-norm atoms.
        error_: Objective (mean energy) after each alternation.
        n_iter_: Alternations run.
        n_features_in_: ``D``.

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> X = torch.randn(200, 8)
        >>> learner = DictionaryLearning(n_components=12, alpha=0.1, max_iter=10, random_state=0)
        >>> codes = learner.fit_transform(X)
        >>> codes.shape, learner.components_.norm(dim=1).allclose(torch.ones(12))
        (torch.Size([200, 12]), True)
    """

    def __init__(
        self,
        n_components: int = 64,
        alpha: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-5,
        transform_algorithm: str = "fista",
        transform_max_iter: int = 1000,
        transform_tol: float = 1e-4,
        dict_init: Any = None,
        random_state: int | torch.Generator | None = None,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.transform_algorithm = transform_algorithm
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.dict_init = dict_init
        self.random_state = random_state

    def _reference(self) -> Tensor:
        self._check_fitted("components_")
        return self.components_

    def _initial_atoms(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if self.dict_init is not None:
            atoms = as_data(self.dict_init, "dict_init").to(device=x.device, dtype=x.dtype)
            if atoms.shape != (self.n_components, x.shape[1]):
                raise ValueError(
                    f"dict_init must have shape ({self.n_components}, {x.shape[1]}), "
                    f"got {tuple(atoms.shape)}"
                )
        else:
            pick = torch.randint(len(x), (self.n_components,), generator=generator, device=x.device)
            noise = torch.randn(
                self.n_components, x.shape[1], generator=generator, device=x.device, dtype=x.dtype
            )
            atoms = x[pick] + 1e-2 * x.std() * noise
        return torch.nn.functional.normalize(atoms, dim=1)

    def _codes(self, x: Tensor, atoms: Tensor, init: Tensor | None) -> Tensor:
        solver = SOLVERS[self.transform_algorithm]
        return solver(
            x,
            atoms,
            self.alpha,
            max_iter=self.transform_max_iter,
            tol=self.transform_tol,
            init=init,
        ).codes

    def fit(self, X: Any, y: Any = None) -> DictionaryLearning:
        """Learns the atoms from ``X`` ``(N, D)``; returns ``self``.

        Raises:
            ValueError: On bad data or hyper-parameters (the message says which).
        """
        x = as_data(X)
        check_int(self.n_components, "n_components")
        check_int(self.max_iter, "max_iter")
        check_choice(self.transform_algorithm, ALGORITHMS, "transform_algorithm")
        check_real(self.alpha, "alpha")
        check_real(self.tol, "tol")
        check_int(self.transform_max_iter, "transform_max_iter")
        check_real(self.transform_tol, "transform_tol")
        generator = make_generator(self.random_state, x.device)
        atoms = self._initial_atoms(x, generator)
        codes: Tensor | None = None
        errors: list[float] = []
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - n_iter is reported
            codes = self._codes(x, atoms, codes)
            atoms = update_atoms(atoms, x, codes, generator)
            errors.append(float(sparse_coding_energy(x, codes, atoms, self.alpha).mean()))
            if len(errors) > 1 and errors[-2] - errors[-1] < self.tol * abs(errors[-1]):
                break
        self.components_ = atoms
        self.error_ = errors
        self.n_iter_ = n_iter
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, X: Any) -> Tensor:
        """Sparse codes ``(N, K)`` of ``X`` on the learned atoms."""
        return self._codes(self._check_input(X), self.components_, None)

    def fit_transform(self, X: Any, y: Any = None) -> Tensor:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def free_energy(self, X: Any) -> Tensor:
        """``F(y) = min_z ½||y - zW||² + λ||z||₁``, shape ``(N,)``."""
        x = self._check_input(X)
        return sparse_coding_energy(x, self.transform(x), self.components_, self.alpha)

    def _coder(self) -> SparseCoder:
        """A :class:`SparseCoder` on the learned atoms, with this learner's solver settings."""
        self._check_fitted("components_")
        return SparseCoder(
            self.components_,
            self.alpha,
            self.transform_algorithm,
            self.transform_max_iter,
            self.transform_tol,
        )

    @property
    def latent_dim(self) -> int:
        """``K``, the number of atoms: the size of the code ``z``."""
        return self.n_components

    def latent_energy(self, X: Any, codes: Any, x: Any = None) -> Tensor:
        """``E(y, z) = ½||y - zW||² + λ||z||₁`` for codes ``z`` ``(N, K)``, shape ``(N,)``."""
        check_unconditional(self, x)
        return self._coder().latent_energy(self._check_input(X), codes)

    def energy(self, X: Any, x: Any = None) -> Tensor:
        """``F(y) = min_z E(y, z)``, differentiable in ``y`` (:meth:`SparseCoder.energy`)."""
        check_unconditional(self, x)
        return self._coder().energy(self._check_input(X))
