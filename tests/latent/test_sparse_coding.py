import itertools

import numpy as np
import pytest
import torch
from sklearn.decomposition import SparseCoder as SkSparseCoder
from sklearn.linear_model import Lasso

from eblearn.latent import (
    SparseCoder,
    admm,
    fista,
    ista,
    lasso_duality_gap,
    soft_threshold,
    sparse_coding_energy,
)
from eblearn.latent.active_set import support_codes
from eblearn.latent.sparse_coding import SOLVERS, gradient_step

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


@pytest.mark.parametrize("solver", [admm, fista, ista])
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
    with pytest.raises(ValueError, match=r"relaxation \(α\) must lie in \(0, 2\), got 2.0"):
        admm(y, torch.randn(3, 5), 0.1, relaxation=2.0)
    with pytest.raises(ValueError, match=r"rho \(the ADMM penalty\) must be > 0, got 0.0"):
        admm(y, torch.randn(3, 5), 0.1, rho=0.0)
    with pytest.raises(ValueError, match=r"init codes must have shape \(4, 3\)"):
        admm(y, torch.randn(3, 5), 0.1, init=torch.zeros(4, 2))
    with pytest.raises(
        ValueError, match="unknown algorithm 'omp'; valid choices: admm, fista, ista"
    ):
        SparseCoder(torch.randn(3, 5), algorithm="omp").transform(y)
    with pytest.raises(ValueError, match=r"^tol must be >= 0 and finite, got nan$"):
        ista(y, torch.randn(3, 5), 0.1, tol=float("nan"))
    with pytest.raises(ValueError, match=r"^lam \(the sparsity weight λ\) must be >= 0 and finite"):
        admm(y, torch.randn(3, 5), float("inf"))


@pytest.mark.parametrize("algorithm", ["admm", "fista", "ista"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_all_zero_dictionary_gives_the_exact_zero_codes(algorithm, alpha):
    """With ``W = 0`` the energy is ``½||y||² + λ||z||₁``: ``z = 0`` is its minimizer (for
    ``λ = 0`` one of them), every algorithm returns it with a zero duality gap, and the free
    energy is ``½||y||²``. (ISTA and FISTA divided by the Lipschitz constant ``L = 0``.)"""
    y = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    coder = SparseCoder(torch.zeros(3, 4, dtype=torch.float64), alpha=alpha, algorithm=algorithm)
    assert torch.equal(coder.transform(y), torch.zeros(5, 3, dtype=torch.float64))
    torch.testing.assert_close(coder.free_energy(y), 0.5 * y.pow(2).sum(1))
    result = SOLVERS[algorithm](y, torch.zeros(3, 4, dtype=torch.float64), alpha)
    assert result.converged
    assert torch.equal(result.gap, torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("algorithm", ["fista", "ista"])
def test_zero_dictionary_shrinks_a_warm_start_to_zero(algorithm):
    """From a non-zero start the steps (of size 1, any size being valid when ``L = 0``)
    shrink each code by λ until it is 0, the unique minimizer for λ > 0."""
    y = torch.randn(2, 4, dtype=torch.float64)
    start = torch.tensor([[0.25, -1.0, 0.0], [2.0, 0.5, -0.1]], dtype=torch.float64)
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    result = SOLVERS[algorithm](y, zeros, 0.5, init=start, tol=0, max_iter=4)
    assert torch.equal(result.codes, torch.zeros(2, 3, dtype=torch.float64))
    assert gradient_step(zeros) == 1.0
    assert gradient_step(2 * torch.eye(3)) == 0.25  # 1/L with L = ||WWᵀ||₂ = 4


def _kkt_violation(y, codes, atoms, lam):
    """Largest violation of the lasso's subgradient conditions, by a loop over atoms:
    ``r·w_j = λ sign(z_j)`` where ``z_j ≠ 0`` and ``|r·w_j| ≤ λ`` where ``z_j = 0``."""
    worst = 0.0
    for n in range(len(y)):
        residual = y[n] - codes[n] @ atoms
        for j in range(len(atoms)):
            slope = float(residual @ atoms[j])
            if codes[n, j] != 0:
                worst = max(worst, abs(slope - lam * float(torch.sign(codes[n, j]))))
            else:
                worst = max(worst, abs(slope) - lam)
    return worst


@pytest.fixture(scope="module")
def coherent(digits):
    """A 4×-overcomplete, coherent dictionary (unit digits as atoms) and 40 other digits."""
    atoms = digits[200:456] - digits[200:456].mean(1, keepdims=True)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    x = digits[:40] - digits[:40].mean(1, keepdims=True)
    return torch.tensor(x), torch.tensor(atoms)


def test_admm_satisfies_the_kkt_conditions_and_equals_sklearn_codes(coherent):
    x, atoms = coherent
    result = admm(x, atoms, LAM, tol=1e-10)
    assert result.converged
    assert _kkt_violation(x, result.codes, atoms, LAM) < 1e-6
    # Lasso's objective is ours divided by D (alpha = λ/D); tol=1e-12 makes it exact.
    d = x.shape[1]
    exact = np.stack(
        [
            Lasso(alpha=LAM / d, fit_intercept=False, tol=1e-12, max_iter=100000)
            .fit(atoms.numpy().T, row)
            .coef_
            for row in x.numpy()
        ]
    )
    torch.testing.assert_close(result.codes, torch.tensor(exact), atol=1e-5, rtol=0)


def test_admm_polishing_reaches_the_same_codes_in_fewer_iterations(coherent):
    x, atoms = coherent
    polished = admm(x, atoms, LAM, tol=1e-8)
    plain = admm(x, atoms, LAM, tol=1e-8, polish=False, max_iter=20000)
    assert polished.converged and plain.converged
    assert polished.n_iter < plain.n_iter
    torch.testing.assert_close(
        sparse_coding_energy(x, polished.codes, atoms, LAM),
        sparse_coding_energy(x, plain.codes, atoms, LAM),
        atol=1e-6,
        rtol=0,
    )


@pytest.mark.parametrize("shape", [(20, 8), (12, 8)])  # K > 2D (Woodbury) and K ≤ 2D
def test_admm_both_linear_solves_agree_with_fista(shape):
    generator = torch.Generator().manual_seed(0)
    atoms = torch.nn.functional.normalize(
        torch.randn(*shape, generator=generator, dtype=torch.float64), dim=1
    )
    y = torch.randn(30, shape[1], generator=generator, dtype=torch.float64)
    ours = admm(y, atoms, 0.3, tol=1e-10, rho=2.0, relaxation=1.5)
    reference = fista(y, atoms, 0.3, tol=1e-12, max_iter=50000)
    assert ours.converged
    torch.testing.assert_close(ours.codes, reference.codes, atol=1e-5, rtol=0)


def test_admm_warm_start_and_cap(problem):
    x, atoms = problem
    xt, wt = torch.tensor(x[:40]), torch.tensor(atoms)
    result = admm(xt, wt, LAM, tol=1e-8)
    again = admm(xt, wt, LAM, tol=1e-8, init=result.codes, check_every=1)
    assert again.n_iter == 1
    capped = admm(xt, wt, LAM, tol=1e-12, max_iter=3)
    assert capped.n_iter == 3 and not capped.converged
    unchecked = admm(xt, wt, LAM, tol=0, max_iter=7)
    assert unchecked.n_iter == 7
    torch.testing.assert_close(unchecked.gap, lasso_duality_gap(xt, unchecked.codes, wt, LAM))


def test_support_codes_against_a_loop_of_small_solves():
    generator = torch.Generator().manual_seed(1)
    atoms = torch.randn(10, 6, generator=generator, dtype=torch.float64)
    atoms = torch.cat([atoms, torch.zeros(1, 6, dtype=torch.float64)])  # a zero atom: G_SS singular
    gram = atoms @ atoms.T
    correlation = torch.randn(5, 11, generator=generator, dtype=torch.float64)
    signs = torch.sign(torch.randn(5, 11, generator=generator, dtype=torch.float64))
    support = torch.zeros(5, 11, dtype=torch.bool)
    support[0, [1, 4]] = True
    support[1, [0, 2, 3]] = True
    support[2, [5, 7]] = True  # same size as row 0: one batched group
    support[4, [0, 10]] = True  # holds the zero atom
    codes, solved = support_codes(gram, correlation, support, signs, 0.4)
    assert solved.tolist() == [True, True, True, True, False]
    for n in range(4):
        index = support[n].nonzero()[:, 0].tolist()
        expected = torch.zeros(11, dtype=torch.float64)
        if index:
            sub = gram[index][:, index]
            rhs = correlation[n, index] - 0.4 * signs[n, index]
            expected[index] = torch.tensor(np.linalg.solve(sub.numpy(), rhs.numpy()))
        torch.testing.assert_close(codes[n], expected)


def test_duality_gap_against_a_naive_loop():
    """``P(z) - D(θ)`` with ``P = ½||y - zW||² + λ||z||₁``, ``D(θ) = θ·y - ½||θ||²`` at the
    feasible ``θ = r·min(1, λ/max_j |r·w_j|)``, written as loops."""
    generator = torch.Generator().manual_seed(3)
    atoms = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    y = torch.randn(4, 5, generator=generator, dtype=torch.float64)
    codes = torch.randn(4, 7, generator=generator, dtype=torch.float64)
    codes[codes.abs() < 0.5] = 0.0
    codes[3] = 0.0
    expected = []
    for n in range(4):
        residual = [
            float(y[n, d] - sum(codes[n, j] * atoms[j, d] for j in range(7))) for d in range(5)
        ]
        slopes = [sum(residual[d] * float(atoms[j, d]) for d in range(5)) for j in range(7)]
        scale = min(1.0, 0.3 / max(abs(s) for s in slopes))
        theta = [scale * r for r in residual]
        primal = 0.5 * sum(r * r for r in residual) + 0.3 * float(codes[n].abs().sum())
        dual = sum(t * float(y[n, d]) for d, t in enumerate(theta)) - 0.5 * sum(
            t * t for t in theta
        )
        expected.append(primal - dual)
    torch.testing.assert_close(
        lasso_duality_gap(y, codes, atoms, 0.3), torch.tensor(expected, dtype=torch.float64)
    )


def test_admm_push_through_step_solves_the_x_update():
    """``x = w + (y - wW)B`` with ``B = (ρI + WᵀW)⁻¹Wᵀ`` solves ``x(WWᵀ + ρI) = yWᵀ + ρw``."""
    from eblearn.latent.sparse_coding import _admm_operator

    generator = torch.Generator().manual_seed(4)
    for k, d in ((12, 5), (5, 12)):
        atoms = torch.randn(k, d, generator=generator, dtype=torch.float64)
        y = torch.randn(3, d, generator=generator, dtype=torch.float64)
        w = torch.randn(3, k, generator=generator, dtype=torch.float64)
        x = w + (y - w @ atoms) @ _admm_operator(atoms, 0.7)
        system = atoms @ atoms.T + 0.7 * torch.eye(k, dtype=torch.float64)
        expected = torch.linalg.solve(system, (y @ atoms.T + 0.7 * w).T).T
        torch.testing.assert_close(x, expected)


def test_admm_with_bfloat16_iterations_meets_the_same_tolerance(problem):
    """bfloat16 ADMM steps only guess supports: the exact polish (and float32 steps for the
    last samples) still reach the duality-gap tolerance, so the objective matches lasso_cd."""
    x, atoms = problem
    theirs = SkSparseCoder(
        atoms, transform_algorithm="lasso_cd", transform_alpha=LAM, transform_max_iter=5000
    ).transform(x)
    xt, wt = torch.tensor(x, dtype=torch.float32), torch.tensor(atoms, dtype=torch.float32)
    for tol in (1e-4, 1e-6):  # 1e-6 is below what bfloat16 steps alone can reach
        ours = admm(xt, wt, LAM, tol=tol, low_precision=True)
        assert ours.converged and ours.codes.dtype == torch.float32
        x64, w64 = torch.tensor(x), torch.tensor(atoms)
        gap = lasso_duality_gap(x64, ours.codes.double(), w64, LAM)
        assert bool((gap <= 2 * tol * x64.pow(2).sum(1)).all())  # float32 rounding aside
    # At tol = 1e-6 the gap (≤ 1e-6·||y||² ≈ 2e-5) is below the 1e-4 in objective.
    ours_energy = sparse_coding_energy(x64, ours.codes.double(), w64, LAM)
    their_energy = sparse_coding_energy(x64, torch.tensor(theirs), w64, LAM)
    np.testing.assert_allclose(ours_energy.numpy(), their_energy.numpy(), atol=OBJECTIVE_ATOL)


def test_support_codes_over_many_support_sizes_against_a_loop():
    """Supports of sizes 0..12 (several padded buckets) against one solve per row."""
    generator = torch.Generator().manual_seed(5)
    atoms = torch.randn(20, 16, generator=generator, dtype=torch.float64)
    gram = atoms @ atoms.T
    correlation = torch.randn(26, 20, generator=generator, dtype=torch.float64)
    signs = torch.sign(torch.randn(26, 20, generator=generator, dtype=torch.float64))
    support = torch.zeros(26, 20, dtype=torch.bool)
    for n in range(26):
        chosen = torch.randperm(20, generator=generator)[: n % 13]
        support[n, chosen] = True
    codes, solved = support_codes(gram, correlation, support, signs, 0.4)
    assert bool(solved.all())
    for n in range(26):
        index = support[n].nonzero()[:, 0].tolist()
        expected = np.zeros(20)
        if index:
            sub = gram[index][:, index].numpy()
            rhs = (correlation[n, index] - 0.4 * signs[n, index]).numpy()
            expected[index] = np.linalg.solve(sub, rhs)
        np.testing.assert_allclose(codes[n].numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("k", [16, 10])  # packed into words, and kept as booleans
def test_packed_supports_compare_like_the_booleans(k):
    from eblearn.latent.sparse_coding import _packed

    generator = torch.Generator().manual_seed(6)
    first = torch.rand(50, k, generator=generator) > 0.7
    second = first.clone()
    flip = torch.randint(0, k, (25,), generator=generator)
    second[torch.arange(25), flip] ^= True  # rows 0..24 differ in one atom
    same = (_packed(first) == _packed(second)).all(1)
    assert same.tolist() == (first == second).all(1).tolist() == [False] * 25 + [True] * 25


def test_admm_switches_from_bfloat16_to_full_precision(problem, monkeypatch):
    """After ``LOW_ITERATIONS`` bfloat16 steps the remaining samples go on in float32."""
    import eblearn.latent.sparse_coding as module

    x, atoms = problem
    xt, wt = torch.tensor(x, dtype=torch.float32), torch.tensor(atoms, dtype=torch.float32)
    monkeypatch.setattr(module, "LOW_ITERATIONS", 3)
    monkeypatch.setattr(module, "POLISH_ROUNDS", 0)
    switched = admm(xt, wt, LAM, tol=1e-6, low_precision=True, check_every=2)
    full = admm(xt, wt, LAM, tol=1e-6, low_precision=False, check_every=2)
    assert switched.converged and full.converged
    torch.testing.assert_close(
        sparse_coding_energy(xt, switched.codes, wt, LAM),
        sparse_coding_energy(xt, full.codes, wt, LAM),
        atol=1e-4,
        rtol=0,
    )


def test_admm_in_parallel_row_blocks_meets_the_same_tolerance(problem):
    """Blocks of rows solved in threads: the same problem per row, so the same tolerance,
    the same energies (within it) and the warm start split with the rows."""
    x, atoms = problem
    xt, wt = torch.tensor(x[:90]), torch.tensor(atoms)
    threads = torch.get_num_threads()
    whole = admm(xt, wt, LAM, tol=1e-8, n_jobs=1)
    blocks = admm(xt, wt, LAM, tol=1e-8, n_jobs=3)
    assert blocks.converged and blocks.codes.shape == whole.codes.shape
    assert bool((blocks.gap <= 1e-8 * xt.pow(2).sum(1)).all())
    torch.testing.assert_close(
        sparse_coding_energy(xt, blocks.codes, wt, LAM),
        sparse_coding_energy(xt, whole.codes, wt, LAM),
        atol=1e-6,
        rtol=0,
    )
    again = admm(xt, wt, LAM, tol=1e-8, init=blocks.codes, n_jobs=3, check_every=1)
    assert again.n_iter == 1  # each block got its own rows' codes
    assert torch.get_num_threads() == threads  # the caller's intra-op threads are unchanged
    with pytest.raises(ValueError, match="n_jobs"):
        admm(xt, wt, LAM, n_jobs=0)
