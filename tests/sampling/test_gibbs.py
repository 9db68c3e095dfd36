"""The binary Gibbs sampler against exact distributions of small Boltzmann machines."""

from __future__ import annotations

import itertools

import pytest
import torch

from eblearn.energy import RBM, BoltzmannMachine
from eblearn.sampling import (
    BinaryGibbsSampler,
    BlockGibbsSampler,
    ContrastiveDivergence,
    PersistentContrastiveDivergence,
    ReplayBuffer,
)


def machine() -> BoltzmannMachine:
    weight = torch.tensor([[0.0, 1.5, -1.0], [0.0, 0.0, 0.8], [0.0, 0.0, 0.0]])
    return BoltzmannMachine(3, weight, torch.tensor([-0.5, 0.2, 0.4])).double()


def histogram(samples: torch.Tensor) -> torch.Tensor:
    n = samples.shape[1]
    powers = 2 ** torch.arange(n - 1, -1, -1, dtype=samples.dtype)
    codes = (samples @ powers).long()
    return torch.bincount(codes, minlength=2**n).double() / len(samples)


def test_chains_reach_the_exact_distribution() -> None:
    model = machine()
    start = torch.zeros(4000, 3, dtype=torch.float64)
    samples = BinaryGibbsSampler(steps=10)(model, start, generator=torch.Generator().manual_seed(0))
    tv = 0.5 * float((histogram(samples) - model.probabilities().detach()).abs().sum())
    assert tv < 0.03


def test_one_sweep_is_the_product_of_the_conditionals() -> None:
    """From y = (0, 0), one sweep draws y_1 ~ p(y_1 | y_2 = 0), then y_2 ~ p(y_2 | y_1)."""
    model = BoltzmannMachine(2, torch.tensor([[0.0, 2.0], [0.0, 0.0]]), torch.tensor([-1.0, 0.5]))
    joint = {
        s: -model(torch.tensor([s]))[0].item() for s in itertools.product((0.0, 1.0), repeat=2)
    }

    def conditional(first: float, second: float, unit: int) -> float:
        """p(unit = its value in (first, second) | the other unit)."""
        other = (1 - first, second) if unit == 0 else (first, 1 - second)
        here = (first, second)
        return 1 / (1 + torch.exp(torch.tensor(joint[other] - joint[here])).item())

    expected = torch.tensor(
        [
            conditional(a, 0.0, 0) * conditional(a, b, 1)
            for a, b in itertools.product((0.0, 1.0), repeat=2)
        ]
    )
    samples = BinaryGibbsSampler(steps=1)(
        model, torch.zeros(10000, 2), generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(histogram(samples).float(), expected, atol=0.02, rtol=0)


def test_trace_records_every_sweep() -> None:
    model = machine()
    chain = BinaryGibbsSampler(steps=3).trace(model, torch.ones(5, 3, dtype=torch.float64))
    assert chain.states is not None and chain.energies is not None
    assert chain.states.shape == (4, 5, 3)
    torch.testing.assert_close(chain.energies[-1], model(chain.final).detach())


def test_same_generator_same_chains() -> None:
    rbm = RBM(4, 2, generator=torch.Generator().manual_seed(0))
    start = torch.zeros(6, 4)
    a = BinaryGibbsSampler(5)(rbm, start, generator=torch.Generator().manual_seed(3))
    b = BinaryGibbsSampler(5)(rbm, start, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_contrastive_divergence_and_persistent_chains_give_binary_states() -> None:
    model = machine()
    data = torch.ones(8, 3, dtype=torch.float64)
    cd = ContrastiveDivergence(BinaryGibbsSampler(), k=1)(model, data)
    # a replay buffer's uniform noise in [0, 1] starts as Bernoulli bits
    buffer = ReplayBuffer(16, (3,), low=0.0, high=1.0).double()
    pcd = PersistentContrastiveDivergence(BinaryGibbsSampler(), buffer, k=2)(model, 8)
    for states in (cd, pcd, buffer.states[buffer.filled]):
        assert bool(((states == 0) | (states == 1)).all())


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="beta"):
        BinaryGibbsSampler(beta=0.0)
    with pytest.raises(ValueError, match="steps"):
        BinaryGibbsSampler(steps=-1)
    with pytest.raises(ValueError, match=r"shape \(B, n\)"):
        BinaryGibbsSampler()(machine(), torch.zeros(2, 3, 1))


def test_block_gibbs_reaches_the_rbm_marginal() -> None:
    g = torch.Generator().manual_seed(0)
    rbm = RBM(3, 2, init_std=1.5, generator=g).double()
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.tensor([0.5, -1.0, 0.2]))
    start = torch.zeros(4000, 3, dtype=torch.float64)
    samples = BlockGibbsSampler(steps=15)(rbm, start, generator=torch.Generator().manual_seed(1))
    tv = 0.5 * float((histogram(samples) - rbm.probabilities().detach()).abs().sum())
    assert tv < 0.03


def test_block_gibbs_refuses_energies_other_than_an_rbm() -> None:
    with pytest.raises(ValueError, match="needs an RBM"):
        BlockGibbsSampler()(machine(), torch.zeros(2, 3, dtype=torch.float64))
