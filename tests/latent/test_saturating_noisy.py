import math

import pytest
import torch

from eblearn.latent import (
    NoisyAutoencoder,
    SaturatingAutoencoder,
    complementary_nonlinearity,
    fit_model,
    project_to_ball,
    saturating_activation,
)


@pytest.mark.parametrize("kind", ["relu", "saturated-linear"])
def test_complementary_nonlinearity_is_the_distance_to_the_flat_region(kind):
    # Brute force: the points of a fine grid where f has zero numerical slope, and each
    # input's distance to the nearest of them.
    grid = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    slope = (
        saturating_activation(grid + step / 2, kind) - saturating_activation(grid - step / 2, kind)
    ) / step
    flat = grid[slope.abs() < 1e-9]
    a = torch.linspace(-2, 2, 41, dtype=torch.float64)
    naive = (a[:, None] - flat[None]).abs().min(1).values
    torch.testing.assert_close(complementary_nonlinearity(a, kind), naive, atol=2 * step, rtol=0)


def test_saturating_loss_is_reconstruction_plus_eta_penalty():
    torch.manual_seed(0)
    model = SaturatingAutoencoder(6, 4, eta=0.3)
    y = torch.randn(5, 6)
    a = model.encoder(y)
    codes = a.clamp(0, 1)
    penalty = torch.minimum(a.clamp_min(0), (1 - a).clamp_min(0)).sum(1)
    torch.testing.assert_close(model.energy(y), (y - model.decoder(codes)).pow(2).sum(1))
    torch.testing.assert_close(model.loss(y), (model.energy(y) + 0.3 * penalty).mean())


def test_the_saturation_penalty_moves_units_into_their_flat_regions(digits_t):
    x = digits_t[:300].float()
    saturated = []
    for eta in (0.0, 2.0):
        torch.manual_seed(0)
        model = SaturatingAutoencoder(64, 32, eta=eta)
        losses = fit_model(model, model.loss, x, epochs=20, batch_size=50, lr=1e-2)
        assert losses[-1] < 0.7 * losses[0]
        with torch.no_grad():
            a = model.preactivation(x)
            saturated.append(float(((a <= 0) | (a >= 1)).float().mean()))
    assert saturated[1] > saturated[0] + 0.1


def test_projection_onto_the_ball_is_the_nearest_point():
    generator = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(20, 3, generator=generator)
    projected = project_to_ball(z, 2.0)
    assert bool((projected.norm(dim=1) <= 2.0 + 1e-6).all())
    # against a brute-force search over many points of the ball
    ball = torch.randn(20000, 3, generator=generator)
    ball = (
        ball
        / ball.norm(dim=1, keepdim=True)
        * 2.0
        * torch.rand(20000, 1, generator=generator) ** (1 / 3)
    )
    for row, got in zip(z, projected, strict=True):
        best = ball[(ball - row).norm(dim=1).argmin()]
        assert float((row - got).norm()) <= float((row - best).norm()) + 1e-6
    inside = torch.tensor([[0.3, 0.4, 0.0]])
    torch.testing.assert_close(project_to_ball(inside, 2.0), inside)


def test_noisy_autoencoder_loss_and_capacity():
    torch.manual_seed(1)
    model = NoisyAutoencoder(6, 4, hidden=(8,), radius=2.0, noise=0.5)
    y = torch.randn(5, 6)
    z = model.encode(y)
    assert bool((z.norm(dim=1) <= 2.0 + 1e-6).all())
    eps = torch.randn(5, 4, generator=torch.Generator().manual_seed(7))
    expected = (y - model.decoder(z + 0.5 * eps)).pow(2).sum(1).mean()
    torch.testing.assert_close(model.loss(y, torch.Generator().manual_seed(7)), expected)
    silent = NoisyAutoencoder(6, 4, hidden=(8,), radius=2.0, noise=0.0)
    silent.load_state_dict(model.state_dict())
    torch.testing.assert_close(silent.loss(y), model.energy(y).mean())  # σ = 0: no noise
    assert model.capacity_bits == pytest.approx(2 * math.log2(1 + 4 / (4 * 0.25)))
    assert silent.capacity_bits == math.inf


def test_more_noise_means_worse_reconstruction_on_digits(digits_t):
    x = digits_t[:300].float()
    errors = []
    for noise in (0.01, 1.0):
        torch.manual_seed(0)
        model = NoisyAutoencoder(64, 8, hidden=(64,), radius=1.0, noise=noise)
        losses = fit_model(model, model.loss, x, epochs=15, batch_size=50, lr=3e-3)
        assert losses[-1] < losses[0]
        with torch.no_grad():
            errors.append(float(model.energy(x).mean()))
    assert errors[0] < 0.8 * errors[1]  # less capacity, higher reconstruction energy


def test_errors_are_clear():
    with pytest.raises(
        ValueError, match="unknown activation 'tanh'; valid choices: relu, saturated-linear"
    ):
        SaturatingAutoencoder(4, 2, activation="tanh")
    with pytest.raises(ValueError, match="eta must be >= 0"):
        SaturatingAutoencoder(4, 2, eta=-1.0)
    with pytest.raises(ValueError, match="radius must be > 0 and finite"):
        NoisyAutoencoder(4, 2, radius=0.0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        NoisyAutoencoder(4, 2, noise=-0.1)
