import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from eblearn.latent import PCA, NotFittedError
from eblearn.latent import pca as pca_module

# Tolerances: both sides work in float64; the solvers differ (eigh vs LAPACK SVD), so values
# agree to rounding, far below these bounds.
VARIANCE_RTOL = 1e-9
COMPONENT_ATOL = 1e-8
LOGLIK_RTOL = 1e-9


@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
def test_variances_and_components_match_sklearn(digits, digits_t, solver):
    ours = PCA(n_components=12, svd_solver=solver).fit(digits_t)
    theirs = SkPCA(n_components=12, svd_solver="full").fit(digits)
    np.testing.assert_allclose(
        ours.explained_variance_.numpy(), theirs.explained_variance_, rtol=VARIANCE_RTOL
    )
    np.testing.assert_allclose(
        ours.explained_variance_ratio_.numpy(), theirs.explained_variance_ratio_, rtol=1e-9
    )
    np.testing.assert_allclose(
        ours.singular_values_.numpy(), theirs.singular_values_, rtol=VARIANCE_RTOL
    )
    # Up to the sign of each component.
    signs = np.sign((ours.components_.numpy() * theirs.components_).sum(1, keepdims=True))
    np.testing.assert_allclose(
        ours.components_.numpy() * signs, theirs.components_, atol=COMPONENT_ATOL
    )
    np.testing.assert_allclose(float(ours.noise_variance_), theirs.noise_variance_, rtol=1e-9)
    np.testing.assert_allclose(
        ours.transform(digits_t).abs(), np.abs(theirs.transform(digits)), atol=1e-8
    )


def test_log_likelihood_matches_sklearn_and_free_energy_is_its_negative(digits, digits_t):
    ours = PCA(n_components=10).fit(digits_t)
    theirs = SkPCA(n_components=10).fit(digits)
    np.testing.assert_allclose(
        ours.score_samples(digits_t).numpy(), theirs.score_samples(digits), rtol=LOGLIK_RTOL
    )
    assert ours.score(digits_t) == pytest.approx(theirs.score(digits), rel=LOGLIK_RTOL)
    torch.testing.assert_close(ours.free_energy(digits_t), -ours.score_samples(digits_t))


def test_free_energy_is_the_gaussian_negative_log_density_of_the_model_covariance(digits_t):
    pca = PCA(n_components=5).fit(digits_t)
    covariance = pca.get_covariance().numpy()
    precision = np.linalg.inv(covariance)
    _, log_det = np.linalg.slogdet(covariance)
    y = digits_t[:20].numpy()
    expected = []
    for row in y:  # a naive loop over samples
        centered = row - pca.mean_.numpy()
        expected.append(
            0.5 * (centered @ precision @ centered + log_det + len(row) * np.log(2 * np.pi))
        )
    np.testing.assert_allclose(pca.free_energy(digits_t[:20]).numpy(), expected, rtol=1e-8)
    # Its off-subspace part is the reconstruction energy scaled by 1/(2σ²).
    inside = (digits_t[:20] - pca.mean_) @ pca.components_.T
    mahalanobis = 0.5 * (inside.pow(2) / pca.explained_variance_).sum(1)
    constant = pca.free_energy(digits_t[:20]) - mahalanobis
    constant -= pca.energy(digits_t[:20]) / (2 * pca.noise_variance_)
    torch.testing.assert_close(constant, constant[:1].expand(20))


def test_energy_is_the_reconstruction_error_and_all_components_reconstruct_exactly(digits_t):
    pca = PCA(n_components=6).fit(digits_t)
    reconstruction = pca.inverse_transform(pca.transform(digits_t))
    torch.testing.assert_close(pca.energy(digits_t), (digits_t - reconstruction).pow(2).sum(1))
    full = PCA().fit(digits_t[:40])
    assert full.n_components_ == 40
    torch.testing.assert_close(full.inverse_transform(full.transform(digits_t[:40])), digits_t[:40])
    white = PCA(n_components=6, whiten=True).fit(digits_t)
    codes = white.transform(digits_t)
    torch.testing.assert_close(codes.var(0), torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(white.inverse_transform(codes), reconstruction)


def test_a_fraction_of_variance_picks_components_as_sklearn(digits, digits_t):
    for fraction in (0.5, 0.9, 0.95):
        ours = PCA(n_components=fraction).fit(digits_t)
        assert ours.n_components_ == SkPCA(n_components=fraction).fit(digits).n_components_


def test_float32_stays_float32_and_estimator_conventions():
    x = torch.randn(50, 4)
    pca = PCA(n_components=2)
    assert pca.fit(x) is pca
    assert pca.components_.dtype == torch.float32
    assert pca.get_params() == {"n_components": 2, "whiten": False, "svd_solver": "auto"}
    assert pca.set_params(whiten=True).whiten is True
    assert repr(pca) == "PCA(n_components=2, whiten=True)"
    assert pca.transform(x.numpy()).shape == (50, 2)  # arrays are accepted too


def test_errors_are_clear():
    x = torch.randn(30, 4)
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        PCA().transform(x)
    with pytest.raises(ValueError, match=r"n_components must lie in \[1, min\(N, D\) = 4\]"):
        PCA(n_components=5).fit(x)
    with pytest.raises(ValueError, match="a float n_components must lie in"):
        PCA(n_components=1.5).fit(x)
    with pytest.raises(ValueError, match="unknown svd_solver 'arpack'; valid choices: auto"):
        PCA(svd_solver="arpack").fit(x)
    with pytest.raises(ValueError, match="has 3 features, but PCA was fitted on 4"):
        PCA(2).fit(x).transform(torch.randn(2, 3))
    with pytest.raises(ValueError, match="NaN or Inf"):
        PCA().fit(torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match="at least 2 sample"):
        PCA().fit(torch.randn(1, 3))
    with pytest.raises(ValueError, match="no parameter 'tol'"):
        PCA().set_params(tol=1)


@pytest.mark.parametrize("offset", [0.0, 1e4])  # from xᵀx, and from centered blocks
def test_covariance_solver_is_exact_far_from_the_origin(offset, monkeypatch):
    monkeypatch.setattr(pca_module, "SCATTER_ROWS", 64)  # several blocks
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=generator) * torch.arange(1.0, 7.0) + offset
    ours = PCA(3, svd_solver="covariance_eigh").fit(x)
    x64 = x.double()
    centered = x64 - x64.mean(0)
    expected = torch.linalg.eigvalsh(centered.T @ centered / 499).flip(0)[:3]
    torch.testing.assert_close(ours.explained_variance_.double(), expected, rtol=1e-5, atol=0)
