"""Estimators for Boltzmann machines against their definitions, written from exact probabilities.

The references here never use the single-flip differences: they look ``p(y)`` and
``p(ỹ_i)`` up in the model's normalized probability table (a softmax over all ``2ⁿ``
states), so values and autograd gradients come by an independent path.
"""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.energy import RBM, BinaryEnergy, BoltzmannMachine
from eblearn.losses import (
    MinimumProbabilityFlowLoss,
    PseudoLikelihoodLoss,
    RatioMatchingLoss,
    bernoulli_log_prob,
    binary_nce_loss,
    contrastive_divergence_loss,
    exact_nll_loss,
    flip_differences,
    minimum_probability_flow_loss,
    pseudo_likelihood_loss,
    ratio_matching_loss,
)

N = 4


def machine(seed: int = 0, scale: float = 0.8) -> BoltzmannMachine:
    g = torch.Generator().manual_seed(seed)
    weight = scale * torch.randn(N, N, generator=g)
    return BoltzmannMachine(N, weight, scale * torch.randn(N, generator=g)).double()


def rbm(seed: int = 0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    model = RBM(N, 3, init_std=0.8, generator=g).double()
    with torch.no_grad():
        model.visible_bias.normal_(generator=g)
        model.hidden_bias.normal_(generator=g)
    return model


def index_of(bits: list[float]) -> int:
    return int("".join(str(int(b)) for b in bits), 2)


def data(seed: int = 1, batch: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (batch, N), generator=g).double()


def flipped(bits: list[float], i: int) -> list[float]:
    out = list(bits)
    out[i] = 1.0 - out[i]
    return out


def reference(model: BinaryEnergy, y: torch.Tensor, term) -> torch.Tensor:
    """Mean over the rows of Σ_i term(p(y), p(ỹ_i)), from the normalized probability table."""
    probs = model.probabilities()
    total = torch.zeros((), dtype=torch.float64)
    for row in y.tolist():
        p = probs[index_of(row)]
        for i in range(N):
            total = total + term(p, probs[index_of(flipped(row, i))])
    return total / len(y)


def ratio_matching_term(p, q):
    return (1.0 / (1.0 + p / q)) ** 2  # g(p(y)/p(ỹ_i))², g(u) = 1/(1+u)


def probability_flow_term(p, q):
    return torch.sqrt(q / p)  # exp(½(F(y) - F(ỹ))) = (p(ỹ)/p(y))^½


def pseudo_likelihood_term(p, q):
    return -torch.log(p / (p + q))  # -log p(y_i | y_-i)


CASES = [
    (ratio_matching_loss, ratio_matching_term),
    (minimum_probability_flow_loss, probability_flow_term),
    (pseudo_likelihood_loss, pseudo_likelihood_term),
]


def grads(model: torch.nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, [p for p in model.parameters()]))


@pytest.mark.parametrize("make", [machine, rbm], ids=["fvbm", "rbm"])
@pytest.mark.parametrize(("loss_fn", "term"), CASES, ids=["rm", "mpf", "pl"])
def test_value_and_gradient_match_the_definition(make, loss_fn, term) -> None:
    model, y = make(), data()
    got = loss_fn(model, y)
    expected = reference(model, y, term)
    torch.testing.assert_close(got, expected)
    for a, b in zip(grads(model, got), grads(model, reference(model, y, term)), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("loss_fn", [c[0] for c in CASES], ids=["rm", "mpf", "pl"])
def test_expected_gradient_vanishes_at_the_true_model(loss_fn) -> None:
    """Each estimator is consistent: under p_θ's own data, ∇_θ E[loss] = 0 at θ."""
    model = machine(seed=2)
    states = model.all_states()
    weights = model.probabilities().detach()
    expected = (loss_fn(model, states, reduction="none") * weights).sum()
    for g in grads(model, expected):
        torch.testing.assert_close(g, torch.zeros_like(g), atol=1e-12, rtol=0)
    other = machine(seed=3).probabilities().detach()  # data from another model: not zero
    mismatched = (loss_fn(model, states, reduction="none") * other).sum()
    assert max(float(g.abs().max()) for g in grads(model, mismatched)) > 1e-3


def test_flip_differences_are_energy_differences() -> None:
    model, y = rbm(), data()
    d = flip_differences(model, y)
    for b, row in enumerate(y.tolist()):
        for i in range(N):
            other = torch.tensor([flipped(row, i)], dtype=torch.float64)
            expected = model(y[b : b + 1]) - model(other)
            assert d[b, i].item() == pytest.approx(expected.item())


def test_maximum_likelihood_gradient_is_data_minus_model_statistics() -> None:
    """∇ [F(y) + log Z] = E_data[∂F] - E_model[∂F]; for the FVBM ∂F/∂W_ij = -y_i y_j."""
    model, y = machine(), data(batch=7)
    weight_grad, bias_grad = grads(model, exact_nll_loss(model, y))
    states, probs = model.all_states(), model.probabilities().detach()
    data_pairs = torch.einsum("bi,bj->ij", y, y) / len(y)
    model_pairs = torch.einsum("s,si,sj->ij", probs, states, states)
    upper = torch.triu(torch.ones(N, N, dtype=torch.bool), diagonal=1)
    torch.testing.assert_close(weight_grad[upper], -(data_pairs - model_pairs)[upper])
    assert bool((weight_grad[~upper] == 0).all())  # only the strict upper triangle is used
    torch.testing.assert_close(bias_grad, -(y.mean(0) - probs @ states))


def test_rbm_likelihood_gradient_uses_the_hidden_expectations() -> None:
    """For the RBM, ∂F/∂W = -v σ(c + vW)ᵀ, averaged over data minus over the model."""
    model, y = rbm(), data(batch=6)
    weight_grad = grads(model, exact_nll_loss(model, y))[0]
    states, probs = model.all_states(), model.probabilities().detach()
    hidden_data = model.hidden_probs(y).detach()
    hidden_model = model.hidden_probs(states).detach()
    data_stat = y.T @ hidden_data / len(y)
    model_stat = torch.einsum("s,si,sj->ij", probs, states, hidden_model)
    torch.testing.assert_close(weight_grad, -(data_stat - model_stat))


def test_exact_nll_is_minus_the_log_probability() -> None:
    model, y = rbm(), data()
    torch.testing.assert_close(exact_nll_loss(model, y), -model.log_prob(y).mean())


def test_contrastive_divergence_with_exact_samples_estimates_the_likelihood_gradient() -> None:
    model, y = machine(seed=4), data(batch=8)
    negatives = model.sample(40000, torch.Generator().manual_seed(0))
    cd = grads(model, contrastive_divergence_loss(model, y, negatives))
    ml = grads(model, exact_nll_loss(model, y))
    for a, b in zip(cd, ml, strict=True):
        torch.testing.assert_close(a, b, atol=0.02, rtol=0)


def test_contrastive_divergence_does_not_differentiate_through_the_samples() -> None:
    model, y = machine(), data()
    negatives = data(seed=9).requires_grad_(True)
    contrastive_divergence_loss(model, y, negatives).backward()
    assert negatives.grad is None


def test_nce_matches_the_logistic_definition() -> None:
    model, y = machine(), data(batch=3)
    g = torch.Generator().manual_seed(5)
    pi = torch.tensor([0.2, 0.5, 0.7, 0.4], dtype=torch.float64)
    noise = torch.bernoulli(pi.expand(3, 2, N), generator=g)
    c = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    got = binary_nce_loss(model, y, noise, pi, c)

    def log_noise(bits):
        return sum(math.log(p if b else 1 - p) for b, p in zip(bits, pi.tolist()))

    def h(row):  # p_m / (p_m + ν p_n), ν = 2
        log_model = -model(torch.tensor([row], dtype=torch.float64))[0] - c
        return 1 / (1 + 2 * torch.exp(log_noise(row) - log_model))

    total = torch.zeros((), dtype=torch.float64)
    for b in range(3):
        total = total - torch.log(h(y[b].tolist()))
        for n in range(2):
            total = total - torch.log(1 - h(noise[b, n].tolist()))
    expected = total / 3
    torch.testing.assert_close(got, expected)
    params = [*model.parameters(), c]
    a = torch.autograd.grad(got, params)
    b = torch.autograd.grad(expected, params)
    for ga, gb in zip(a, b, strict=True):
        torch.testing.assert_close(ga, gb)


def test_bernoulli_log_prob_sums_to_one() -> None:
    pi = torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64)
    states = BoltzmannMachine(3).double().all_states()
    assert bernoulli_log_prob(states, pi).exp().sum().item() == pytest.approx(1.0)


def test_modules_call_their_functions() -> None:
    model, y = rbm(), data()
    pairs = [
        (RatioMatchingLoss, ratio_matching_loss),
        (MinimumProbabilityFlowLoss, minimum_probability_flow_loss),
        (PseudoLikelihoodLoss, pseudo_likelihood_loss),
    ]
    for module, fn in pairs:
        torch.testing.assert_close(module("sum")(model, y), fn(model, y, reduction="sum"))


def test_bad_inputs_are_named() -> None:
    model = machine()
    with pytest.raises(ValueError, match="only 0s and 1s"):
        ratio_matching_loss(model, torch.full((2, N), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(B, n\)"):
        pseudo_likelihood_loss(model, torch.zeros(N))
    with pytest.raises(ValueError, match="unknown reduction"):
        RatioMatchingLoss("max")
    with pytest.raises(ValueError, match=r"noise must have shape \(B=2, N, n=4\)"):
        binary_nce_loss(model, data(batch=2), torch.zeros(2, N), torch.full((N,), 0.5), 0)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        bernoulli_log_prob(torch.zeros(1, 2), torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="sample shape"):
        contrastive_divergence_loss(model, data(), torch.zeros(3, N + 1))
    with pytest.raises(ValueError, match="at most 20"):
        exact_nll_loss(lambda y, x=None: y.sum(1), torch.zeros(1, 21))
