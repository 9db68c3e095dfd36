import itertools

import pytest
import torch

from eblearn.latent import DictionaryLearning, NotFittedError, fista, update_atoms
from eblearn.latent.sparse_coding import sparse_coding_energy


def _planted(n=400, k=8, d=16, active=2, seed=0):
    """Data made of ``active`` random atoms each, out of ``k`` unit atoms."""
    generator = torch.Generator().manual_seed(seed)
    atoms = torch.nn.functional.normalize(
        torch.randn(k, d, generator=generator, dtype=torch.float64), dim=1
    )
    codes = torch.zeros(n, k, dtype=torch.float64)
    for row in range(n):
        chosen = torch.randperm(k, generator=generator)[:active]
        codes[row, chosen] = torch.randn(
            active, generator=generator, dtype=torch.float64
        ).sign() * (1 + torch.rand(active, generator=generator, dtype=torch.float64))
    return codes @ atoms, atoms


def test_recovers_a_planted_dictionary_up_to_sign_and_order():
    x, true_atoms = _planted()
    learner = DictionaryLearning(8, alpha=0.05, max_iter=60, random_state=0).fit(x)
    cosines = (learner.components_ @ true_atoms.T).abs()  # (K learned, K true)
    assert float(cosines.max(0).values.min()) > 0.98
    torch.testing.assert_close(learner.components_.norm(dim=1), torch.ones(8, dtype=torch.float64))


def test_the_objective_never_increases():
    x, _ = _planted(seed=1)
    learner = DictionaryLearning(
        10, alpha=0.1, max_iter=15, tol=0, transform_tol=1e-10, random_state=0
    )
    errors = learner.fit(x).error_
    assert len(errors) == 15
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(errors))
    assert float(learner.free_energy(x).mean()) <= errors[-1] + 1e-9  # codes re-inferred


def test_atom_update_is_the_exact_constrained_minimizer_against_a_naive_loop():
    torch.manual_seed(0)
    y = torch.randn(30, 5, dtype=torch.float64)
    atoms = torch.nn.functional.normalize(torch.randn(4, 5, dtype=torch.float64), dim=1)
    codes = fista(y, atoms, 0.1, tol=1e-10).codes
    expected = atoms.clone()
    for k in range(4):  # w_k = normalize(Σ_n z_nk (y_n - Σ_{j≠k} z_nj w_j)), one atom at a time
        residual = y - sum(codes[:, j, None] * expected[j] for j in range(4) if j != k)
        direction = (codes[:, k, None] * residual).sum(0)
        expected[k] = direction / direction.norm()
    torch.testing.assert_close(update_atoms(atoms, y, codes), expected)
    before = sparse_coding_energy(y, codes, atoms, 0.1).sum()
    after = sparse_coding_energy(y, codes, expected, 0.1).sum()
    assert after <= before


def test_an_unused_atom_restarts_on_a_sample():
    y = torch.randn(20, 5, dtype=torch.float64)
    atoms = torch.nn.functional.normalize(torch.randn(3, 5, dtype=torch.float64), dim=1)
    codes = torch.randn(20, 3, dtype=torch.float64)
    codes[:, 2] = 0.0
    new = update_atoms(atoms, y, codes, torch.Generator().manual_seed(0))
    assert float(new[2].norm()) == pytest.approx(1.0)
    nearest = (torch.nn.functional.normalize(y, dim=1) @ new[2]).max()
    assert float(nearest) > 0.99


def test_transform_codes_are_sparse_and_reconstruct(digits_t):
    learner = DictionaryLearning(32, alpha=0.05, max_iter=5, random_state=0).fit(digits_t[:300])
    codes = learner.transform(digits_t[:300])
    assert codes.shape == (300, 32)
    assert float((codes == 0).float().mean()) > 0.3
    error = (codes @ learner.components_ - digits_t[:300]).pow(2).sum(1).mean()
    assert float(error) < 0.2 * float(digits_t[:300].pow(2).sum(1).mean())


def test_errors_are_clear():
    x = torch.randn(10, 4)
    with pytest.raises(NotFittedError):
        DictionaryLearning(3).transform(x)
    with pytest.raises(ValueError, match=r"dict_init must have shape \(3, 4\)"):
        DictionaryLearning(3, dict_init=torch.zeros(2, 4)).fit(x)
    with pytest.raises(ValueError, match="unknown transform_algorithm 'lars'"):
        DictionaryLearning(3, transform_algorithm="lars").fit(x)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        DictionaryLearning(3, alpha=-1).fit(x)
