"""The 2-D toy data: shapes, the generating latent variables, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.data.toy2d import (
    TOY2D,
    eight_gaussian_centers,
    ellipse,
    horn,
    horn_radii,
    load_toy,
    spirals,
    two_moons,
)


def test_every_toy_set_is_registered_and_seeded() -> None:
    assert TOY2D.names() == ["eight-gaussians", "ellipse", "horn", "spirals", "two-moons"]
    for name in TOY2D.names():
        a = load_toy(name, 50, generator=torch.Generator().manual_seed(1))
        b = load_toy(name, 50, generator=torch.Generator().manual_seed(1))
        assert a.y.shape == (50, 2)
        torch.testing.assert_close(a.y, b.y)
        assert float(a.y.abs().max()) < 3.0


def test_ellipse_points_lie_on_the_ellipse_of_their_angle() -> None:
    data = ellipse(200, noise=0.0, radii=(2.0, 0.5))
    z = data.latent
    assert bool(((z >= 0) & (z < 2 * math.pi)).all())
    torch.testing.assert_close(data.y[:, 0] / 2.0, torch.cos(z))
    torch.testing.assert_close(data.y[:, 1] / 0.5, torch.sin(z))
    noisy = ellipse(5000, noise=0.1, generator=torch.Generator().manual_seed(0))
    clean = torch.stack([1.6 * noisy.latent.cos(), 0.8 * noisy.latent.sin()], 1)
    assert float((noisy.y - clean).std()) == pytest.approx(0.1, abs=0.005)


def test_horn_is_an_ellipse_per_observation() -> None:
    data = horn(300, noise=0.0)
    radii = horn_radii(data.x)
    unit = data.y / radii
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(300))
    assert data.x.shape == (300, 1)
    assert bool(((data.x >= 0) & (data.x <= 1)).all())


def test_moons_spirals_and_gaussians() -> None:
    moons = two_moons(400, noise=0.0)
    upper = moons.y[moons.labels == 0] / 1.5 + torch.tensor([0.5, 0.25])
    torch.testing.assert_close(upper.norm(dim=1), torch.ones(len(upper)))
    arms = spirals(400, noise=0.0)
    torch.testing.assert_close(arms.y.norm(dim=1), 2 * arms.latent)
    centers = eight_gaussian_centers(2.0)
    torch.testing.assert_close(centers.norm(dim=1), torch.full((8,), 2.0))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="unknown toy data set 'circles'; valid toy data sets"):
        load_toy("circles")
    with pytest.raises(ValueError, match="n must be >= 1"):
        ellipse(0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        spirals(10, noise=-1.0)
