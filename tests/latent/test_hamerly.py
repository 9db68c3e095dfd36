import pytest
import torch

from eblearn.latent import hamerly
from eblearn.latent.hamerly import HamerlyState, hamerly_lloyd, nearest_two


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
    monkeypatch.setattr(hamerly, "ROWS", 16)  # several blocks and a partial one
    x = blobs(100, 4, 5, 7)
    x_one = torch.cat([x, torch.ones(100, 1, dtype=torch.float64)], 1)
    centers = x[:5].clone()
    state = HamerlyState.assign(x, x_one, x.pow(2).sum(1), centers)
    rows_computed = []
    full_search = hamerly.nearest_two

    def counting(x_one, x_sq, centers):
        rows_computed.append(len(x_one))
        return full_search(x_one, x_sq, centers)

    monkeypatch.setattr(hamerly, "nearest_two", counting)
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
    monkeypatch.setattr(hamerly, "ROWS", 7)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    centers = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    x_one = torch.cat([x, torch.ones(30, 1, dtype=torch.float64)], 1)
    labels, nearest, runner_up = nearest_two(x_one, x.pow(2).sum(1), centers)
    for n in range(30):
        squared = sorted((float((x[n] - c).pow(2).sum()), k) for k, c in enumerate(centers))
        assert int(labels[n]) == squared[0][1]
        assert float(nearest[n]) == pytest.approx(squared[0][0], abs=1e-9)
        assert float(runner_up[n]) == pytest.approx(squared[1][0], abs=1e-9)
    one = nearest_two(x_one, x.pow(2).sum(1), centers[:1])
    assert bool(torch.isinf(one[2]).all())  # a single center has no runner-up
