"""Gradient penalties against a per-sample autograd loop and a linear critic's exact norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eblearn.losses import (
    GradientPenalty,
    energy_smoothness,
    gradient_penalty,
    input_gradient_norm,
    interpolate,
)


def _critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))


def _loop_penalty(fn, points, center, weight):
    """One autograd call per sample: ``λ/B Σ_i (||∇ fn(x_i)|| - c)²``."""
    terms = []
    for point in points:
        x = point[None].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
        terms.append((grad.norm() - center) ** 2)
    return weight * torch.stack(terms).mean()


@pytest.mark.parametrize("center", [0.0, 1.0])
def test_penalty_and_its_parameter_gradient_match_a_per_sample_loop(center):
    critic = _critic()
    points = torch.randn(5, 2, 3, dtype=torch.float64)
    critic.double()
    got = gradient_penalty(critic, points, center=center, weight=3.0)
    want = _loop_penalty(critic, points, center, 3.0)
    torch.testing.assert_close(got, want)
    weights = [p for name, p in critic.named_parameters() if name != "3.bias"]  # bias: ∇_x-free
    got_grads = torch.autograd.grad(got, weights)
    want_grads = torch.autograd.grad(want, weights)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w)


def test_linear_critic_has_the_norm_of_its_weights_everywhere():
    w = torch.tensor([1.0, 2.0, 2.0])  # ||w|| = 3
    critic = lambda x: x @ w + 7.0  # noqa: E731
    points = torch.randn(4, 3)
    torch.testing.assert_close(input_gradient_norm(critic, points), torch.full((4,), 3.0))
    assert float(gradient_penalty(critic, points, center=1.0, weight=10.0)) == pytest.approx(40.0)
    assert float(energy_smoothness(critic, points, weight=0.5)) == pytest.approx(4.5)
    unit = lambda x: x @ (w / 3)  # noqa: E731  ||∇|| = 1: WGAN-GP's penalty vanishes
    assert float(gradient_penalty(unit, points)) == pytest.approx(0.0, abs=1e-10)


def test_quadratic_energy_smoothness_is_four_times_the_mean_square_norm():
    points = torch.randn(6, 2, dtype=torch.float64)
    got = energy_smoothness(lambda x: x.pow(2).sum(1), points)  # ∇ = 2x
    torch.testing.assert_close(got, 4 * points.pow(2).sum(1).mean())


def test_interpolates_lie_on_the_segments():
    real, fake = torch.randn(7, 2, 2), torch.randn(7, 2, 2)
    points = interpolate(real, fake, torch.Generator().manual_seed(0))
    # x̂ - x̃ = ε (x - x̃) with one ε in [0, 1] per sample
    eps = (points - fake).flatten(1) / (real - fake).flatten(1)
    torch.testing.assert_close(eps, eps[:, :1].expand_as(eps))
    assert bool(((eps >= 0) & (eps <= 1)).all())
    with pytest.raises(ValueError, match="same shape"):
        interpolate(real, fake[:3])


def test_module_uses_interpolates_only_when_given_fake_points():
    critic = lambda x: x.pow(2).sum(1)  # noqa: E731  ||∇|| = 2||x||
    real, fake = torch.ones(3, 2), torch.zeros(3, 2)
    penalty = GradientPenalty(weight=1.0, center=0.0)
    torch.testing.assert_close(penalty(critic, real), torch.tensor(8.0))
    eps = torch.rand(3, generator=torch.Generator().manual_seed(4))
    want = (4 * 2 * eps.pow(2)).mean()  # x̂ = ε·(1, 1): ||∇||² = 4·2ε²
    got = penalty(critic, real, fake, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(got, want)


def test_bad_settings_and_outputs_are_refused():
    with pytest.raises(ValueError, match="weight"):
        GradientPenalty(weight=-1.0)
    with pytest.raises(ValueError, match="centre"):
        gradient_penalty(lambda x: x.sum(1), torch.ones(2, 2), center=-1.0)
    with pytest.raises(ValueError, match=r"one value per point, shape \(2,\), got \(2, 2\)"):
        gradient_penalty(lambda x: x, torch.ones(2, 2))
