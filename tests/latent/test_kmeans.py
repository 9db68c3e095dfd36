import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from eblearn.latent import KMeans, kmeans_plusplus

# Same data, same starting centers, float64 on both sides: Lloyd's iterations are the same
# sequence of assignments, so the inertias agree to rounding.
INERTIA_RTOL = 1e-10


def test_inertia_labels_and_centers_match_sklearn_from_the_same_init(digits, digits_t):
    init = digits[::180][:10]
    ours = KMeans(10, init=torch.tensor(init), max_iter=300).fit(digits_t)
    theirs = SkKMeans(10, init=init, n_init=1, max_iter=300).fit(digits)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=INERTIA_RTOL)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.labels_.numpy(), theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_.numpy(), theirs.cluster_centers_, atol=1e-10)
    assert ours.score(digits_t) == pytest.approx(theirs.score(digits), rel=INERTIA_RTOL)
    np.testing.assert_allclose(
        ours.transform(digits_t).numpy(), theirs.transform(digits), atol=1e-9
    )


def naive_lloyd_steps(x, centers):
    """Plain float64 Lloyd in numpy: argmin of the squared differences (first of a tie), then
    the means, until the labels stop changing. Returns, for each iteration, its new centers and
    the labels that they give (the next iteration's assignment)."""
    steps, labels = [], ((x[:, None, :] - centers) ** 2).sum(2).argmin(1)
    while True:
        centers = np.stack([x[labels == k].mean(0) for k in range(len(centers))])
        new_labels = ((x[:, None, :] - centers) ** 2).sum(2).argmin(1)
        steps.append((centers, new_labels))
        if (new_labels == labels).all():
            return steps
        labels = new_labels


@pytest.mark.parametrize("start", ["every 180th", "random rows"])
def test_every_iteration_follows_plain_lloyd_on_digits(digits, digits_t, start):
    """Stopped after k iterations, the fit has plain Lloyd's k-th centers and their labels.

    From every 180th digit, the first iteration meets a sample at exactly the same distance
    from two centers, which the fast search's rounding used to give to the later one.
    """
    if start == "every 180th":
        init = digits[::180][:10]
    else:
        init = digits[np.random.default_rng(0).choice(len(digits), 10, replace=False)]
    steps = naive_lloyd_steps(digits, init)
    for k, (centers, labels) in enumerate(steps, 1):
        km = KMeans(10, init=torch.tensor(init), max_iter=k, tol=0.0).fit(digits_t)
        assert km.n_iter_ == k
        np.testing.assert_allclose(km.cluster_centers_.numpy(), centers, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(km.labels_.numpy(), labels, err_msg=f"iteration {k}")
    # The last iteration finds no label to change and stops.
    done = KMeans(10, init=torch.tensor(init), max_iter=300, tol=0.0).fit(digits_t)
    assert done.n_iter_ == len(steps) + 1
    np.testing.assert_allclose(done.cluster_centers_.numpy(), steps[-1][0], rtol=0, atol=1e-12)


def test_kmeans_plus_plus_finds_the_clear_optimum_as_sklearn_does():
    x, _ = make_blobs(600, n_features=5, centers=6, cluster_std=0.5, random_state=3)
    ours = KMeans(6, random_state=0).fit(torch.tensor(x))
    theirs = SkKMeans(6, random_state=0, n_init=1).fit(x)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-9)
    seeds = kmeans_plusplus(torch.tensor(x), 6, random_state=1)
    rows = {tuple(r) for r in x.round(12).tolist()}
    assert all(tuple(s) in rows for s in seeds.numpy().round(12).tolist())  # seeds are samples
    assert len({tuple(s) for s in seeds.tolist()}) == 6


def test_energy_free_energy_and_score_against_a_naive_loop():
    torch.manual_seed(0)
    x = torch.randn(40, 3, dtype=torch.float64)
    km = KMeans(4, random_state=0).fit(x)
    naive = []
    for row in x:  # loops over samples and centers
        naive.append(min(float(((row - c) ** 2).sum()) for c in km.cluster_centers_))
    torch.testing.assert_close(km.free_energy(x), torch.tensor(naive, dtype=torch.float64))
    assert km.score(x) == pytest.approx(-sum(naive))
    assert km.inertia_ == pytest.approx(sum(naive))
    one_hot = torch.nn.functional.one_hot(km.predict(x), 4).double()
    torch.testing.assert_close(km.latent_energy(x, one_hot), km.free_energy(x))
    other = torch.nn.functional.one_hot((km.predict(x) + 1) % 4, 4).double()
    assert bool((km.latent_energy(x, other) >= km.free_energy(x)).all())  # inference is the min
    torch.testing.assert_close(km.score_samples(x), -km.free_energy(x))


def test_an_empty_cluster_moves_to_the_farthest_sample():
    x = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1], [30.0]], dtype=torch.float64)
    init = torch.tensor([[0.0], [10.0], [1000.0]], dtype=torch.float64)  # the last gets nothing
    km = KMeans(3, init=init).fit(x)
    assert sorted(km.cluster_centers_.flatten().tolist()) == pytest.approx([0.1, 10.05, 30.0])
    assert torch.bincount(km.labels_, minlength=3).min() > 0


def test_n_init_keeps_the_best_run():
    x, _ = make_blobs(300, n_features=2, centers=8, cluster_std=1.5, random_state=0)
    # The first of the five runs starts as the single run with the same seed does.
    single = KMeans(8, init="random", n_init=1, random_state=0).fit(x)
    best = KMeans(8, init="random", n_init=5, random_state=0).fit(x)
    assert best.inertia_ <= single.inertia_
    runs = [KMeans(8, init="random", n_init=1, random_state=s).fit(x).inertia_ for s in range(5)]
    assert len(set(np.round(runs, 6))) > 1  # the starts differ, so keeping the best matters


def test_errors_are_clear():
    x = torch.randn(10, 2)
    with pytest.raises(ValueError, match="n_clusters=11 exceeds the 10 samples"):
        KMeans(11).fit(x)
    with pytest.raises(ValueError, match="unknown init 'kmeans'; valid choices: k-means"):
        KMeans(2, init="kmeans").fit(x)
    with pytest.raises(ValueError, match=r"init centers must have shape \(2, 2\), got \(3, 2\)"):
        KMeans(2, init=torch.zeros(3, 2)).fit(x)
    with pytest.raises(ValueError, match="n_clusters must be an integer >= 1"):
        KMeans(0).fit(x)
    with pytest.raises(ValueError, match=r"codes must have shape \(10, 2\)"):
        KMeans(2, random_state=0).fit(x).latent_energy(x, torch.zeros(10, 3))
