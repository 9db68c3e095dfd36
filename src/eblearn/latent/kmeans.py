"""K-means as an energy with a one-hot latent code.

Energy: ``E(y, z) = ||y - Wᵀz||²`` with ``W`` the ``(K, D)`` matrix of centers and ``z`` a
one-hot vector of ``K`` entries. Free energy (zero temperature): ``F(y) = min_z E(y, z)
= min_k ||y - w_k||²``. Inference: enumeration of the ``K`` codes. Strategy: architectural;
only ``K`` points have zero energy, so the volume of low energy is bounded by construction.
Training is Lloyd's algorithm [0], alternating inference (assign each sample to its nearest
center) and the closed-form minimization over ``W`` (each center becomes the mean of its
samples); k-means++ [1] (greedy, with ``2 + log K`` candidates per step) picks the start.
Hamerly's distance bounds (:mod:`eblearn.latent.hamerly`) skip the distance computations
that cannot change an assignment, so an iteration costs far less than a full pass once the
centers settle.

[0] Lloyd, Least squares quantization in PCM, 1982, https://doi.org/10.1109/TIT.1982.1056489
[1] Arthur, Vassilvitskii, k-means++: the advantages of careful seeding, 2007,
    https://dl.acm.org/doi/10.5555/1283383.1283494
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eblearn.energy.protocol import check_unconditional
from eblearn.latent._estimator import (
    TorchEstimator,
    as_codes,
    as_data,
    check_int,
    check_real,
    make_generator,
)
from eblearn.latent.hamerly import hamerly_lloyd, nearest_two, with_ones

INITS = ("k-means++", "random")


def squared_distances(x: Tensor, centers: Tensor, x_sq: Tensor | None = None) -> Tensor:
    """``||x_n - c_k||²`` for all pairs, shape ``(N, K)``, computed as ``|x|² - 2x·c + |c|²``.

    Args:
        x: Samples ``(N, D)``.
        centers: Centers ``(K, D)``.
        x_sq: ``|x_n|²`` ``(N,)`` if already known.
    """
    if x_sq is None:
        x_sq = x.pow(2).sum(1)
    c_sq = centers.pow(2).sum(1)
    distances = torch.addmm(x_sq[:, None] + c_sq[None, :], x, centers.T, alpha=-2.0)
    return distances.clamp_min_(0.0)


def nearest_center(x: Tensor, centers: Tensor, x_sq: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Index of the nearest center and the squared distance to it, each of shape ``(N,)``.

    The blockwise search of :func:`~eblearn.latent.hamerly.nearest_two` (one product of
    ``[x, 1]`` with ``[c, -|c|²/2]`` per block), which also finds the runner-up; rows that the
    product's rounding leaves undecided are settled on direct distances, and an exact tie goes
    to the lowest index.

    Args:
        x: Samples ``(N, D)``.
        centers: ``(K, D)``.
        x_sq: ``|x|²`` ``(N,)`` if known.
    """
    if x_sq is None:
        x_sq = x.pow(2).sum(1)
    labels, nearest, _ = nearest_two(with_ones(x), x_sq, centers)
    return labels, nearest


def kmeans_plusplus(
    X: Any, n_clusters: int, random_state: int | torch.Generator | None = None
) -> Tensor:
    """Greedy k-means++ seeding: ``n_clusters`` rows of ``X`` ``(N, D)``, shape ``(K, D)``.

    The first center is a uniformly drawn sample; each next one is the best (lowest total
    squared distance to the nearest center) of ``2 + floor(log K)`` candidates drawn with
    probability proportional to the current squared distance to the nearest center [1].

    Raises:
        ValueError: If ``n_clusters`` is not in ``[1, N]``.
    """
    x = as_data(X)
    check_int(n_clusters, "n_clusters")
    if n_clusters > len(x):
        raise ValueError(f"n_clusters={n_clusters} exceeds the {len(x)} samples")
    generator = make_generator(random_state, x.device)
    n = len(x)
    trials = 2 + int(math.log(n_clusters))
    x_sq = x.pow(2).sum(1)
    first = int(torch.randint(n, (1,), generator=generator, device=x.device).item())
    centers = [x[first]]
    closest = squared_distances(x, x[first : first + 1], x_sq)[:, 0]  # (N,)
    for _ in range(1, n_clusters):
        cumulative = torch.cumsum(closest, 0)
        draws = torch.rand(trials, generator=generator, device=x.device, dtype=x.dtype)
        candidates = torch.searchsorted(cumulative, draws * cumulative[-1]).clamp_max(n - 1)
        to_candidates = squared_distances(x, x[candidates], x_sq)  # (N, trials)
        to_candidates = torch.minimum(to_candidates, closest[:, None])
        best = int(to_candidates.sum(0).argmin().item())
        centers.append(x[candidates[best]])
        closest = to_candidates[:, best]
    return torch.stack(centers)


class KMeans(TorchEstimator):
    """K-means clustering on torch tensors, following scikit-learn's ``KMeans`` (Lloyd).

    Each run stops when the labels no longer change or when the squared center shift
    summed over centers is at most ``tol`` times the mean per-feature variance of the data
    (scikit-learn's rule); the run of lowest inertia is kept. A cluster left empty is moved
    to the sample farthest from its center. Half-precision data (float16, bfloat16) is
    clustered in float32, and the fitted state is float32; complex data is refused.

    Args:
        n_clusters: Number of centers ``K``.
        init: ``"k-means++"``, ``"random"`` (``K`` distinct samples) or an array ``(K, D)`` of
            starting centers.
        n_init: Runs from different starts, or ``"auto"`` (1 for k-means++ or given centers,
            10 for random).
        max_iter: Most Lloyd iterations per run.
        tol: Relative tolerance on the center shift.
        random_state: Seed (or generator) of the starts; ``None`` draws from torch's generator.

    Attributes:
        cluster_centers_: ``(K, D)`` centers ``W``.
        labels_: ``(N,)`` index of each training sample's center.
        inertia_: Sum of squared distances of the samples to their centers.
        n_iter_: Iterations of the best run.
        n_features_in_: ``D``.

    Example:
        >>> X = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
        >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
        >>> sorted(km.cluster_centers_[:, 1].tolist())
        [0.0, 5.0]
        >>> round(km.inertia_, 4), round(-km.score(X), 4)
        (0.01, 0.01)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        init: str | Any = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int | torch.Generator | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _reference(self) -> Tensor:
        self._check_fitted("cluster_centers_")
        return self.cluster_centers_

    def _check_params(self, x: Tensor) -> tuple[int, Tensor | None]:
        check_int(self.n_clusters, "n_clusters")
        check_int(self.max_iter, "max_iter")
        if self.n_clusters > len(x):
            raise ValueError(f"n_clusters={self.n_clusters} exceeds the {len(x)} samples")
        check_real(self.tol, "tol")
        given: Tensor | None = None
        if isinstance(self.init, str):
            if self.init not in INITS:
                raise ValueError(
                    f"unknown init {self.init!r}; valid choices: {', '.join(INITS)} or an array "
                    "of starting centers"
                )
        else:
            given = as_data(self.init, "init").to(device=x.device, dtype=x.dtype)
            if given.shape != (self.n_clusters, x.shape[1]):
                raise ValueError(
                    f"init centers must have shape ({self.n_clusters}, {x.shape[1]}), "
                    f"got {tuple(given.shape)}"
                )
        n_init = self.n_init
        if n_init == "auto":
            n_init = 10 if self.init == "random" else 1
        check_int(n_init, "n_init")
        return int(n_init), given

    def fit(self, X: Any, y: Any = None) -> KMeans:
        """Clusters ``X`` ``(N, D)``; returns ``self``.

        Raises:
            ValueError: On bad data or hyper-parameters (the message says which).
        """
        x = as_data(X)
        n_init, given = self._check_params(x)
        generator = make_generator(self.random_state, x.device)
        # Centering changes nothing but the rounding of |x|² - 2x·c + |c|² (as scikit-learn).
        offset = x.mean(0)
        centered = x - offset
        x_sq = centered.pow(2).sum(1)
        x_one = with_ones(centered)  # [x, 1], shared by every run's searches
        # The mean per-feature variance, from the centered squares already at hand.
        threshold = self.tol * float(x_sq.mean()) / x.shape[1]
        best: tuple[float, Tensor, Tensor, int] | None = None
        for _ in range(n_init):
            if given is not None:
                start = given - offset
            elif self.init == "k-means++":
                start = kmeans_plusplus(centered, self.n_clusters, generator)
            else:
                pick = torch.randperm(len(x), generator=generator, device=x.device)
                start = centered[pick[: self.n_clusters]]
            centers, labels, inertia, n_iter = self._lloyd(centered, x_one, x_sq, start, threshold)
            if best is None or inertia < best[0]:
                best = (inertia, centers, labels, n_iter)
        assert best is not None  # n_init >= 1
        inertia, centers, labels, n_iter = best
        self.cluster_centers_ = centers + offset
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.n_features_in_ = x.shape[1]
        return self

    def _lloyd(
        self, x: Tensor, x_one: Tensor, x_sq: Tensor, centers: Tensor, threshold: float
    ) -> tuple[Tensor, Tensor, float, int]:
        """One run of Lloyd's algorithm from ``centers`` (pruned by Hamerly's bounds, which
        change no assignment), then the labels of the final centers:
        (centers, labels, inertia, n_iter)."""
        centers, last, n_iter, _ = hamerly_lloyd(
            x, x_sq, centers, self.max_iter, threshold, x_one=x_one
        )
        labels, distances, _ = nearest_two(x_one, x_sq, centers, hint=last)
        return centers, labels, float(distances.sum()), n_iter

    def fit_predict(self, X: Any, y: Any = None) -> Tensor:
        """``fit(X).labels_``."""
        return self.fit(X).labels_

    def predict(self, X: Any) -> Tensor:
        """Index of the nearest center ``argmin_k ||y - w_k||²``, shape ``(N,)``."""
        x = self._check_input(X)
        return nearest_center(x, self.cluster_centers_)[0]

    def transform(self, X: Any) -> Tensor:
        """Euclidean distances to each center, shape ``(N, K)``."""
        x = self._check_input(X)
        return squared_distances(x, self.cluster_centers_).sqrt()

    def fit_transform(self, X: Any, y: Any = None) -> Tensor:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    @property
    def latent_dim(self) -> int:
        """``K``: the code ``z`` of :meth:`latent_energy` is a one-hot vector of ``K`` entries."""
        return self.n_clusters

    def energy(self, X: Any, x: Any = None) -> Tensor:
        """``F(y) = min_k ||y - w_k||²``, differentiable in ``y``, shape ``(N,)``.

        The zero-temperature free energy of :meth:`latent_energy` over the one-hot codes
        (:meth:`free_energy`'s value, computed without the blockwise search so that gradients
        reach ``y``); ``x`` must be ``None``.
        """
        check_unconditional(self, x)
        y = self._check_input(X)
        return (y[:, None, :] - self.cluster_centers_).pow(2).sum(2).min(1).values  # (N, K)→(N,)

    def latent_energy(self, X: Any, codes: Any, x: Any = None) -> Tensor:
        """``E(y, z) = ||y - Wᵀz||²`` for codes ``z`` ``(N, K)`` (one-hot or not), ``(N,)``."""
        check_unconditional(self, x)
        x = self._check_input(X)
        z = as_codes(codes, x, self.n_clusters)
        return (x - z @ self.cluster_centers_).pow(2).sum(1)

    def free_energy(self, X: Any) -> Tensor:
        """``F(y) = min_k ||y - w_k||²``, the energy at the inferred one-hot code, ``(N,)``."""
        x = self._check_input(X)
        return nearest_center(x, self.cluster_centers_)[1]

    def score_samples(self, X: Any) -> Tensor:
        """``-F(y)``, minus the squared distance to the nearest center, shape ``(N,)``."""
        return -self.free_energy(X)

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the inertia of ``X`` (scikit-learn's ``KMeans.score``): a sum, not a mean."""
        return float(self.score_samples(X).sum())
