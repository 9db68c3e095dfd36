"""Simulated annealing against brute-force minima of small discrete energies."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from eblearn.energy import chain_energy, geometric_temperatures, simulated_annealing
from eblearn.energy.annealing import _single_site_move


def potts_energy(fields: torch.Tensor, couplings: torch.Tensor):
    """A fully connected energy (not a chain): E(y) = Σ_t h_t(y_t) + Σ_{s<t} J_st(y_s, y_t).

    fields (T, K), couplings (T, T, K, K); the returned function maps (B, S, T) to (B, S).
    """
    steps = fields.shape[0]
    first, second = torch.tensor(list(itertools.combinations(range(steps), 2))).T  # (P,), s < t

    def energy(y: torch.Tensor) -> torch.Tensor:
        unary = fields[torch.arange(steps), y].sum(-1)  # (B, S)
        pairs = couplings[first, second, y[..., first], y[..., second]]  # (B, S, P)
        return unary + pairs.sum(-1)

    return energy


def brute_force_minimum(fields: torch.Tensor, couplings: torch.Tensor) -> tuple[tuple, float]:
    """The argmin and minimum over all K^T sequences, scalar loops only."""
    steps, k = fields.shape
    best: tuple[tuple, float] = ((), math.inf)
    for y in itertools.product(range(k), repeat=steps):
        e = sum(float(fields[t, y[t]]) for t in range(steps))
        e += sum(
            float(couplings[s, t, y[s], y[t]]) for s, t in itertools.combinations(range(steps), 2)
        )
        if e < best[1]:
            best = (y, e)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_annealing_finds_the_exact_minimum_of_a_fully_connected_energy(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    steps, k = 6, 3  # 729 sequences
    fields = torch.randn(steps, k, generator=gen, dtype=torch.float64)
    couplings = torch.randn(steps, steps, k, k, generator=gen, dtype=torch.float64)
    argmin, minimum = brute_force_minimum(fields, couplings)
    start = torch.randint(k, (1, 4, steps), generator=gen)
    result = simulated_annealing(
        potts_energy(fields, couplings),
        start,
        k,
        geometric_temperatures(3.0, 0.02, 800),
        generator=torch.Generator().manual_seed(seed),
    )
    assert result.y.shape == (1, 4, steps) and result.energy.shape == (1, 4)
    assert tuple(result.best[0].tolist()) == argmin
    assert float(result.energy[0, 0]) == pytest.approx(minimum, abs=1e-12)
    # every chain's answer is a real state with its real energy: none below the minimum
    assert bool((result.energy >= minimum - 1e-12).all())
    recomputed = potts_energy(fields, couplings)(result.y)
    torch.testing.assert_close(result.energy, recomputed)


def test_annealing_a_batch_of_chain_energies_matches_enumeration() -> None:
    gen = torch.Generator().manual_seed(5)
    batch, steps, k = 3, 5, 3
    unary = torch.randn(batch, steps, k, generator=gen, dtype=torch.float64)
    pairwise = torch.randn(k, k, generator=gen, dtype=torch.float64)
    result = simulated_annealing(
        lambda y: chain_energy(unary, pairwise, y),
        torch.zeros(batch, 3, steps, dtype=torch.long),
        k,
        geometric_temperatures(2.0, 0.02, 1000),
        generator=torch.Generator().manual_seed(0),
    )
    every = torch.tensor(list(itertools.product(range(k), repeat=steps)))  # (K^T, T)
    for b in range(batch):
        energies = [
            sum(float(unary[b, t, y[t]]) for t in range(steps))
            + sum(float(pairwise[y[t], y[t + 1]]) for t in range(steps - 1))
            for y in every.tolist()
        ]
        best = min(range(len(energies)), key=energies.__getitem__)
        assert result.best[b].tolist() == every[best].tolist()
        assert float(result.energy[b, 0]) == pytest.approx(energies[best], abs=1e-12)
        assert bool((result.energy[b] >= energies[best] - 1e-12).all())


def test_a_fixed_seed_gives_the_same_run_and_the_energy_keeps_its_graph() -> None:
    weights = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)

    def energy(y: torch.Tensor) -> torch.Tensor:  # E(y) = Σ_t w[y_t] + (number of changes)
        return weights[y].sum(-1) + (y[..., 1:] != y[..., :-1]).sum(-1)

    start = torch.zeros(2, 3, 4, dtype=torch.long)
    runs = [
        simulated_annealing(
            energy,
            start,
            3,
            geometric_temperatures(1.0, 0.05, 200),
            generator=torch.Generator().manual_seed(7),
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0].y, runs[1].y)
    assert runs[0].best.tolist() == [[1, 1, 1, 1]] * 2  # the lowest weight everywhere
    (grad,) = torch.autograd.grad(runs[0].energy[:, 0].sum(), weights)
    assert grad.tolist() == [0.0, 8.0, 0.0]  # 2 samples x 4 sites of label 1


def test_the_best_visited_state_is_kept_even_if_the_chain_leaves_it() -> None:
    # At a huge constant temperature every move is accepted: the chain wanders, but the
    # returned state is the lowest it visited, never worse than the start.
    target = torch.tensor([1, 0, 2])

    def hamming(y: torch.Tensor) -> torch.Tensor:
        return (y != target).sum(-1).double()

    start = target.expand(1, 5, 3).clone()
    hot = torch.full((50,), 1e6, dtype=torch.float64)
    result = simulated_annealing(hamming, start, 3, hot, generator=torch.Generator().manual_seed(0))
    assert result.energy.tolist() == [[0.0] * 5]
    assert result.y.tolist() == [[[1, 0, 2]] * 5]


def test_a_move_changes_exactly_one_site_to_a_uniform_other_label() -> None:
    k, n = 4, 20000
    y = torch.randint(k, (1, n, 5), generator=torch.Generator().manual_seed(0))
    moved = _single_site_move(y, k, torch.Generator().manual_seed(1))
    changed = moved != y
    assert changed.sum(-1).tolist() == [[1] * n]  # one site each, never the same label
    sites = changed.float().argmax(-1)[0]
    assert torch.bincount(sites, minlength=5).div(n).tolist() == pytest.approx([0.2] * 5, abs=0.02)
    step = (moved[changed] - y[changed]) % k  # uniform over 1..K-1
    assert torch.bincount(step, minlength=k)[1:].div(n).tolist() == pytest.approx(
        [1 / 3] * 3, abs=0.02
    )


def test_geometric_schedule() -> None:
    tau = geometric_temperatures(2.0, 0.02, 5)
    assert tau.tolist() == pytest.approx([2.0 * 0.01 ** (n / 4) for n in range(5)])
    assert geometric_temperatures(3.0, 1.0, 1).tolist() == [3.0]


def test_bad_inputs_are_named() -> None:
    def energy(y: torch.Tensor) -> torch.Tensor:
        return y.sum(-1).double()

    start = torch.zeros(1, 2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"start must have shape \(B, S, T\)"):
        simulated_annealing(energy, torch.zeros(2, 3, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="start must hold integer labels, got dtype"):
        simulated_annealing(energy, start.float(), 3)
    with pytest.raises(ValueError, match=r"start must hold labels in \[0, n_states=3\)"):
        simulated_annealing(energy, start + 3, 3)
    with pytest.raises(ValueError, match="n_states must be an integer >= 2"):
        simulated_annealing(energy, start, 1)
    with pytest.raises(ValueError, match="temperatures must all be positive and finite"):
        simulated_annealing(energy, start, 3, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="temperatures must be a 1-D schedule"):
        simulated_annealing(energy, start, 3, torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"energies \(B, S\) = \(1, 2\), got shape \(1,\)"):
        simulated_annealing(lambda y: y.sum((1, 2)).double(), start, 3)
    with pytest.raises(ValueError, match="energies holds 2 NaN"):
        simulated_annealing(lambda y: torch.full(y.shape[:2], math.nan), start, 3)
    with pytest.raises(ValueError, match="end temperature must be > 0"):
        geometric_temperatures(1.0, 0.0, 10)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        geometric_temperatures(1.0, 0.1, 0)
