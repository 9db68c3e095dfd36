import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from eblearn.latent import GaussianMixture
from eblearn.latent import gmm as gmm_module
from eblearn.latent.gmm import (
    component_log_density,
    estimate_covariances,
    normalize,
    precision_cholesky,
)

# Same data, same starting parameters and the same number of EM steps in float64: the
# mean log-likelihoods agree to rounding (measured ~1e-14); 1e-9 leaves room for BLAS.
LOGLIK_RTOL = 1e-9
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def start(digits):
    """Starting parameters from a short scikit-learn fit on 500 digits."""
    x = digits[:500]
    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in COVARIANCE_TYPES:
            fitted[kind] = SkGaussianMixture(
                3, covariance_type=kind, reg_covar=1e-2, max_iter=2, random_state=0
            ).fit(x)
    return x, fitted


@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_log_likelihood_matches_sklearn_after_the_same_em_steps(start, kind):
    x, fitted = start
    init = {
        "weights_init": fitted[kind].weights_,
        "means_init": fitted[kind].means_,
        "precisions_init": fitted[kind].precisions_,
    }
    settings = {"covariance_type": kind, "reg_covar": 1e-2, "max_iter": 8, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SkGaussianMixture(3, **settings, **init).fit(x)
        ours = GaussianMixture(3, **settings, **init).fit(torch.tensor(x))
    assert ours.score(torch.tensor(x)) == pytest.approx(theirs.score(x), rel=LOGLIK_RTOL)
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=LOGLIK_RTOL)
    np.testing.assert_allclose(ours.means_.numpy(), theirs.means_, atol=1e-8)
    np.testing.assert_allclose(ours.weights_.numpy(), theirs.weights_, atol=1e-10)
    np.testing.assert_allclose(ours.covariances_.numpy(), theirs.covariances_, atol=1e-8)
    # atol: entries that are 0 in scikit-learn's (constant pixels) are ~1e-29 in ours, whose
    # sums run in another order; the precisions themselves are of order 1/reg_covar = 100.
    np.testing.assert_allclose(ours.precisions_.numpy(), theirs.precisions_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        ours.predict_proba(torch.tensor(x)).numpy(), theirs.predict_proba(x), atol=1e-8
    )


def test_default_fit_reaches_sklearn_optimum_on_separated_blobs():
    x, _ = make_blobs(400, n_features=3, centers=4, cluster_std=0.6, random_state=1)
    ours = GaussianMixture(4, random_state=0).fit(torch.tensor(x))
    theirs = SkGaussianMixture(4, random_state=0).fit(x)
    assert ours.converged_
    assert ours.score(torch.tensor(x)) == pytest.approx(theirs.score(x), rel=1e-6)
    assert ours.bic(torch.tensor(x)) == pytest.approx(theirs.bic(x), rel=1e-6)
    assert ours.aic(torch.tensor(x)) == pytest.approx(theirs.aic(x), rel=1e-6)


def test_score_samples_and_free_energies_against_a_naive_computation():
    x, _ = make_blobs(60, n_features=2, centers=3, random_state=0)
    gmm = GaussianMixture(3, random_state=0).fit(torch.tensor(x))
    energies = np.zeros((len(x), 3))
    for k in range(3):  # E_k = -log π_k - log N(y; μ_k, Σ_k), with scipy's density
        density = multivariate_normal(gmm.means_[k].numpy(), gmm.covariances_[k].numpy())
        energies[:, k] = -math.log(float(gmm.weights_[k])) - density.logpdf(x)
    xt = torch.tensor(x)
    np.testing.assert_allclose(gmm.component_energies(xt).numpy(), energies, rtol=1e-9)
    log_p = np.log(np.exp(-energies).sum(1))
    np.testing.assert_allclose(gmm.score_samples(xt).numpy(), log_p, rtol=1e-9)
    np.testing.assert_allclose(gmm.free_energy(xt).numpy(), -log_p, rtol=1e-9)
    np.testing.assert_allclose(gmm.free_energy(xt, beta=math.inf).numpy(), energies.min(1))
    # The soft-min lies below the min and approaches it as β grows.
    gaps = [
        float((gmm.free_energy(xt, beta=math.inf) - gmm.free_energy(xt, b)).max())
        for b in (1, 10, 100)
    ]
    assert gaps[0] >= gaps[1] >= gaps[2] >= 0
    assert gaps[2] <= math.log(3) / 100 + 1e-12
    np.testing.assert_array_equal(gmm.predict(xt).numpy(), energies.argmin(1))


def test_samples_follow_the_mixture():
    gmm = GaussianMixture(2, covariance_type="full", random_state=0)
    x, _ = make_blobs(500, n_features=2, centers=[[-5, 0], [5, 0]], random_state=0)
    gmm.fit(torch.tensor(x))
    samples, labels = gmm.sample(4000, random_state=0)
    for k in range(2):
        chosen = samples[labels == k]
        torch.testing.assert_close(chosen.mean(0), gmm.means_[k], atol=0.1, rtol=0)
        torch.testing.assert_close(torch.cov(chosen.T), gmm.covariances_[k], atol=0.12, rtol=0)


def test_errors_are_clear():
    x = torch.randn(20, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown covariance_type 'cholesky'; valid choices"):
        GaussianMixture(2, covariance_type="cholesky").fit(x)
    with pytest.raises(ValueError, match=r"means_init must have shape \(2, 2\), got \(3, 2\)"):
        GaussianMixture(2, means_init=np.zeros((3, 2))).fit(x)
    with pytest.raises(ValueError, match=r"not positive definite.*raise reg_covar"):
        precision_cholesky(torch.zeros(1, 2, 2), "full")
    with pytest.raises(ValueError, match=r"variance is not positive.*raise reg_covar"):
        precision_cholesky(torch.zeros(1, 2), "diag")
    with pytest.raises(ValueError, match="beta must be > 0"):
        GaussianMixture(1).fit(x).free_energy(x, beta=0)
    with pytest.warns(RuntimeWarning, match="did not converge in 1 iterations"):
        GaussianMixture(2, max_iter=1, random_state=0).fit(x)


@pytest.mark.parametrize(
    ("covariance_type", "precisions", "message"),
    [
        (
            "full",
            [np.eye(2), np.diag([1.0, -2.0])],
            r"^precisions_init\[1\] is not positive definite; a precision matrix",
        ),
        (
            "full",
            [[[1.0, 0.5], [0.0, 1.0]], np.eye(2)],
            r"^precisions_init\[0\] is not symmetric",
        ),
        ("tied", np.diag([1.0, 0.0]), r"^precisions_init is not positive definite"),
        (
            "diag",
            [[1.0, 1.0], [2.0, -1.0]],
            r"^precisions_init\[1, 1\] = -1.0 is not positive \(component 1\)",
        ),
        (
            "spherical",
            [0.0, 1.0],
            r"^precisions_init\[0\] = 0.0 is not positive \(component 0\)",
        ),
        ("full", [np.eye(2), [[1.0, np.nan], [np.nan, 1.0]]], "precisions_init holds 2 NaN"),
    ],
)
def test_bad_precisions_init_names_the_component(covariance_type, precisions, message):
    """Not a Cholesky traceback from torch: which component's precision is wrong, and why."""
    x = torch.randn(20, 2, dtype=torch.float64)
    gmm = GaussianMixture(2, covariance_type=covariance_type, precisions_init=np.array(precisions))
    with pytest.raises(ValueError, match=message):
        gmm.fit(x)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"precisions_init": np.eye(2)},
            r"precisions_init must have shape \(2, 2, 2\), got \(2, 2\); expected \(K, D, D\) "
            "for covariance_type='full'",
        ),
        (
            {"precisions_init": np.ones(2), "covariance_type": "diag"},
            r"precisions_init must have shape \(2, 2\), got \(2,\); expected \(K, D\)",
        ),
        (
            {"weights_init": [1.0]},
            r"weights_init must have shape \(2,\), got \(1,\); expected \(K,\)",
        ),
        ({"means_init": np.zeros(2)}, r"means_init must have shape \(2, 2\), got \(2,\)"),
        ({"means_init": [[0.0, 0.0], [1.0]]}, r"means_init must be an array of shape \(2, 2\)"),
        ({"weights_init": [0.5, 0.6]}, "weights_init must sum to 1, got a sum of 1.1$"),
        ({"weights_init": [1.5, -0.5]}, r"weights_init\[1\] = -0.5 is negative"),
    ],
)
def test_bad_starting_parameters_are_refused_before_any_work(params, message, monkeypatch):
    x = torch.randn(20, 2, dtype=torch.float64)

    def no_start(*args, **kwargs):
        raise AssertionError("the starting responsibilities were computed before the check")

    monkeypatch.setattr(GaussianMixture, "_initial_resp", no_start)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **params).fit(x)


def test_given_starting_parameters_are_used_as_given():
    """With all three given, nothing is estimated at the start: one EM step from exactly
    these parameters is the M-step of the E-step they define (written out here by hand)."""
    x = torch.tensor([[-2.0, 0.0], [-1.0, 0.5], [1.0, -0.5], [2.0, 0.0]], dtype=torch.float64)
    weights = torch.tensor([0.25, 0.75], dtype=torch.float64)
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.0]], dtype=torch.float64)
    precisions = torch.stack([torch.eye(2), 2 * torch.eye(2)]).double()
    gmm = GaussianMixture(
        2, weights_init=weights, means_init=means, precisions_init=precisions, max_iter=1, tol=0
    )
    with pytest.warns(RuntimeWarning, match="did not converge"):
        gmm.fit(x)
    # The E-step by hand: r_nk ∝ π_k N(x_n; μ_k, Σ_k), then the M-step's weighted means.
    log_p = torch.stack(
        [
            torch.distributions.MultivariateNormal(means[k], precision_matrix=precisions[k])
            .log_prob(x)
            .add(weights[k].log())
            for k in range(2)
        ],
        1,
    )
    resp = log_p.softmax(1)
    torch.testing.assert_close(gmm.weights_, resp.mean(0))
    torch.testing.assert_close(gmm.means_, resp.T @ x / resp.sum(0)[:, None])
    assert gmm.lower_bound_ == pytest.approx(float(log_p.logsumexp(1).mean()), rel=1e-12)


def test_full_covariance_steps_in_row_blocks_match_a_loop_over_components(monkeypatch):
    """The blocked E and M steps of full covariances against the textbook formulas."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=generator, dtype=torch.float64)
    means = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    factors = torch.randn(4, 3, 3, generator=generator, dtype=torch.float64)
    covariances = factors @ factors.mT + torch.eye(3, dtype=torch.float64)
    resp = torch.softmax(torch.randn(50, 4, generator=generator, dtype=torch.float64), 1)
    counts = resp.sum(0)
    weighted_means = resp.T @ x / counts[:, None]
    density = np.stack(
        [
            multivariate_normal(m.numpy(), c.numpy()).logpdf(x.numpy())
            for m, c in zip(means, covariances)
        ],
        1,
    )
    scatter = torch.stack(
        [
            sum(r * torch.outer(v - m, v - m) for r, v in zip(resp[:, k], x))
            for k, m in enumerate(weighted_means)
        ]
    )
    prec_chol = precision_cholesky(covariances, "full")
    for block_elements in (1, 7 * 4 * 3, 1 << 18):  # one row, 7 rows and a single block
        monkeypatch.setattr(gmm_module, "BLOCK_ELEMENTS", block_elements)
        monkeypatch.setattr(gmm_module, "MIN_BLOCK_ROWS", 1)
        ours = component_log_density(x, means, prec_chol, "full")
        np.testing.assert_allclose(ours.numpy(), density, rtol=1e-12)
        estimated = estimate_covariances(x, resp, counts, weighted_means, "full", 0.5)
        expected = scatter / counts[:, None, None] + 0.5 * torch.eye(3, dtype=torch.float64)
        torch.testing.assert_close(estimated, expected, rtol=1e-12, atol=1e-12)


def test_normalize_matches_logsumexp_and_softmax_and_drops_subnormal_terms():
    weighted = torch.tensor([[0.0, -1.0, -95.0], [-3.0, -3.0, 1.0]], dtype=torch.float32)
    log_norm, resp = normalize(weighted.clone())
    torch.testing.assert_close(log_norm, torch.logsumexp(weighted, 1))
    torch.testing.assert_close(resp, torch.softmax(weighted, 1))
    # exp(-95) ≈ 5e-42 is a float32 subnormal: it comes out as an exact 0.
    assert resp[0, 2].item() == 0.0
    tiny = torch.finfo(torch.float32).tiny
    assert not bool(((resp > 0) & (resp < tiny)).any())


def test_float32_fit_far_from_the_origin_matches_float64():
    """EM runs on centered data: float32 data at 10⁴ from the origin fit like float64.

    Same float32-rounded data on both sides. Measured: means within 3.9e-4 (float32's spacing
    at 10⁴ is 9.8e-4) and covariances within 4e-8; EM on the raw data was off by 1.6e-3 and
    2.5e-6.
    """
    x, _ = make_blobs(2000, n_features=4, centers=3, cluster_std=0.5, random_state=0)
    single = torch.tensor(x + 1e4, dtype=torch.float32)
    settings = {"n_components": 3, "random_state": 0, "tol": 0.0, "max_iter": 30}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = GaussianMixture(**settings).fit(single.double())
        fitted = GaussianMixture(**settings).fit(single)
    ours, reference = fitted.means_[:, 0].argsort(), exact.means_[:, 0].argsort()
    torch.testing.assert_close(
        fitted.means_[ours].double(), exact.means_[reference], atol=1e-3, rtol=0
    )
    torch.testing.assert_close(
        fitted.covariances_[ours].double(), exact.covariances_[reference], atol=5e-7, rtol=0
    )
