"""Square ICA: separation against scikit-learn's FastICA, the energy against a loop over the
formula, its gradient, the likelihood ascent and the input checks."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import FastICA

from eblearn.energy import as_energy
from eblearn.latent import ICA, LATENT_MODELS, NotFittedError

SAMPLES = 2000
AMARI_BOUND = 0.05
AMARI_MARGIN = 0.02
"""How much worse than FastICA's Amari index eblearn's may be (different estimators: ML with
a fixed density against FastICA's negentropy contrast; both are noisy at N = 2000)."""


def amari_index(product: np.ndarray) -> float:
    """Amari et al. (1996)'s performance index of ``P = W A``, in [0, 1]; 0 iff ``P`` is a
    scaled permutation. Written out row by row and column by column."""
    p = np.abs(product)
    d = len(p)
    rows = sum(sum(p[i]) / max(p[i]) - 1 for i in range(d))
    columns = sum(sum(p[:, j]) / max(p[:, j]) - 1 for j in range(d))
    return (rows + columns) / (2 * d * (d - 1))


def mixtures(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``SAMPLES`` mixtures ``X = S Aᵀ`` of 3 super-Gaussian sources and the mixing ``A``."""
    rng = np.random.default_rng(seed)
    if kind == "laplace":
        sources = rng.laplace(size=(SAMPLES, 3))
    else:  # three different super-Gaussian shapes
        sources = np.column_stack(
            [
                rng.laplace(size=SAMPLES),
                rng.standard_t(5, size=SAMPLES),
                rng.logistic(size=SAMPLES) ** 3,
            ]
        )
    mixing = rng.normal(size=(3, 3))
    return sources @ mixing.T + rng.normal(size=3), mixing


def test_amari_index_is_near_zero_and_no_worse_than_fastica():
    for kind, seed in (("laplace", 0), ("laplace", 1), ("mixed", 2)):
        X, mixing = mixtures(kind, seed)
        ours = ICA(random_state=0).fit(torch.tensor(X))
        theirs = FastICA(whiten="unit-variance", random_state=0).fit(X)
        ours_index = amari_index(ours.components_.numpy() @ mixing)
        theirs_index = amari_index(theirs.components_ @ mixing)
        assert ours.converged_
        assert ours_index < AMARI_BOUND, (kind, seed, ours_index)
        assert ours_index <= theirs_index + AMARI_MARGIN, (kind, seed, ours_index, theirs_index)


def test_the_amari_index_reference_is_zero_on_scaled_permutations_only():
    permutation = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, -0.5], [3.0, 0.0, 0.0]])
    assert amari_index(permutation) == 0.0
    assert amari_index(np.ones((3, 3))) == pytest.approx(1.0)


def test_energy_equals_a_loop_over_the_formula():
    X, _ = mixtures("laplace", 3)
    ica = ICA(random_state=0).fit(torch.tensor(X))
    W, mu = ica.components_.numpy(), ica.mean_.numpy()
    _, log_det = np.linalg.slogdet(W)
    points = X[:10] * 1.5
    expected = []
    for x in points:  # -log|det W| - Σ_i log p(w_iᵀ(x - μ)), p(s) = 1 / (π cosh s)
        total = -log_det
        for i in range(3):
            s = sum(W[i, j] * (x[j] - mu[j]) for j in range(3))
            total -= math.log(1.0 / (math.pi * math.cosh(s)))
        expected.append(total)
    energies = ica.energy(torch.tensor(points))
    np.testing.assert_allclose(energies.numpy(), expected, rtol=1e-12)
    torch.testing.assert_close(ica.free_energy(torch.tensor(points)), energies)
    torch.testing.assert_close(as_energy(ica)(torch.tensor(points)), energies)
    assert ica.score(torch.tensor(X)) == pytest.approx(ica.log_likelihood_, rel=1e-12)


def test_energy_is_finite_far_from_the_data():
    X, _ = mixtures("laplace", 3)
    ica = ICA(random_state=0).fit(torch.tensor(X))
    far = torch.full((2, 3), 1e4, dtype=torch.float64)
    sources = ica.transform(far)
    expected = -torch.linalg.slogdet(ica.components_)[1] + (
        sources.abs() - math.log(2) + math.log(math.pi)
    ).sum(1)  # log cosh s = |s| - log 2 up to exp(-2|s|)
    torch.testing.assert_close(ica.energy(far), expected)


def test_the_energy_is_a_normalized_density_in_2d():
    rng = np.random.default_rng(4)
    X = rng.laplace(size=(500, 2)) @ np.array([[1.0, 0.4], [-0.3, 0.8]]).T
    ica = ICA(random_state=0).fit(torch.tensor(X))
    # integrate exp(-E) on a grid in x covering |s_i| <= 30 (the tails hold < 1e-11)
    corners = ica.inverse_transform(torch.tensor([[30.0, 30], [30, -30], [-30, 30], [-30, -30]]))
    low, high = corners.min(0).values, corners.max(0).values
    axes = [torch.linspace(float(low[i]), float(high[i]), 801, dtype=torch.float64) for i in (0, 1)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    cell = float((axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0]))
    mass = float(torch.exp(-ica.energy(grid)).sum()) * cell
    assert mass == pytest.approx(1.0, abs=2e-3)


def test_energy_gradient_matches_the_formula_and_finite_differences():
    X, _ = mixtures("mixed", 5)
    ica = ICA(random_state=0).fit(torch.tensor(X))
    points = torch.tensor(X[:6]).requires_grad_(True)
    (grad,) = torch.autograd.grad(ica.energy(points).sum(), points)
    W = ica.components_
    formula = torch.tanh((points.detach() - ica.mean_) @ W.T) @ W  # Wᵀ tanh(W(x - μ))
    torch.testing.assert_close(grad, formula)
    h = 1e-6
    for n in range(6):
        for j in range(3):
            shift = torch.zeros(1, 3, dtype=torch.float64)
            shift[0, j] = h
            x = points.detach()[n : n + 1]
            numeric = (ica.energy(x + shift) - ica.energy(x - shift)) / (2 * h)
            assert float(numeric) == pytest.approx(float(grad[n, j]), abs=1e-7)


def test_the_log_likelihood_increases_at_every_iteration():
    X = torch.tensor(mixtures("laplace", 6)[0])
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the truncated fits do not converge
        for max_iter in range(8):
            fitted = ICA(max_iter=max_iter, random_state=0).fit(X)
            assert fitted.n_iter_ == max_iter
            scores.append(fitted.score(X))
    assert all(b > a for a, b in itertools.pairwise(scores)), scores
    final = ICA(random_state=0).fit(X)
    assert final.score(X) > scores[-1]


def test_the_maximum_does_not_depend_on_whitening():
    X = torch.tensor(mixtures("laplace", 7)[0][:800])
    whitened = ICA(random_state=0, tol=1e-6).fit(X)
    raw = ICA(whiten=False, random_state=0, tol=1e-6, max_iter=5000).fit(X)
    assert raw.converged_ and whitened.converged_
    assert torch.equal(raw.whitening_, torch.eye(3, dtype=torch.float64))
    assert raw.score(X) == pytest.approx(whitened.score(X), abs=1e-9)
    # the same unmixing up to the order and sign of the sources
    product = raw.components_ @ whitened.mixing_
    assert amari_index(product.numpy()) < 1e-4


def test_sources_and_mixtures_round_trip_and_ml_sources_meet_the_stationarity_condition():
    X, _ = mixtures("laplace", 8)
    ica = ICA(random_state=0, tol=1e-6).fit(torch.tensor(X))
    sources = ica.fit_transform(torch.tensor(X))
    torch.testing.assert_close(ica.inverse_transform(sources), torch.tensor(X))
    torch.testing.assert_close(ica.mixing_ @ ica.components_, torch.eye(3, dtype=torch.float64))
    stationary = torch.tanh(sources).T @ sources / len(sources)  # mean φ(s)sᵀ = I
    torch.testing.assert_close(stationary, torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0)
    centered = torch.tensor(X) - ica.mean_
    white = centered @ ica.whitening_.T
    torch.testing.assert_close(white.T @ white / len(X), torch.eye(3, dtype=torch.float64))


def test_float32_data_give_the_float64_fit_in_float32():
    X = torch.tensor(mixtures("laplace", 9)[0])
    single = ICA(random_state=0).fit(X.float())
    double = ICA(random_state=0).fit(X)
    assert single.converged_  # the ascent runs in float64, so tol is reachable
    assert single.components_.dtype == torch.float32
    torch.testing.assert_close(single.components_, double.components_.float())
    assert single.score(X.float()) == pytest.approx(double.score(X), rel=1e-5)


def test_it_warns_when_it_does_not_converge():
    X = torch.tensor(mixtures("laplace", 0)[0])
    with pytest.warns(RuntimeWarning, match=r"ICA did not converge in 1 iterations"):
        ICA(max_iter=1, random_state=0).fit(X)


def test_bad_inputs_give_clear_errors():
    X = torch.tensor(mixtures("laplace", 0)[0][:50])
    with pytest.raises(ValueError, match=r"ICA is square: n_components must be None or .* = 3"):
        ICA(n_components=4).fit(X)
    with pytest.raises(ValueError, match=r"ICA is square"):
        ICA(n_components=2).fit(X)
    bad = X.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or Inf"):
        ICA().fit(bad)
    with pytest.raises(ValueError, match=r"singular covariance"):
        ICA().fit(torch.cat([X[:, :2], X[:, :1] + X[:, 1:2]], dim=1))
    with pytest.raises(ValueError, match=r"more samples than features"):
        ICA().fit(X[:3])
    with pytest.raises(ValueError, match=r"whiten must be True or False"):
        ICA(whiten="unit-variance").fit(X)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"max_iter must be an integer >= 0"):
        ICA(max_iter=-1).fit(X)
    with pytest.raises(NotFittedError, match=r"not fitted yet"):
        ICA().energy(X)
    ica = ICA(random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"X has 2 features, but ICA was fitted on 3"):
        ica.energy(X[:, :2])
    with pytest.raises(ValueError, match=r"unconditional energy"):
        ica.energy(X, X)
    with pytest.raises(ValueError, match=r"sources must have shape \(N, 3\)"):
        ica.inverse_transform(torch.zeros(2, 2))


def test_it_is_registered():
    assert LATENT_MODELS.get("ica") is ICA
