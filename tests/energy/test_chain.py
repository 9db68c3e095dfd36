"""Chain inference (Viterbi, forward algorithm, beam search) against brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from eblearn.energy import beam_search, chain_energy, chain_free_energy, viterbi

B, T, K = 2, 4, 3


def random_chain(seed: int, form: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Random unary (B, T, K) and pairwise energies of the given form, float64."""
    gen = torch.Generator().manual_seed(seed)
    unary = torch.randn(B, T, K, generator=gen, dtype=torch.float64)
    shape = {"shared": (K, K), "per-step": (T - 1, K, K), "per-sample": (B, T - 1, K, K)}[form]
    return unary, torch.randn(*shape, generator=gen, dtype=torch.float64)


def pair_term(pairwise: torch.Tensor, b: int, t: int, j: int, k: int) -> float:
    if pairwise.ndim == 2:
        return float(pairwise[j, k])
    if pairwise.ndim == 3:
        return float(pairwise[t, j, k])
    return float(pairwise[b, t, j, k])


def naive_energy(unary: torch.Tensor, pairwise: torch.Tensor, b: int, y: tuple[int, ...]) -> float:
    """E(y) written term by term with scalar look-ups."""
    total = sum(float(unary[b, t, y[t]]) for t in range(len(y)))
    return total + sum(pair_term(pairwise, b, t, y[t], y[t + 1]) for t in range(len(y) - 1))


def enumerate_all(unary: torch.Tensor, pairwise: torch.Tensor, b: int) -> dict:
    """Every one of the K^T sequences of sample b with its energy."""
    steps, k = unary.shape[1:]
    return {
        y: naive_energy(unary, pairwise, b, y) for y in itertools.product(range(k), repeat=steps)
    }


FORMS = ["shared", "per-step", "per-sample"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_viterbi_finds_the_brute_force_argmin_and_minimum(seed: int, form: str) -> None:
    unary, pairwise = random_chain(seed, form)
    result = viterbi(unary, pairwise)
    assert result.y.shape == (B, 1, T) and result.energy.shape == (B, 1)
    for b in range(B):
        table = enumerate_all(unary, pairwise, b)
        argmin = min(table, key=table.__getitem__)
        assert tuple(result.best[b].tolist()) == argmin
        assert float(result.energy[b, 0]) == pytest.approx(table[argmin], abs=1e-12)


def test_chain_energy_matches_the_term_by_term_sum() -> None:
    unary, pairwise = random_chain(5, "per-sample")
    y = torch.randint(K, (B, 6, T), generator=torch.Generator().manual_seed(1))
    got = chain_energy(unary, pairwise, y)
    assert got.shape == (B, 6)
    for b in range(B):
        for s in range(6):
            expected = naive_energy(unary, pairwise, b, tuple(y[b, s].tolist()))
            assert float(got[b, s]) == pytest.approx(expected, abs=1e-12)
    assert chain_energy(unary, pairwise, y[:, 0]).tolist() == got[:, 0].tolist()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_forward_algorithm_equals_logsumexp_over_the_enumeration(form: str, beta: float) -> None:
    unary, pairwise = random_chain(int(beta * 10), form)
    got = chain_free_energy(unary, pairwise, beta)
    for b in range(B):
        table = enumerate_all(unary, pairwise, b)
        energies = torch.tensor(list(table.values()), dtype=torch.float64)
        expected = -torch.logsumexp(-beta * energies, dim=0) / beta
        assert float(got[b]) == pytest.approx(float(expected), abs=1e-10)


def test_zero_temperature_free_energy_is_the_viterbi_minimum_and_bounds_hold() -> None:
    unary, pairwise = random_chain(7, "per-step")
    minimum = viterbi(unary, pairwise).energy[:, 0]
    torch.testing.assert_close(chain_free_energy(unary, pairwise, math.inf), minimum)
    for beta in (0.5, 2.0, 8.0):  # min E - log(K^T)/β ≤ F_β ≤ min E
        f = chain_free_energy(unary, pairwise, beta)
        assert bool((f <= minimum + 1e-12).all())
        assert bool((f >= minimum - T * math.log(K) / beta - 1e-12).all())


def test_free_energy_gradient_is_the_gibbs_marginal() -> None:
    # ∂F_β/∂U_t(k) = P_β(y_t = k), the marginal of exp(-βE)/Z, computed here by enumeration.
    unary, pairwise = random_chain(11, "shared")
    unary.requires_grad_(True)
    beta = 1.5
    (grad,) = torch.autograd.grad(chain_free_energy(unary, pairwise, beta).sum(), unary)
    for b in range(B):
        table = enumerate_all(unary.detach(), pairwise, b)
        z = sum(math.exp(-beta * e) for e in table.values())
        marginal = torch.zeros(T, K, dtype=torch.float64)
        for y, e in table.items():
            for t in range(T):
                marginal[t, y[t]] += math.exp(-beta * e) / z
        torch.testing.assert_close(grad[b], marginal)


def test_viterbi_energy_carries_the_gradient_at_the_argmin() -> None:
    unary, pairwise = random_chain(2, "shared")
    unary.requires_grad_(True)
    result = viterbi(unary, pairwise)
    (grad,) = torch.autograd.grad(result.energy.sum(), unary)
    one_hot = torch.zeros(B, T, K, dtype=torch.float64).scatter_(2, result.best[:, :, None], 1.0)
    torch.testing.assert_close(grad, one_hot)


def naive_greedy(unary: torch.Tensor, pairwise: torch.Tensor, b: int) -> tuple[int, ...]:
    """y_0 = argmin U_0; y_{t+1} = argmin_k P_t(y_t, k) + U_{t+1}(k)."""
    steps, k = unary.shape[1:]
    y = [min(range(k), key=lambda j: float(unary[b, 0, j]))]
    for t in range(steps - 1):
        cost = [pair_term(pairwise, b, t, y[-1], j) + float(unary[b, t + 1, j]) for j in range(k)]
        y.append(min(range(k), key=cost.__getitem__))
    return tuple(y)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_is_greedy_at_width_one_and_exact_when_nothing_is_pruned(
    seed: int, form: str
) -> None:
    unary, pairwise = random_chain(seed + 20, form)
    greedy = beam_search(unary, pairwise, width=1)
    assert greedy.y.shape == (B, 1, T)
    full = beam_search(unary, pairwise, width=K**T)
    assert full.y.shape == (B, K**T, T)  # every sequence, sorted by energy
    pruned_never = beam_search(unary, pairwise, width=K ** (T - 1))
    for b in range(B):
        assert tuple(greedy.best[b].tolist()) == naive_greedy(unary, pairwise, b)
        table = enumerate_all(unary, pairwise, b)
        ranked = sorted(table.values())
        assert full.energy[b].tolist() == pytest.approx(ranked, abs=1e-12)
        assert len({tuple(s) for s in full.y[b].tolist()}) == K**T
        argmin = min(table, key=table.__getitem__)
        assert tuple(pruned_never.best[b].tolist()) == argmin
        assert tuple(full.best[b].tolist()) == argmin
        for seq, e in zip(pruned_never.y[b].tolist(), pruned_never.energy[b].tolist()):
            assert e == pytest.approx(table[tuple(seq)], abs=1e-12)


def test_beam_search_never_beats_viterbi_and_is_exact_at_width_k_to_the_t_minus_1() -> None:
    gen = torch.Generator().manual_seed(4)
    unary = torch.randn(8, 6, 4, generator=gen, dtype=torch.float64)  # T = 6, K = 4
    pairwise = 2 * torch.randn(5, 4, 4, generator=gen, dtype=torch.float64)
    exact = viterbi(unary, pairwise)
    for width in (1, 2, 4, 16):
        found = beam_search(unary, pairwise, width)
        assert bool((found.energy[:, 0] >= exact.energy[:, 0] - 1e-12).all())
        assert bool((found.energy[:, 1:] >= found.energy[:, :-1]).all())  # sorted
    widest = beam_search(unary, pairwise, 4**5)
    torch.testing.assert_close(widest.best, exact.best)
    torch.testing.assert_close(widest.energy[:, 0], exact.energy[:, 0])


def test_a_single_step_chain() -> None:
    unary = torch.tensor([[[0.5, -1.0, 2.0]]])  # (B=1, T=1, K=3)
    for pairwise in (torch.zeros(3, 3), torch.zeros(0, 3, 3)):
        assert viterbi(unary, pairwise).best.tolist() == [[1]]
        assert beam_search(unary, pairwise, 2).y.tolist() == [[[1], [0]]]
        expected = -torch.logsumexp(-unary[0, 0], dim=0)
        torch.testing.assert_close(chain_free_energy(unary, pairwise)[0], expected)


def test_bad_inputs_are_named() -> None:
    unary, pairwise = torch.zeros(2, 4, 3), torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"unary energies must have shape \(B, T, K\)"):
        viterbi(torch.zeros(4, 3), pairwise)
    with pytest.raises(ValueError, match=r"pairwise energies must have shape \(K, K\) = \(3, 3\)"):
        viterbi(unary, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"\(T-1, K, K\) = \(3, 3, 3\)"):
        chain_free_energy(unary, torch.zeros(4, 3, 3))
    with pytest.raises(ValueError, match=r"\(B, T-1, K, K\) = \(2, 3, 3, 3\)"):
        beam_search(unary, torch.zeros(1, 3, 3, 3), 2)
    with pytest.raises(ValueError, match="unary energies holds 1 NaN"):
        viterbi(torch.tensor([[[0.0, math.nan]]]), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="beta must be > 0"):
        chain_free_energy(unary, pairwise, 0.0)
    with pytest.raises(ValueError, match="width must be an integer >= 1, got 0"):
        beam_search(unary, pairwise, 0)
    with pytest.raises(ValueError, match=r"y must hold integer labels in \[0, K=3\)"):
        chain_energy(unary, pairwise, torch.full((2, 4), 3))
    with pytest.raises(ValueError, match=r"y must have shape \(B, T\) = \(2, 4\)"):
        chain_energy(unary, pairwise, torch.zeros(2, 5, dtype=torch.long))
