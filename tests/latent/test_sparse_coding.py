import itertools

import numpy as np
import pytest
import torch
from sklearn.decomposition import SparseCoder as SkSparseCoder

from eblearn.latent import (
    SparseCoder,
    fista,
    ista,
    lasso_duality_gap,
    soft_threshold,
    sparse_coding_energy,
)

LAM = 0.2
# The tolerance: codes as good as scikit-learn's lasso_cd to 1e-4 in objective.
OBJECTIVE_ATOL = 1e-4


@pytest.fixture(scope="module")
def problem(digits):
    """200 centered digits and a random overcomplete dictionary of 100 unit atoms."""
    x = digits[:200] - digits[:200].mean(1, keepdims=True)
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((100, 64))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    return x, atoms


def test_soft_threshold_is_the_proximal_operator_of_the_l1_norm():
    values = torch.linspace(-3, 3, 13, dtype=torch.float64)
    grid = torch.linspace(-4, 4, 80001, dtype=torch.float64)
    for v in values:  # argmin_x ½(x - v)² + t|x| by brute force
        objective = 0.5 * (grid - v) ** 2 + 0.7 * grid.abs()
        assert float(soft_threshold(v, 0.7)) == pytest.approx(
            float(grid[objective.argmin()]), abs=1e-4
        )


def test_energy_against_a_naive_loop():
    torch.manual_seed(0)
    y, z, w = torch.randn(3, 5), torch.randn(3, 4), torch.randn(4, 5)
    expected = []
    for n in range(3):
        reconstruction = sum(z[n, k] * w[k] for k in range(4))
        expected.append(
            0.5 * float(((y[n] - reconstruction) ** 2).sum()) + 0.3 * float(z[n].abs().sum())
        )
    torch.testing.assert_close(sparse_coding_energy(y, z, w, 0.3), torch.tensor(expected))


@pytest.mark.parametrize("solver", [fista, ista])
def test_codes_match_sklearn_lasso_cd_in_objective(problem, solver):
    x, atoms = problem
    theirs = SkSparseCoder(
        atoms, transform_algorithm="lasso_cd", transform_alpha=LAM, transform_max_iter=5000
    ).transform(x)
    xt, wt = torch.tensor(x), torch.tensor(atoms)
    ours = solver(xt, wt, LAM, max_iter=20000, tol=1e-9)
    assert ours.converged
    ours_energy = sparse_coding_energy(xt, ours.codes, wt, LAM)
    their_energy = sparse_coding_energy(xt, torch.tensor(theirs), wt, LAM)
    np.testing.assert_allclose(ours_energy.numpy(), their_energy.numpy(), atol=OBJECTIVE_ATOL)
    assert bool((ours_energy <= their_energy + 1e-9).all())  # and never worse
    # sklearn's transform_alpha is λ itself (its Lasso's 1/D scaling is compensated inside).
    coder = SparseCoder(wt, alpha=LAM, tol=1e-9, max_iter=20000)
    torch.testing.assert_close(coder.fit().transform(xt), ours.codes, atol=1e-3, rtol=0)
    torch.testing.assert_close(coder.free_energy(xt), ours_energy, atol=1e-6, rtol=0)


def test_the_duality_gap_bounds_the_suboptimality_and_vanishes_at_the_optimum(problem):
    x, atoms = problem
    xt, wt = torch.tensor(x[:50]), torch.tensor(atoms)
    best = fista(xt, wt, LAM, max_iter=20000, tol=1e-12).codes
    optimum = sparse_coding_energy(xt, best, wt, LAM)
    assert float(lasso_duality_gap(xt, best, wt, LAM).max()) < 1e-9
    for scale in (0.0, 0.5, 1.5):
        codes = best * scale + 0.01 * torch.randn_like(best)
        gap = lasso_duality_gap(xt, codes, wt, LAM)
        excess = sparse_coding_energy(xt, codes, wt, LAM) - optimum
        assert bool((gap >= excess - 1e-9).all())
        assert bool((excess >= -1e-9).all())


def test_orthonormal_dictionary_gives_the_shrunk_projection():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    y = torch.randn(10, 6, dtype=torch.float64)
    expected = soft_threshold(y @ q.T, 0.3)  # atoms are the rows of q
    torch.testing.assert_close(fista(y, q, 0.3, tol=1e-12).codes, expected)
    torch.testing.assert_close(ista(y, q, 0.3, tol=1e-12).codes, expected)


def test_tiny_lambda_reconstructs_the_data(problem):
    x, atoms = problem
    xt, wt = torch.tensor(x[:30]), torch.tensor(atoms)
    codes = fista(xt, wt, 1e-3, max_iter=5000, tol=1e-10).codes
    residual = (codes @ wt - xt).pow(2).sum(1)
    assert bool((residual <= 1e-3 * xt.pow(2).sum(1)).all())  # code @ components_ ≈ X


def test_ista_decreases_the_energy_at_every_step_and_fista_is_faster(problem):
    x, atoms = problem
    xt, wt = torch.tensor(x[:50]), torch.tensor(atoms)
    history = ista(xt, wt, LAM, max_iter=200, tol=0, record_history=True).history
    assert len(history) == 200
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(history))
    fast = fista(xt, wt, LAM, max_iter=200, tol=0, record_history=True).history
    assert fast[-1] < history[-1]
    assert fista(xt, wt, LAM, tol=1e-8).n_iter < ista(xt, wt, LAM, tol=1e-8, max_iter=5000).n_iter


def test_warm_start_and_per_sample_early_exit(problem):
    x, atoms = problem
    xt, wt = torch.tensor(x[:40]), torch.tensor(atoms)
    result = fista(xt, wt, LAM, tol=1e-8, check_every=1)
    assert bool((result.gap <= 1e-8 * xt.pow(2).sum(1)).all())
    again = fista(xt, wt, LAM, tol=1e-8, init=result.codes, check_every=1)
    assert again.n_iter == 1
    coarse = fista(xt, wt, LAM, tol=1e-8, check_every=25)
    torch.testing.assert_close(
        sparse_coding_energy(xt, coarse.codes, wt, LAM),
        sparse_coding_energy(xt, result.codes, wt, LAM),
        atol=1e-6,
        rtol=0,
    )
    capped = fista(xt, wt, LAM, tol=1e-12, max_iter=3)
    assert capped.n_iter == 3
    assert not capped.converged


def test_errors_are_clear():
    y = torch.randn(4, 5)
    with pytest.raises(ValueError, match="dictionary atoms have 6 features but y has 5"):
        fista(y, torch.randn(3, 6), 0.1)
    with pytest.raises(ValueError, match=r"dictionary must have shape \(K, D\)"):
        ista(y, torch.randn(3, 5, 1), 0.1)
    with pytest.raises(ValueError, match=r"lam .* must be >= 0"):
        fista(y, torch.randn(3, 5), -1.0)
    with pytest.raises(ValueError, match=r"init codes must have shape \(4, 3\)"):
        fista(y, torch.randn(3, 5), 0.1, init=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="unknown algorithm 'omp'; valid choices: fista, ista"):
        SparseCoder(torch.randn(3, 5), algorithm="omp").transform(y)
