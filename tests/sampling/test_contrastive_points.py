"""Hard negatives, contrastive divergence, persistent chains and the generator sampler."""

from __future__ import annotations

import pytest
import torch

from eblearn.energy import FunctionEnergy, QuadraticEnergy
from eblearn.energy.models import mlp
from eblearn.sampling import (
    ContrastiveDivergence,
    GeneratorSampler,
    LangevinSampler,
    PersistentContrastiveDivergence,
    ReplayBuffer,
    most_offending,
    most_offending_index,
    pull_away_term,
)


def test_most_offending_matches_a_naive_loop() -> None:
    torch.manual_seed(0)
    energy = FunctionEnergy(lambda y, x: (y - x).pow(2).sum(1) + torch.sin(3 * y[:, 0]), True)
    y, x = torch.randn(5, 2), torch.randn(5, 2)
    candidates = torch.randn(40, 2)
    got = most_offending(energy, y, candidates, x, radius=0.5, k=2)
    assert got.shape == (5, 2, 2)
    for b in range(5):
        eligible = [c for c in candidates if float((c - y[b]).norm()) > 0.5]
        ranked = sorted(eligible, key=lambda c: float(energy(c[None], x[b : b + 1])))
        torch.testing.assert_close(got[b], torch.stack(ranked[:2]))


def test_most_offending_index_skips_the_correct_answer() -> None:
    energies = torch.tensor([[0.1, 0.2, 0.3], [0.9, 0.1, 0.5]])
    index = most_offending_index(energies, torch.tensor([0, 2]), k=2)
    assert index.tolist() == [[1, 2], [1, 0]]
    with pytest.raises(ValueError, match="at least k=3 eligible"):
        most_offending_index(energies, torch.tensor([0, 0]), k=3)
    with pytest.raises(ValueError, match="smaller radius"):
        most_offending(QuadraticEnergy(torch.zeros(1)), torch.zeros(1, 1), torch.zeros(3, 1))


def test_contrastive_divergence_runs_k_steps_from_the_data() -> None:
    energy = QuadraticEnergy(torch.zeros(2))
    data = torch.randn(8, 2)
    sampler = LangevinSampler(step_size=0.05)
    torch.testing.assert_close(ContrastiveDivergence(sampler, k=0)(energy, data), data)
    got = ContrastiveDivergence(sampler, k=3)(
        energy, data, generator=torch.Generator().manual_seed(0)
    )
    expected = sampler(energy, data, steps=3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, expected)


def test_replay_buffer_stores_and_restarts() -> None:
    buffer = ReplayBuffer(10, (2,), low=5.0, high=6.0, reinit_prob=0.0)
    gen = torch.Generator().manual_seed(0)
    index, states = buffer.draw(10, gen)
    assert bool(((states >= 5) & (states <= 6)).all())  # unfilled slots start from noise
    buffer.push(index, torch.zeros(10, 2))
    index, states = buffer.draw(50, gen)
    filled = buffer.filled[index]
    assert bool((states[filled] == 0).all())
    assert bool((states[~filled] >= 5).all())
    always = ReplayBuffer(10, (2,), reinit_prob=1.0)
    always.push(torch.arange(10), torch.full((10, 2), 9.0))
    assert float(always.draw(20, gen)[1].max()) <= 1.0
    assert "states" in buffer.state_dict()
    with pytest.raises(ValueError, match="reinit_prob must lie in"):
        ReplayBuffer(10, (2,), reinit_prob=2.0)
    with pytest.raises(ValueError, match="expected index"):
        buffer.push(torch.arange(3), torch.zeros(3, 5))


def test_persistent_chains_converge_to_the_gibbs_distribution() -> None:
    # Each call runs only k = 10 steps, but the chains persist: after 40 calls the buffer
    # holds (near) samples of N(μ, Σ). 2000 chains: standard error 0.03 on the mean.
    mean, cov = torch.tensor([1.0, 0.5]), torch.tensor([[0.5, 0.2], [0.2, 0.4]])
    energy = QuadraticEnergy(mean, cov)
    buffer = ReplayBuffer(2000, (2,), low=-3.0, high=-2.0, reinit_prob=0.0)
    pcd = PersistentContrastiveDivergence(LangevinSampler(step_size=0.05), buffer, k=10)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        pcd(energy, 2000, generator=gen)
    states = buffer.states[buffer.filled]
    assert len(states) > 1900
    torch.testing.assert_close(states.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(torch.cov(states.T), cov, atol=0.1, rtol=0)


def test_generator_learns_to_produce_low_energy_points() -> None:
    torch.manual_seed(0)
    energy = QuadraticEnergy(torch.tensor([2.0, -1.0]), 0.1)
    sampler = GeneratorSampler(mlp([2, 16, 2]), noise_dim=2)
    optimizer = torch.optim.Adam(sampler.parameters(), lr=0.02)
    before = float(energy(sampler(256).detach()).mean())
    for _ in range(150):
        optimizer.zero_grad()
        sampler.generator_loss(energy, 64).backward()
        optimizer.step()
    after = energy(sampler(256).detach()).mean()
    assert float(after) < 0.1 * before
    assert all(p.grad is None for p in energy.parameters())


def test_conditional_generator_and_pull_away_term() -> None:
    sampler = GeneratorSampler(mlp([3 + 1, 8, 2]), noise_dim=3)
    assert sampler(5, torch.randn(5, 1)).shape == (5, 2)
    assert float(pull_away_term(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))) == 0.0
    assert float(pull_away_term(torch.tensor([[1.0, 1.0], [2.0, 2.0]]))) == pytest.approx(1.0)
    loss = sampler.generator_loss(QuadraticEnergy(torch.zeros(2)), 5, torch.randn(5, 1), 0.5)
    assert loss.requires_grad
    with pytest.raises(ValueError, match="x must hold n=4 observations"):
        sampler(4, torch.randn(5, 1))
