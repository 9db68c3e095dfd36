"""Boltzmann machines: energies, partition functions and samples against brute-force loops."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from eblearn.energy import RBM, BoltzmannMachine, binary_states, flip_each_bit, log_partition


def random_machine(n: int, scale: float = 1.0, seed: int = 0) -> BoltzmannMachine:
    g = torch.Generator().manual_seed(seed)
    weight = scale * torch.randn(n, n, generator=g)
    return BoltzmannMachine(n, weight, scale * torch.randn(n, generator=g)).double()


def random_rbm(n: int, m: int, seed: int = 0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(n, m, init_std=1.0, generator=g).double()
    with torch.no_grad():
        rbm.visible_bias.normal_(generator=g)
        rbm.hidden_bias.normal_(generator=g)
    return rbm


def bm_energies_loop(machine: BoltzmannMachine, states: list[tuple[int, ...]]) -> list[float]:
    """-Σ_{i<j} W_ij y_i y_j - Σ_i b_i y_i of each state, one term at a time."""
    w, b = machine.weight.tolist(), machine.bias.tolist()
    return [_bm_energy(w, b, y) for y in states]


def _bm_energy(w: list[list[float]], b: list[float], y: tuple[int, ...]) -> float:
    n = len(y)
    pairs = sum(w[i][j] * y[i] * y[j] for i in range(n) for j in range(i + 1, n))
    return -pairs - sum(b[i] * y[i] for i in range(n))


def rbm_joint_loop(rbm: RBM, v: tuple[int, ...], h: tuple[int, ...]) -> float:
    w = rbm.weight.tolist()
    b, c = rbm.visible_bias.tolist(), rbm.hidden_bias.tolist()
    coupling = sum(v[i] * w[i][j] * h[j] for i in range(len(v)) for j in range(len(h)))
    return -coupling - sum(bi * vi for bi, vi in zip(b, v)) - sum(cj * hj for cj, hj in zip(c, h))


def test_states_are_every_binary_vector_in_binary_order() -> None:
    assert binary_states(3).tolist() == [
        list(map(float, s)) for s in itertools.product((0, 1), repeat=3)
    ]
    assert binary_states(4, 5, 9).tolist() == binary_states(4)[5:9].tolist()


def test_fully_visible_energy_matches_the_pairwise_sum() -> None:
    machine = random_machine(5)
    w = machine.weight
    assert torch.equal(w, w.T) and bool((w.diagonal() == 0).all())
    states = list(itertools.product((0, 1), repeat=5))
    got = machine(torch.tensor(states, dtype=torch.float64))
    expected = torch.tensor(bm_energies_loop(machine, states), dtype=torch.float64)
    torch.testing.assert_close(got, expected)
    y = torch.tensor(states, dtype=torch.float64)  # also -½ yᵀWy - bᵀy
    torch.testing.assert_close(got, -0.5 * ((y @ w) * y).sum(1) - y @ machine.bias)


def test_log_partition_matches_a_brute_force_loop() -> None:
    machine = random_machine(6)
    states = list(itertools.product((0, 1), repeat=6))
    z = sum(math.exp(-e) for e in bm_energies_loop(machine, states))
    assert machine.log_partition().item() == pytest.approx(math.log(z), rel=1e-12)
    assert machine.log_partition(chunk=5).item() == pytest.approx(math.log(z), rel=1e-12)


def test_rbm_free_energy_sums_the_hidden_units_out() -> None:
    rbm = random_rbm(4, 3)
    hidden = list(itertools.product((0, 1), repeat=3))
    for v in itertools.product((0, 1), repeat=4):
        by_loop = -math.log(sum(math.exp(-rbm_joint_loop(rbm, v, h)) for h in hidden))
        got = rbm(torch.tensor([v], dtype=torch.float64)).item()
        assert got == pytest.approx(by_loop, rel=1e-12)
    joint = rbm.joint_energy(torch.ones(1, 4, dtype=torch.float64), torch.ones(1, 3).double())
    assert joint.item() == pytest.approx(rbm_joint_loop(rbm, (1,) * 4, (1,) * 3))


def test_rbm_log_partition_is_the_double_sum_over_visible_and_hidden() -> None:
    rbm = random_rbm(4, 2, seed=1)
    z = sum(
        math.exp(-rbm_joint_loop(rbm, v, h))
        for v in itertools.product((0, 1), repeat=4)
        for h in itertools.product((0, 1), repeat=2)
    )
    assert rbm.log_partition().item() == pytest.approx(math.log(z), rel=1e-12)
    assert rbm.log_prob(rbm.all_states()).exp().sum().item() == pytest.approx(1.0)


def test_rbm_conditionals_are_ratios_of_joint_probabilities() -> None:
    rbm = random_rbm(3, 2, seed=2)
    v = (1, 0, 1)
    hidden = list(itertools.product((0, 1), repeat=2))
    weights = [math.exp(-rbm_joint_loop(rbm, v, h)) for h in hidden]
    p_h0 = sum(w for w, h in zip(weights, hidden) if h[0] == 1) / sum(weights)
    got = rbm.hidden_probs(torch.tensor([v], dtype=torch.float64))
    assert got[0, 0].item() == pytest.approx(p_h0)
    h = (0, 1)
    visible = list(itertools.product((0, 1), repeat=3))
    weights = [math.exp(-rbm_joint_loop(rbm, s, h)) for s in visible]
    p_v2 = sum(w for w, s in zip(weights, visible) if s[2] == 1) / sum(weights)
    got = rbm.visible_probs(torch.tensor([h], dtype=torch.float64))
    assert got[0, 2].item() == pytest.approx(p_v2)


def test_generic_log_partition_takes_any_energy_function() -> None:
    bias = torch.tensor([0.3, -1.0, 2.0])  # independent bits: Z = Π (1 + e^{b_i})
    got = log_partition(lambda y, x=None: -(y @ bias), 3, chunk=3)
    assert got.item() == pytest.approx(float(torch.log1p(bias.exp()).sum()), rel=1e-6)


def test_exact_samples_follow_the_model() -> None:
    machine = random_machine(3, scale=1.5, seed=3)
    samples = machine.sample(20000, torch.Generator().manual_seed(0))
    codes = (samples @ torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)).long()
    freq = torch.bincount(codes, minlength=8).double() / 20000
    assert float((freq - machine.probabilities()).abs().sum()) / 2 < 0.02


def test_flip_each_bit_flips_exactly_one_bit_per_row() -> None:
    y = torch.tensor([[1.0, 0.0, 1.0]])
    flips = flip_each_bit(y)[0]
    assert flips.tolist() == [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


def test_more_than_twenty_units_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 20 binary units"):
        BoltzmannMachine(21)
    with pytest.raises(ValueError, match="at most 20 binary units"):
        RBM(21, 2)
    with pytest.raises(ValueError, match="at most 20 binary units"):
        log_partition(lambda y, x=None: y.sum(1), 21)


def test_bad_inputs_are_named() -> None:
    machine = BoltzmannMachine(3)
    with pytest.raises(ValueError, match="only 0s and 1s"):
        machine(torch.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        machine(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="x must be None"):
        machine(torch.zeros(2, 3), torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 3\)"):
        BoltzmannMachine(3, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="n_hidden"):
        RBM(3, 0)
