"""Iterative hard thresholding against brute-force support enumeration and known recovery."""

from __future__ import annotations

import itertools

import pytest
import torch

from eblearn.latent import (
    hard_threshold,
    iterative_hard_thresholding,
    keep_largest,
    l0_energy,
)


def best_support(y: torch.Tensor, dictionary: torch.Tensor, k: int) -> tuple[float, tuple]:
    """min over every support S with |S| = k of the least-squares residual ½||y - z_S W_S||²."""
    best = (float("inf"), ())
    for support in itertools.combinations(range(len(dictionary)), k):
        atoms = dictionary[list(support)]  # (k, D)
        coef = torch.linalg.lstsq(atoms.T, y[:, None]).solution[:, 0]
        residual = 0.5 * float((y - coef @ atoms).pow(2).sum())
        best = min(best, (residual, support))
    return best


def incoherent_dictionary(k: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=1)


def sparse_codes(n: int, k: int, nonzero: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    codes = torch.zeros(n, k, dtype=torch.float64)
    for row in codes:
        support = torch.randperm(k, generator=g)[:nonzero]
        signs = torch.randint(0, 2, (nonzero,), generator=g) * 2 - 1
        row[support] = signs * (1 + torch.rand(nonzero, generator=g, dtype=torch.float64))
    return codes


def spikes_and_sines(d: int) -> torch.Tensor:
    """The d spikes and two ±1/√d Hadamard rows: coherence 1/√d (1/4 at d = 16)."""
    hadamard = torch.tensor([[1.0]], dtype=torch.float64)
    while len(hadamard) < d:
        hadamard = torch.cat(
            [torch.cat([hadamard, hadamard], 1), torch.cat([hadamard, -hadamard], 1)]
        )
    return torch.cat([torch.eye(d, dtype=torch.float64), hadamard[1:3] / d**0.5])


def test_reaches_the_brute_force_optimum_on_a_tiny_problem() -> None:
    """Coherence 1/4 < 1/(2k - 1) for k = 2: the best support is unique and IHT finds it."""
    dictionary = spikes_and_sines(16)
    truth = sparse_codes(10, len(dictionary), 2, seed=1)
    g = torch.Generator().manual_seed(2)
    y = truth @ dictionary + 0.05 * torch.randn(10, 16, generator=g, dtype=torch.float64)
    optima = [best_support(row, dictionary, 2) for row in y]
    for step in ("normalized", "fixed"):
        result = iterative_hard_thresholding(
            y, dictionary, n_nonzero=2, max_iter=3000, tol=1e-12, step=step
        )
        assert result.converged
        for code, energy, (optimum, support) in zip(
            result.codes, result.energy, optima, strict=True
        ):
            assert tuple(code.nonzero().flatten().tolist()) == support
            assert energy.item() == pytest.approx(optimum, rel=1e-8, abs=1e-12)


def test_recovers_sparse_codes_with_an_incoherent_dictionary() -> None:
    dictionary = incoherent_dictionary(128, 64, seed=3)
    truth = sparse_codes(20, 128, 4, seed=4)
    result = iterative_hard_thresholding(truth @ dictionary, dictionary, n_nonzero=4, tol=1e-10)
    assert torch.equal(result.codes != 0, truth != 0)
    torch.testing.assert_close(result.codes, truth, atol=1e-6, rtol=0)


def test_float32_codes_stay_finite_after_convergence() -> None:
    dictionary = incoherent_dictionary(128, 64, seed=3).float()
    truth = sparse_codes(8, 128, 4, seed=4).float()
    y = truth @ dictionary
    result = iterative_hard_thresholding(y, dictionary, n_nonzero=4, tol=0.0, max_iter=150)
    assert result.n_iter == 150  # tol=0 runs every iteration, long past convergence
    torch.testing.assert_close(result.codes, truth, atol=1e-5, rtol=0)


def test_energy_never_increases() -> None:
    dictionary = incoherent_dictionary(12, 8, seed=5)
    y = torch.randn(6, 8, dtype=torch.float64)
    for options in ({"n_nonzero": 3}, {"n_nonzero": 3, "step": "fixed"}, {"lam": 0.05}):
        result = iterative_hard_thresholding(y, dictionary, **options, record_history=True)
        steps = torch.tensor(result.history).diff()
        assert bool((steps <= 1e-12).all()), steps.max()
        assert len(result.history) == result.n_iter


def test_fixed_point_is_least_squares_on_its_support() -> None:
    dictionary = incoherent_dictionary(12, 8, seed=6)
    y = torch.randn(4, 8, dtype=torch.float64)
    result = iterative_hard_thresholding(y, dictionary, n_nonzero=3, max_iter=5000, tol=1e-12)
    for row, code in zip(y, result.codes, strict=True):
        support = code.nonzero().flatten()
        assert len(support) == 3
        atoms = dictionary[support]
        coef = torch.linalg.lstsq(atoms.T, row[:, None]).solution[:, 0]
        torch.testing.assert_close(code[support], coef, atol=1e-8, rtol=0)


def test_penalized_form_is_exact_for_an_orthonormal_dictionary() -> None:
    """With W orthonormal, ½||y - z||² + λ||z||₀ separates: keep y_k iff y_k² > 2λ."""
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    y = torch.randn(5, 6, dtype=torch.float64)
    lam = 0.3
    result = iterative_hard_thresholding(y, q, lam=lam)
    coords = y @ q.T
    expected = coords * (coords.pow(2) > 2 * lam)
    torch.testing.assert_close(result.codes, expected)
    torch.testing.assert_close(result.energy, l0_energy(y, expected, q, lam))


def test_thresholding_operators() -> None:
    z = torch.tensor([[3.0, -1.0, 0.5, -4.0]])
    assert keep_largest(z, 2).tolist() == [[3.0, 0.0, 0.0, -4.0]]
    assert hard_threshold(z, 0.9).tolist() == [[3.0, -1.0, 0.0, -4.0]]
    energy = l0_energy(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.eye(2), lam=2.0)
    assert energy.tolist() == [2.5]


def test_bad_inputs_are_named() -> None:
    w, y = torch.eye(3), torch.ones(2, 3)
    with pytest.raises(ValueError, match="exactly one of n_nonzero"):
        iterative_hard_thresholding(y, w)
    with pytest.raises(ValueError, match="exactly one of n_nonzero"):
        iterative_hard_thresholding(y, w, n_nonzero=1, lam=0.1)
    with pytest.raises(ValueError, match="at most the number of atoms K=3"):
        iterative_hard_thresholding(y, w, n_nonzero=4)
    with pytest.raises(ValueError, match="lam"):
        iterative_hard_thresholding(y, w, lam=-1.0)
    with pytest.raises(ValueError, match="features"):
        iterative_hard_thresholding(torch.ones(2, 4), w, n_nonzero=1)
    with pytest.raises(ValueError, match="init codes"):
        iterative_hard_thresholding(y, w, n_nonzero=1, init=torch.zeros(2, 2))
