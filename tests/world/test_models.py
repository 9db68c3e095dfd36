"""Learned forward models (deterministic and latent), transitions, and saving/loading."""

from __future__ import annotations

import pytest
import torch

from eblearn.world import LinearDynamics, TwoRooms, make_env
from eblearn.world.fit import fit_forward_model, model_error_report, open_loop_errors
from eblearn.world.io import load_module, save_module
from eblearn.world.models import ForwardModel
from eblearn.world.pixel import PixelWorldModel
from eblearn.world.policy import Policy
from eblearn.world.transitions import RandomController, Transitions, collect


def bimodal_transitions(count=512, seed=0):
    """s' = s + 0.1 a ± 1 (a fair coin): no function of (s, a) predicts it, a latent does."""
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(count, 1, generator=generator)
    actions = torch.rand(count, 1, generator=generator)
    coin = torch.randint(0, 2, (count, 1), generator=generator).float() * 2 - 1
    return Transitions(
        states,
        actions,
        states + 0.1 * actions + coin,
        torch.zeros(count),
        torch.zeros(count, dtype=torch.long),
    )


def test_deterministic_model_learns_linear_dynamics():
    generator = torch.Generator().manual_seed(0)
    states, actions = (
        torch.randn(512, 2, generator=generator),
        torch.randn(512, 1, generator=generator),
    )
    truth = LinearDynamics(torch.tensor([[0.9, 0.2], [-0.1, 0.8]]), torch.tensor([[0.0], [0.5]]))
    data = Transitions(
        states,
        actions,
        truth(states, actions),
        torch.zeros(512),
        torch.zeros(512, dtype=torch.long),
    )
    model = ForwardModel(2, 1, hidden_dims=(32,))
    history = fit_forward_model(model, data, epochs=40, batch_size=64, lr=1e-2)
    assert history[-1]["prediction"] < 0.01 < history[0]["prediction"]
    test_states, test_actions = torch.randn(100, 2), torch.randn(100, 1)
    with torch.no_grad():
        error = (model(test_states, test_actions) - truth(test_states, test_actions)).abs().mean()
    assert float(error) < 0.05
    assert model(torch.zeros(4, 5, 2), torch.zeros(4, 5, 1)).shape == (4, 5, 2)  # any batch dims


def test_latent_model_captures_the_two_outcomes_a_deterministic_model_averages():
    data = bimodal_transitions()
    deterministic = ForwardModel(1, 1, hidden_dims=(32, 32))
    fit_forward_model(deterministic, data, epochs=40, batch_size=64, lr=3e-3)
    latent = ForwardModel(1, 1, latent_dim=1, hidden_dims=(32, 32), penalty="kl", beta=0.05)
    fit_forward_model(latent, data, epochs=40, batch_size=64, lr=3e-3)
    states, actions = torch.randn(400, 1), torch.full((400, 1), 0.5)
    with torch.no_grad():
        jumps = deterministic(states, actions) - states
        sampled = latent(states, actions, latent.sample_latent((400,))) - states
    # The deterministic model predicts the mean jump (0.05); the latent one both jumps, ±1.
    assert float(jumps.abs().mean()) < 0.3
    assert float(sampled.abs().mean()) > 0.6
    assert 0.25 < float((sampled > 0).float().mean()) < 0.75
    # Inferring z from the true next state lets the model reconstruct it.
    with torch.no_grad():
        z, _ = latent.encode(data.states, data.actions, data.next_states)
        reconstructed = latent(data.states, data.actions, z)
    assert float((reconstructed - data.next_states).pow(2).mean()) < 0.2


def test_norm_penalty_sets_the_planning_prior_from_the_codes():
    data = bimodal_transitions(256)
    model = ForwardModel(1, 1, latent_dim=2, hidden_dims=(16,), penalty="norm", beta=0.01)
    fit_forward_model(model, data, epochs=5, batch_size=64)
    with torch.no_grad():
        codes, penalty = model.encode(data.states, data.actions, data.next_states)
    torch.testing.assert_close(model.latent_std, codes.std(0).clamp_min(1e-3))
    torch.testing.assert_close(penalty, 0.5 * codes.pow(2).sum(-1))
    draws = model.sample_latent((20000,), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(draws.std(0), model.latent_std, rtol=0.05, atol=1e-3)


def test_latent_dropout_one_cuts_the_encoder_out_of_training():
    data = bimodal_transitions(64)
    model = ForwardModel(1, 1, latent_dim=2, hidden_dims=(8,), latent_dropout=1.0).train()
    terms = model.loss(data.states, data.actions, data.next_states)
    assert float(terms["penalty"].detach()) == 0.0
    terms["loss"].backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.encoder.parameters())
    assert any(float(p.grad.abs().sum()) > 0 for p in model.predictor.parameters())


def test_model_errors():
    with pytest.raises(ValueError, match="unknown penalty 'l1'; valid choices: kl, norm"):
        ForwardModel(3, 1, latent_dim=2, penalty="l1")
    with pytest.raises(ValueError, match="latent_dim=0: there is no z"):
        ForwardModel(3, 1).encode(torch.zeros(1, 3), torch.zeros(1, 1), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"states must have shape \(\.\.\., 3\)"):
        ForwardModel(3, 1).loss(torch.zeros(2, 4), torch.zeros(2, 1), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="do not fit a model of state_dim 2"):
        fit_forward_model(ForwardModel(2, 1), bimodal_transitions(8))


def test_open_loop_errors_by_hand():
    model = LinearDynamics(torch.eye(1), torch.eye(1))  # s' = s + a
    states = torch.tensor([[0.0], [1.0], [3.0], [4.0]])  # the second step moved by 2, not 1
    actions = torch.ones(3, 1)
    errors = open_loop_errors(model, states, actions, horizon=2)
    # From s0: predicts 1, 2 (true 1, 3); from s1: predicts 2, 3 (true 3, 4).
    torch.testing.assert_close(errors[..., 0], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    report = model_error_report(model, [(states, actions)], horizons=(1, 2))
    assert report == {"rmse@1": pytest.approx(0.5**0.5), "rmse@2": pytest.approx(1.0)}


def test_transitions_collect_windows_and_save(tmp_path):
    env = TwoRooms()
    data = collect(env, 25, RandomController(env.action_low, env.action_high, repeat=3), 0, 10)
    assert len(data) == 25
    assert data.episodes.tolist() == [0] * 10 + [1] * 10 + [2] * 5
    torch.testing.assert_close(data.states[1:10], data.next_states[:9])  # consecutive in one
    assert data.windows(10).tolist() == [0, 10]
    assert bool((data.actions.abs() <= 0.1).all())
    data.save(tmp_path / "t.pt")
    loaded = Transitions.load(tmp_path / "t.pt")
    torch.testing.assert_close(loaded.next_states, data.next_states)
    both = data.cat(data)
    assert len(both) == 50
    assert both.episodes.max() == 5
    with pytest.raises(ValueError, match="rewards must have 1 dimension"):
        Transitions(
            torch.zeros(2, 1),
            torch.zeros(2, 1),
            torch.zeros(2, 1),
            torch.zeros(2, 1),
            torch.zeros(2, dtype=torch.long),
        )
    save_module(Policy(2, torch.tensor([-1.0]), torch.tensor([1.0])), tmp_path / "p.pt")
    with pytest.raises(ValueError, match="does not hold transitions"):
        Transitions.load(tmp_path / "p.pt")


def test_gym_collection_is_seeded():
    pytest.importorskip("gymnasium")
    first = collect(make_env("pendulum"), 30, seed=4, episode_steps=15)
    second = collect(make_env("pendulum"), 30, seed=4, episode_steps=15)
    torch.testing.assert_close(first.actions, second.actions)
    torch.testing.assert_close(first.next_states, second.next_states)


@pytest.mark.parametrize(
    "module",
    [
        ForwardModel(3, 1, latent_dim=2, hidden_dims=(8, 8), penalty="norm", latent_dropout=0.5),
        Policy(3, torch.tensor([-2.0]), torch.tensor([2.0]), hidden_dims=(8,)),
        PixelWorldModel(pixels=16, action_dim=2, embedding_dim=4, width=4, hidden_dims=(8,)),
    ],
    ids=["forward_model", "policy", "pixel_world_model"],
)
def test_save_and_load_round_trip(module, tmp_path):
    with torch.no_grad():
        for buffer in module.buffers():  # statistics are saved too
            buffer.add_(torch.rand_like(buffer.float()).to(buffer.dtype))
    path = save_module(module, tmp_path / "module.pt")
    loaded = load_module(path)
    assert type(loaded) is type(module)
    for (name, a), (_, b) in zip(module.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    other = "forward_model" if isinstance(module, Policy) else "policy"
    with pytest.raises(ValueError, match=f"not a {other}"):
        load_module(path, other)


def test_save_refuses_other_modules(tmp_path):
    with pytest.raises(ValueError, match="cannot save a Linear; savable kinds: ForwardModel"):
        save_module(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_module(tmp_path / "missing.pt")
