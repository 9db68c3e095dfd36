import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from eblearn.latent import GaussianMixture
from eblearn.latent.gmm import precision_cholesky

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
    np.testing.assert_allclose(ours.precisions_.numpy(), theirs.precisions_, rtol=1e-6)
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
