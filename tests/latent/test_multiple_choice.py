"""The single-outcome criterion on synthetic blends, and the winner-take-all predictor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eblearn.latent import (
    MultipleChoicePredictor,
    fit_model,
    relaxed_winner_take_all,
    single_outcome,
)
from eblearn.latent.multiple_choice import posterior


def _two_balls():
    left, right = torch.zeros(10), torch.zeros(10)
    left[2], right[7] = 1.0, 1.0  # two disjoint "balls"
    return torch.stack((left, right))[None]  # (1, 2, D)


@pytest.mark.parametrize(
    ("t", "expected"), [(0.0, True), (0.1, True), (0.2, True), (0.25, False), (0.5, False)]
)
def test_a_blend_of_the_two_outcomes_is_single_only_near_one_end(t, expected):
    # The boundary is t = √½ / (2 (1 + √½)) = 0.2071 for ρ = ½.
    outcomes = _two_balls()
    blend = (1 - t) * outcomes[:, 0] + t * outcomes[:, 1]
    mirrored = t * outcomes[:, 0] + (1 - t) * outcomes[:, 1]
    result = single_outcome(torch.stack((blend, mirrored), 1), outcomes)
    assert result.tolist() == [[expected, expected]]


def test_an_empty_or_faint_frame_is_not_a_single_outcome():
    outcomes = _two_balls()
    predictions = torch.stack((torch.zeros(10), 0.3 * outcomes[0, 0]))[None]
    assert single_outcome(predictions, outcomes).tolist() == [[False, False]]


def test_single_outcome_matches_a_loop():
    torch.manual_seed(0)
    predictions, outcomes = torch.randn(5, 3, 4), torch.randn(5, 2, 4)
    result = single_outcome(predictions, outcomes, ratio=0.7)
    for n in range(5):
        for k in range(3):
            nearest = min(float((predictions[n, k] - o).pow(2).sum()) for o in outcomes[n])
            average = float((predictions[n, k] - outcomes[n].mean(0)).pow(2).sum())
            assert bool(result[n, k]) == (nearest < 0.7 * average)


def test_relaxed_winner_take_all_matches_a_loop():
    torch.manual_seed(0)
    errors = torch.rand(6, 4)
    loss, winner = relaxed_winner_take_all(errors, 0.2)
    for n in range(6):
        values = errors[n].tolist()
        best = min(values)
        expected = 0.8 * best + 0.2 / 3 * (sum(values) - best)
        assert float(loss[n]) == pytest.approx(expected)
        assert int(winner[n]) == values.index(best)


def _two_mode_data(count, seed, plus=0.5):
    """y = W x ± b: the sign is a coin (+ with probability ``plus``) that x does not tell."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, 3, generator=generator)
    W = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    b = torch.tensor([2.0, -2.0, 2.0, 0.0])
    sign = (torch.rand(count, generator=generator) < plus).long() * 2 - 1
    mean = x @ W.T
    outcomes = torch.stack((mean - b, mean + b), 1)  # (N, 2, 4)
    return x, mean + sign[:, None] * b, outcomes


def test_winner_take_all_samples_commit_to_one_mode_and_cover_both():
    torch.manual_seed(0)
    x, y, _ = _two_mode_data(512, 0)
    model = MultipleChoicePredictor(3, 4, hypotheses=3, hidden=32)
    fit_model(model, model.loss, (x, y), epochs=60, batch_size=128, lr=3e-3)
    x_test, _, outcomes = _two_mode_data(200, 1)
    samples = model.sample(x_test, 8, torch.Generator().manual_seed(0))
    assert float(single_outcome(samples, outcomes).float().mean()) >= 0.9
    nearest = torch.cdist(samples, outcomes).argmin(-1)  # (N, 8)
    assert 0.3 < float(nearest.float().mean()) < 0.7  # both outcomes, about half each
    # The two most probable hypotheses are the two outcomes, one each.
    top = model.most_probable(x_test, 2)
    assert bool(single_outcome(top, outcomes).all())
    assert (torch.cdist(top, outcomes).argmin(-1).sum(-1) == 1).float().mean() > 0.95


def test_the_energy_is_the_minimum_over_the_hypotheses():
    torch.manual_seed(0)
    model = MultipleChoicePredictor(3, 2, hypotheses=3, hidden=8, sigma=0.5)
    x, y = torch.randn(4, 3), torch.randn(4, 2)
    with torch.no_grad():
        outputs = model.hypotheses_of(x)
        log_prior = torch.log_softmax(model.prior(torch.relu(model.context(x))), -1)
        energy = model.energy(y, x)
    for n in range(4):
        expected = min(
            float((outputs[n, k] - y[n]).pow(2).sum() / 0.5 - log_prior[n, k]) for k in range(3)
        )
        assert float(energy[n]) == pytest.approx(expected, rel=1e-5)


def test_systematic_draws_follow_the_prior_and_take_each_hypothesis_its_share():
    torch.manual_seed(0)
    model = MultipleChoicePredictor(3, 2, hypotheses=3, hidden=8)
    with torch.no_grad():
        model.prior.weight.zero_()
        model.prior.bias.copy_(torch.log(torch.tensor([0.5, 0.25, 0.25])))
    x = torch.randn(2, 3)
    outputs = model.hypotheses_of(x)
    draws = model.sample(x, 8, torch.Generator().manual_seed(0), systematic=True)
    picks = torch.cdist(draws, outputs).argmin(-1)  # (2, 8)
    for row in picks:  # exactly S·π_k draws of each hypothesis here (8·π is integer)
        assert torch.bincount(row, minlength=3).tolist() == [4, 2, 2]
    # Marginally each draw is still k ~ π: one draw on the same context, many times.
    many = model.sample(x[:1].expand(4000, 3), 1, torch.Generator().manual_seed(2), systematic=True)
    counts = (
        torch.bincount(
            torch.cdist(many, outputs[:1].expand(4000, 3, 2)).argmin(-1)[:, 0], minlength=3
        ).float()
        / 4000
    )
    torch.testing.assert_close(counts, torch.tensor([0.5, 0.25, 0.25]), atol=0.03, rtol=0)


def test_the_posterior_prior_has_the_gradient_of_the_mixture_likelihood():
    # -log Σ_k π_k N(y; ŷ_k, σ²I) with the hypotheses held fixed, written out by hand: its
    # gradient in every parameter the prior depends on equals that of the prior term.
    torch.manual_seed(0)
    model = MultipleChoicePredictor(
        3, 2, hypotheses=3, hidden=8, sigma=0.7, prior_target="posterior"
    )
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    model.terms(x, y)["prior"].backward()
    got = [p.grad.clone() for p in (*model.context.parameters(), *model.prior.parameters())]
    model.zero_grad()
    state = torch.relu(model.context(x))
    errors = (model._decode_all(state).detach() - y[:, None]).pow(2).sum(-1)
    log_prior = torch.log_softmax(model.prior(state), -1)
    torch.logsumexp(log_prior - errors / (2 * 0.7**2), -1).neg().mean().backward()
    expected = [p.grad for p in (*model.context.parameters(), *model.prior.parameters())]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_the_posterior_prior_ignores_coinciding_hypotheses():
    # Equal errors: the posterior is the prior itself, and the prior's gradient vanishes.
    logits = torch.randn(4, 3, requires_grad=True)
    errors = torch.full((4, 3), 0.3)
    target = posterior(logits, errors, sigma=0.1)
    torch.testing.assert_close(target, torch.softmax(logits, -1).detach())
    F.cross_entropy(logits, target).backward()
    torch.testing.assert_close(logits.grad, torch.zeros(4, 3), atol=1e-7, rtol=0)


def test_the_posterior_prior_learns_the_odds_of_a_biased_coin():
    torch.manual_seed(0)
    x, y, _ = _two_mode_data(512, 0, plus=0.75)
    model = MultipleChoicePredictor(
        3, 4, hypotheses=2, hidden=32, epsilon=0.0, prior_target="posterior"
    )
    fit_model(model, model.loss, (x, y), epochs=60, batch_size=128, lr=3e-3)
    x_test, _, outcomes = _two_mode_data(200, 1)
    hypotheses = model.hypotheses_of(x_test)
    assert bool(single_outcome(hypotheses, outcomes).all())
    with torch.no_grad():
        pi = torch.softmax(model.prior(torch.relu(model.context(x_test))), -1)
    plus = torch.cdist(hypotheses, outcomes).argmin(-1) == 1  # (N, K): the "+ b" hypothesis
    assert bool((plus.sum(-1) == 1).all())
    # π of the + side is 3/4 on average (each context's fits 512 flips, so it wanders a bit);
    # a posterior with the wrong sign would learn 1/4, one that ignores the errors ½.
    assert abs(float(pi[plus].mean()) - 0.75) < 0.06


def test_errors():
    with pytest.raises(ValueError, match="epsilon must lie in"):
        MultipleChoicePredictor(3, 2, epsilon=1.0)
    with pytest.raises(ValueError, match="prior_target must be one of winner, posterior"):
        MultipleChoicePredictor(3, 2, prior_target="em")
    with pytest.raises(ValueError, match="pass the context"):
        MultipleChoicePredictor(3, 2).energy(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="count must be <= hypotheses=4"):
        MultipleChoicePredictor(3, 2).most_probable(torch.zeros(1, 3), 5)
    with pytest.raises(ValueError, match="ratio must lie in"):
        single_outcome(torch.zeros(1, 1, 2), torch.zeros(1, 2, 2), ratio=0.0)
    with pytest.raises(ValueError, match="outcomes must have shape"):
        single_outcome(torch.zeros(1, 1, 2), torch.zeros(2, 2, 2))
