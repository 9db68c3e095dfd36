import pytest
import torch

from eblearn.latent import hamerly
from eblearn.latent.hamerly import HamerlyState, hamerly_lloyd, nearest_two, take_rows, with_ones


def naive_lloyd(x, centers, max_iter, threshold):
    """Plain Lloyd with loops over samples and centers: the sequence Hamerly must reproduce."""
    centers = centers.clone()
    labels = None
    for n_iter in range(1, max_iter + 1):
        squared = [[float((row - c).pow(2).sum()) for c in centers] for row in x]
        new_labels = torch.tensor([min(range(len(centers)), key=d.__getitem__) for d in squared])
        if labels is not None and torch.equal(new_labels, labels):
            return centers, labels, n_iter, True
        new_centers = centers.clone()
        empty = []
        for k in range(len(centers)):
            members = x[new_labels == k]
            if len(members):
                new_centers[k] = members.mean(0)
            else:
                empty.append(k)
        if empty:
            own = torch.tensor([squared[n][int(new_labels[n])] for n in range(len(x))])
            new_centers[empty] = x[own.topk(len(empty)).indices]
        shift = float((new_centers - centers).pow(2).sum())
        centers, labels = new_centers, new_labels
        if shift <= threshold:
            break
    return centers, labels, n_iter, False


def blobs(n, d, k, seed):
    generator = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(k, d, generator=generator, dtype=torch.float64)
    picks = torch.randint(k, (n,), generator=generator)
    return means[picks] + torch.randn(n, d, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("max_iter", "threshold"), [(50, 0.0), (3, 0.0), (50, 1e-2)])
def test_same_iterations_as_plain_lloyd(seed, max_iter, threshold):
    x = blobs(120, 3, 6, seed)
    start = x[torch.randperm(120, generator=torch.Generator().manual_seed(seed))[:7]]
    got = hamerly_lloyd(x, x.pow(2).sum(1), start, max_iter, threshold)
    want = naive_lloyd(x, start, max_iter, threshold)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    assert got[2:] == want[2:]


def test_empty_cluster_is_moved_as_plain_lloyd_moves_it():
    x = blobs(60, 2, 3, 4)
    start = torch.cat([x[:3], torch.full((1, 2), 1e3, dtype=torch.float64)])  # gets nothing
    got = hamerly_lloyd(x, x.pow(2).sum(1), start, 30, 0.0)
    want = naive_lloyd(x, start, 30, 0.0)
    torch.testing.assert_close(got[0], want[0])
    assert got[2:] == want[2:]


def test_bounds_stay_valid_and_sums_stay_exact(monkeypatch):
    monkeypatch.setattr(hamerly, "BLOCK_SCORES", 16 * 5)  # blocks of 16 rows and a partial one
    monkeypatch.setattr(hamerly, "SUM_ROWS", 30)
    x = blobs(100, 4, 5, 7)
    x_one = torch.cat([x, torch.ones(100, 1, dtype=torch.float64)], 1)
    centers = x[:5].clone()
    state = HamerlyState.assign(x, x_one, x.pow(2).sum(1), centers)
    rows_computed = []
    full_search = hamerly._search

    def counting(x_one, x_sq, centers, hint=None):
        rows_computed.append(len(x_one))
        return full_search(x_one, x_sq, centers, hint)

    monkeypatch.setattr(hamerly, "_search", counting)
    total_searched = 0
    for _ in range(6):
        new = state.sums / state.counts[:, None]
        state.move_centers((new - centers).norm(dim=1))
        centers = new
        changed = state.reassign(x, x_one, x.pow(2).sum(1), centers)
        distances = torch.cdist(x, centers)  # (N, K), exact
        own = distances.gather(1, state.labels[:, None])[:, 0]
        torch.testing.assert_close(own, distances.min(1).values)  # labels are the nearest
        assert bool((state.upper >= own - 1e-9).all())
        others = distances.scatter(1, state.labels[:, None], float("inf")).min(1).values
        assert bool((state.lower <= others + 1e-9).all())
        members = torch.nn.functional.one_hot(state.labels, 5).double()
        torch.testing.assert_close(state.sums, members.T @ x)
        torch.testing.assert_close(state.counts, members.sum(0))
        searched = rows_computed.pop() if rows_computed else 0
        assert changed <= searched and not rows_computed
        total_searched += searched
    assert total_searched < 6 * 100 // 2  # the bounds spare most of the distance searches


def test_nearest_two_against_a_loop(monkeypatch):
    monkeypatch.setattr(hamerly, "BLOCK_SCORES", 7 * 4)  # blocks of 7 rows
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    centers = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    x_one = torch.cat([x, torch.ones(30, 1, dtype=torch.float64)], 1)
    right = torch.cdist(x, centers).argmin(1)
    hints = {
        "no hint": None,
        "right hint": right,
        "wrong hint": (right + 1) % 4,
        "half right": torch.where(torch.arange(30) % 2 == 0, right, (right + 2) % 4),
    }
    for name, hint in hints.items():
        labels, nearest, runner_up = nearest_two(x_one, x.pow(2).sum(1), centers, hint)
        for n in range(30):
            squared = sorted((float((x[n] - c).pow(2).sum()), k) for k, c in enumerate(centers))
            assert int(labels[n]) == squared[0][1], name
            assert float(nearest[n]) == pytest.approx(squared[0][0], abs=1e-9), name
            assert float(runner_up[n]) == pytest.approx(squared[1][0], abs=1e-9), name
    one = nearest_two(x_one, x.pow(2).sum(1), centers[:1])
    assert bool(torch.isinf(one[2]).all())  # a single center has no runner-up


def test_a_tie_goes_to_the_lowest_index_with_or_without_a_hint():
    """Plain Lloyd's argmin takes the first of equal distances; a hint must not change that."""
    x = torch.tensor([[0.0, 0.0], [2.5, 0.0]], dtype=torch.float64)
    centers = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [5.0, 0.0]], dtype=torch.float64)
    x_one = torch.cat([x, torch.ones(2, 1, dtype=torch.float64)], 1)
    x_sq = x.pow(2).sum(1)
    assert nearest_two(x_one, x_sq, centers)[0].tolist() == [0, 1]  # first of a tie
    labels, nearest, runner_up = nearest_two(x_one, x_sq, centers, torch.tensor([1, 2]))
    assert labels.tolist() == [0, 1]  # the tied hint gives way; the wrong hint is corrected
    assert nearest.tolist() == [1.0, 2.25] and runner_up.tolist() == [1.0, 6.25]


def exact_ties(n, seed):
    """``n`` samples exactly as far from center 0 as from center 1 (and nearer than center 2).

    The two centers differ in coordinate 0 only (3 ± 0.5, dyadic) where every sample is 3, so
    ``Σ_i (x_i - c_i)²`` is the same float for both; the scores ``x·c - |c|²/2`` of the other,
    non-dyadic coordinates round differently for the two.
    """
    generator = torch.Generator().manual_seed(seed)
    middle = 3 * torch.randn(8, generator=generator, dtype=torch.float64)
    middle[0] = 3.0
    centers = torch.stack([middle, middle, middle + 5])
    centers[0, 0], centers[1, 0] = 2.5, 3.5
    x = middle + torch.randn(n, 8, generator=generator, dtype=torch.float64)
    x[:, 0] = 3.0
    return x, centers


def test_exact_ties_go_to_the_lowest_index_whatever_the_scores_round_to():
    x, centers = exact_ties(300, 0)
    direct = (x[:, None, :] - centers).pow(2).sum(2)
    assert torch.equal(direct[:, 0], direct[:, 1]) and bool((direct[:, 2] > direct[:, 0]).all())
    x_one, x_sq = with_ones(x), x.pow(2).sum(1)
    for hint in (None, torch.ones(300, dtype=torch.int64), torch.full((300,), 2)):
        labels, nearest, runner_up = nearest_two(x_one, x_sq, centers, hint)
        assert bool((labels == 0).all())  # plain Lloyd's argmin: the first of equal distances
        assert torch.equal(nearest, direct[:, 0]) and torch.equal(runner_up, direct[:, 1])


def test_rounding_slack_bounds_the_error_of_the_fast_distances():
    """float32 samples far from the origin (much cancellation) against float64 distances."""
    generator = torch.Generator().manual_seed(1)
    x = (50 + torch.randn(2000, 16, generator=generator)).float()
    centers = 50 + torch.randn(6, 16, generator=generator)
    x_sq = x.pow(2).sum(1)
    _, nearest, runner_up = nearest_two(with_ones(x), x_sq, centers)
    exact = torch.cdist(x.double(), centers.double()).pow(2).sort(1).values
    slack = hamerly.rounding_slack(x_sq, centers).double()
    error = torch.maximum((nearest - exact[:, 0]).abs(), (runner_up - exact[:, 1]).abs())
    assert bool((error <= slack).all())
    assert float((error / slack).max()) > 1e-3  # a bound, but not a vacuous one


def test_a_sample_that_becomes_equidistant_is_searched_not_pruned():
    """1-D: the sample 0 is nearer to 0.5 than to -2; the centers move to -1 and 1, where it
    ties and plain Lloyd gives it to center 0. In exact arithmetic Hamerly's bounds become
    ``u = 0.5 + 0.5 = 1 <= l = 2 - 1 = 1`` (and ``s = 1``): without slack it stays pruned."""
    x = torch.tensor([[0.0]], dtype=torch.float64)
    x_one, x_sq = with_ones(x), x.pow(2).sum(1)
    state = HamerlyState.assign(x, x_one, x_sq, torch.tensor([[-2.0], [0.5]], dtype=torch.float64))
    assert state.labels.tolist() == [1]
    state.move_centers(torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert state.reassign(x, x_one, x_sq, torch.tensor([[-1.0], [1.0]], dtype=torch.float64)) == 1
    assert state.labels.tolist() == [0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d", [3, 4])
def test_padded_rows_gather_and_search_like_the_plain_ones(dtype, d):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, d, generator=generator).to(dtype)
    x_one = with_ones(x)
    padded = dtype == torch.float32 and d % 2 == 0  # float32 [x, 1] of odd width gets a 0
    assert x_one.shape[1] % 2 == 0 or dtype == torch.float64
    assert x_one.shape == (40, d + 1 + padded)
    torch.testing.assert_close(x_one[:, :d], x)
    assert bool((x_one[:, d] == 1).all()) and bool((x_one[:, d + 1 :] == 0).all())
    index = torch.tensor([5, 0, 39, 5, 17])
    assert torch.equal(take_rows(x_one, index), x_one.index_select(0, index))
    centers = torch.randn(6, d, generator=generator).to(dtype)
    labels, nearest, _ = nearest_two(x_one, x.pow(2).sum(1), centers)
    distances = torch.cdist(x.double(), centers.double()).pow(2)
    assert torch.equal(labels, distances.argmin(1))
    torch.testing.assert_close(nearest.double(), distances.min(1).values, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("d", [64, 63])  # float32 [x, 1] padded to an even width, and not
def test_float32_pruned_lloyd_follows_the_same_search_unpruned(digits, d):
    """In float32 (the hinted search, the 8-byte gathers), pruning changes no assignment.

    The reference is Lloyd with the same blockwise search on every sample at every step, so
    both see the same float32 scores; near ties may fall otherwise than in float64.
    """
    x = torch.tensor(digits[:, :d], dtype=torch.float32)
    x = x - x.mean(0)
    x_sq = x.pow(2).sum(1)
    start = x[::180][:10].clone()
    centers, labels, n_iter, converged = hamerly_lloyd(x, x_sq, start, 300, 0.0)
    x_one, reference, previous = with_ones(x), start, None
    for step in range(1, 301):  # noqa: B007 - the iteration count is compared below
        assignment = nearest_two(x_one, x_sq, reference)[0]
        if previous is not None and torch.equal(assignment, previous):
            break
        previous = assignment
        sums = torch.zeros(10, d, dtype=torch.float64).index_add_(0, assignment, x.double())
        counts = torch.bincount(assignment, minlength=10).double()
        reference = (sums / counts[:, None]).float()
    assert converged and n_iter == step
    assert torch.equal(labels, previous)
    torch.testing.assert_close(centers, reference)
