"""The JEPA-style pixel world model: its loss is VICReg across predicted time steps."""

from __future__ import annotations

import pytest
import torch

from eblearn.losses import VICRegLoss
from eblearn.world import TwoRooms, render_two_rooms
from eblearn.world.pixel import (
    LatentPredictor,
    PixelEncoder,
    PixelWorldModel,
    fit_pixel_world_model,
)
from eblearn.world.transitions import RandomController, collect


def test_loss_is_vicreg_between_unrolled_predictions_and_encodings():
    torch.manual_seed(0)
    model = PixelWorldModel(pixels=16, action_dim=2, embedding_dim=6, width=4, hidden_dims=(8,))
    assert isinstance(model.criterion, VICRegLoss)
    frames, actions = torch.rand(5, 4, 1, 16, 16), torch.rand(5, 3, 2)
    terms = model.loss(frames, actions)
    # The same by hand: encode each frame, unroll the predictor from the first embedding.
    embeddings = [model.encoder(frames[:, t]) for t in range(4)]
    predicted, expected = embeddings[0], 0.0
    for t in range(3):
        predicted = model.predictor(predicted, actions[:, t])
        expected = expected + VICRegLoss()(predicted, embeddings[t + 1]) / 3
    torch.testing.assert_close(terms["loss"], expected)
    torch.testing.assert_close(
        terms["loss"], terms["invariance"] + terms["variance"] + terms["covariance"]
    )


def test_predictor_is_residual_and_scales_actions():
    predictor = LatentPredictor(4, 2, action_scale=0.1, hidden_dims=(8,))
    with torch.no_grad():
        predictor.net[-1].weight.zero_()
        predictor.net[-1].bias.zero_()
    state = torch.randn(3, 4)
    torch.testing.assert_close(predictor(state, torch.rand(3, 2)), state)
    with pytest.raises(ValueError, match=r"actions must have shape \(\.\.\., 2\)"):
        predictor(state, torch.zeros(3, 3))


def test_encoder_checks_images():
    encoder = PixelEncoder(pixels=16, embedding_dim=5)
    assert encoder(torch.zeros(2, 3, 1, 16, 16)).shape == (2, 3, 5)
    with pytest.raises(ValueError, match=r"images of shape \(\.\.\., 1, 16, 16\)"):
        encoder(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="multiple of 8"):
        PixelEncoder(pixels=12)
    with pytest.raises(ValueError, match=r"frames must be \(B, T \+ 1, 1, P, P\)"):
        PixelWorldModel(pixels=16).loss(torch.zeros(2, 3, 1, 16, 16), torch.zeros(2, 3, 2))


def test_training_on_rendered_two_rooms_lowers_the_loss_and_keeps_variance():
    torch.manual_seed(0)
    env = TwoRooms()
    data = collect(env, 300, RandomController(env.action_low, env.action_high, repeat=3), 0, 30)
    model = PixelWorldModel(
        pixels=16, action_dim=2, embedding_dim=8, action_scale=0.1, width=8, hidden_dims=(32,)
    )
    dynamics = env.dynamics()
    history = fit_pixel_world_model(
        model,
        data,
        lambda states: render_two_rooms(states, dynamics, 16),
        steps=3,
        epochs=12,
        batch_size=32,
        lr=2e-3,
    )
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    with torch.no_grad():
        embeddings = model.encoder(render_two_rooms(torch.rand(200, 2), dynamics, 16))
    assert float(embeddings.std(0).mean()) > 0.3  # not collapsed
    with pytest.raises(ValueError, match="no run of 40 consecutive transitions"):
        fit_pixel_world_model(model, data, lambda s: s, steps=40)
