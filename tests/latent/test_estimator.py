"""Input checks every classical estimator shares (``latent/_estimator.py``): complex data is
refused, half-precision data is fitted in float32, bad hyper-parameters are named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eblearn.latent import (
    PCA,
    DictionaryLearning,
    GaussianMixture,
    KMeans,
    SparseCoder,
)
from eblearn.latent._estimator import as_data, check_real


def _blobs(dtype=torch.float32):
    """60 points around three well-separated centers in 3-D."""
    generator = torch.Generator().manual_seed(0)
    centers = torch.tensor([[-4.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 4.0, 2.0]])
    x = centers.repeat_interleave(20, 0) + 0.3 * torch.randn(60, 3, generator=generator)
    return x.to(dtype)


def _fitters():
    """One fitted use of each estimator: ``(name, callable taking X)``."""
    return [
        ("PCA", lambda x: PCA(2).fit(x)),
        ("KMeans", lambda x: KMeans(3, random_state=0).fit(x)),
        ("GaussianMixture", lambda x: GaussianMixture(3, random_state=0).fit(x)),
        ("DictionaryLearning", lambda x: DictionaryLearning(4, max_iter=2, random_state=0).fit(x)),
        ("SparseCoder", lambda x: SparseCoder(torch.eye(3)).transform(x)),
    ]


@pytest.mark.parametrize("name", [name for name, _ in _fitters()])
@pytest.mark.parametrize("form", ["numpy", "tensor"])
def test_complex_input_is_refused_by_every_estimator(name, form):
    x = _blobs().numpy() + 1j * _blobs().numpy()
    data = x if form == "numpy" else torch.from_numpy(x)
    fit = dict(_fitters())[name]
    with pytest.raises(
        ValueError, match=r"X holds complex values \(dtype torch.complex64\).*pass real values"
    ):
        fit(data)


def test_complex_input_is_refused_after_fit_too():
    """``transform``/``predict``/``score`` go through the same check as ``fit``."""
    x = _blobs()
    complex_x = torch.complex(x, torch.ones_like(x))
    for call in (
        PCA(2).fit(x).transform,
        KMeans(3, random_state=0).fit(x).predict,
        GaussianMixture(3, random_state=0).fit(x).score_samples,
    ):
        with pytest.raises(ValueError, match=r"X holds complex values .*complex64"):
            call(complex_x)


def test_complex_starting_parameters_are_refused():
    x = _blobs()
    with pytest.raises(ValueError, match="init holds complex values"):
        KMeans(3, init=np.zeros((3, 3), dtype=complex)).fit(x)
    with pytest.raises(ValueError, match="dictionary holds complex values"):
        SparseCoder(np.eye(3, dtype=complex)).transform(x)
    with pytest.raises(ValueError, match="means_init holds complex values"):
        GaussianMixture(3, means_init=np.zeros((3, 3), dtype=complex)).fit(x)


@pytest.mark.parametrize(
    ("half", "form"),
    [(torch.float16, "numpy"), (torch.float16, "tensor"), (torch.bfloat16, "tensor")],
)
def test_kmeans_fits_half_precision_data_in_float32(half, form):
    """The fit on half-precision data is the float32 fit of the same (rounded) numbers."""
    x = _blobs(half)
    data = x.numpy() if form == "numpy" else x  # numpy has no bfloat16
    ours = KMeans(3, random_state=0).fit(data)
    reference = KMeans(3, random_state=0).fit(x.float())
    assert ours.cluster_centers_.dtype == torch.float32
    assert torch.equal(ours.cluster_centers_, reference.cluster_centers_)
    assert torch.equal(ours.labels_, reference.labels_)
    assert ours.inertia_ == reference.inertia_
    assert torch.equal(ours.predict(x), reference.predict(x.float()))
    # The three blobs are found: each holds 20 points.
    assert sorted(torch.bincount(ours.labels_).tolist()) == [20, 20, 20]


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_gaussian_mixture_fits_half_precision_data_in_float32(half):
    x = _blobs(half)
    ours = GaussianMixture(3, random_state=0).fit(x)
    reference = GaussianMixture(3, random_state=0).fit(x.float())
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(ours, name).dtype == torch.float32
        assert torch.equal(getattr(ours, name), getattr(reference, name)), name
    assert torch.equal(ours.score_samples(x), reference.score_samples(x.float()))
    assert sorted(ours.weights_.mul(60).round().tolist()) == [20.0, 20.0, 20.0]


def test_as_data_converts_half_precision_and_integers_only():
    assert as_data(torch.ones(2, 2, dtype=torch.float16)).dtype == torch.float32
    assert as_data(torch.ones(2, 2, dtype=torch.bfloat16)).dtype == torch.float32
    assert as_data(torch.ones(2, 2, dtype=torch.float64)).dtype == torch.float64
    assert as_data(np.ones((2, 2), dtype=np.int64)).dtype == torch.get_default_dtype()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1e-3, True, "1", None])
def test_check_real_refuses_nan_inf_negative_and_non_numbers(value):
    with pytest.raises(ValueError, match=rf"tol must be >= 0 and finite, got {value!r}"):
        check_real(value, "tol")


def test_check_real_accepts_finite_numbers_at_or_above_the_minimum():
    for value in (0, 0.0, 1e-300, 5, np.float32(0.5), np.int64(3), torch.tensor(0.5)):
        check_real(value, "tol")  # no error
    with pytest.raises(ValueError, match="got nan"):
        check_real(torch.tensor(float("nan")), "tol")


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        (SparseCoder(torch.eye(3), tol=math.nan), "tol must be >= 0 and finite, got nan"),
        (SparseCoder(torch.eye(3), alpha=math.nan), "alpha must be >= 0 and finite, got nan"),
        (SparseCoder(torch.eye(3), alpha=math.inf), "alpha must be >= 0 and finite, got inf"),
        (SparseCoder(torch.eye(3), alpha=-0.5), "alpha must be >= 0 and finite, got -0.5"),
        (SparseCoder(torch.eye(3), max_iter=0), "max_iter must be an integer >= 1, got 0"),
        (SparseCoder(torch.eye(3), max_iter=2.5), "max_iter must be an integer >= 1, got 2.5"),
        (DictionaryLearning(2, alpha=math.inf), "alpha must be >= 0 and finite, got inf"),
        (DictionaryLearning(2, tol=math.nan), "tol must be >= 0 and finite, got nan"),
        (
            DictionaryLearning(2, transform_tol=-1.0),
            "transform_tol must be >= 0 and finite, got -1.0",
        ),
        (
            DictionaryLearning(2, transform_max_iter=0),
            "transform_max_iter must be an integer >= 1, got 0",
        ),
        (KMeans(2, tol=math.inf), "tol must be >= 0 and finite, got inf"),
        (KMeans(2, tol=math.nan), "tol must be >= 0 and finite, got nan"),
        (GaussianMixture(2, tol=math.nan), "tol must be >= 0 and finite, got nan"),
        (GaussianMixture(2, reg_covar=math.inf), "reg_covar must be >= 0 and finite, got inf"),
    ],
)
def test_bad_hyper_parameters_are_named_at_fit_or_transform_time(estimator, message):
    """Construction stores anything (scikit-learn's convention); the call that uses the value
    refuses it, naming the parameter and the value."""
    x = _blobs()
    call = estimator.transform if isinstance(estimator, SparseCoder) else estimator.fit
    with pytest.raises(ValueError, match=f"^{message}$"):
        call(x)
