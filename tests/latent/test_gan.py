"""EBGAN and WGAN-GP: losses against naive formulas, and a short seeded run on a 2-D toy."""

from __future__ import annotations

import pytest
import torch

from eblearn.data.toy2d import load_toy
from eblearn.latent import (
    fit_gan,
    mlp_ebgan,
    mlp_generator,
    mlp_wgan_gp,
)
from eblearn.sampling import pull_away_term


def _rng(seed: int = 3) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _loop_pull_away(codes: torch.Tensor) -> torch.Tensor:
    n, total = len(codes), torch.zeros((), dtype=codes.dtype)
    for i in range(n):
        for j in range(n):
            if i != j:
                cos = codes[i] @ codes[j] / (codes[i].norm() * codes[j].norm())
                total = total + cos**2
    return total / (n * (n - 1))


def _loop_reconstruction_error(model, points: torch.Tensor) -> torch.Tensor:
    ae = model.energy_model
    return torch.stack([(ae.decoder(ae.encoder(p[None]))[0] - p).norm() for p in points])


def _chamfer(a: torch.Tensor, b: torch.Tensor) -> float:
    d = torch.cdist(a, b)
    return float(d.min(1).values.mean() + d.min(0).values.mean())


def test_pull_away_term_matches_a_double_loop():
    codes = torch.randn(6, 4, dtype=torch.float64, generator=_rng())
    torch.testing.assert_close(pull_away_term(codes), _loop_pull_away(codes))


def test_ebgan_losses_match_the_naive_formulas():
    torch.manual_seed(0)
    model = mlp_ebgan(data_dim=3, noise_dim=2, hidden=8, code_dim=2, margin=2.0, pull_away=0.3)
    real = torch.randn(5, 3, generator=_rng(1))
    fake = model.sampler(5, generator=_rng()).detach()  # the same draw the loss makes
    real_energy = _loop_reconstruction_error(model, real)
    fake_energy = _loop_reconstruction_error(model, fake)
    hinge = torch.stack([torch.clamp(2.0 - e, min=0.0) for e in fake_energy])
    want_d = real_energy.mean() + hinge.mean()
    torch.testing.assert_close(model.discriminator_loss(real, _rng())["loss"], want_d)
    torch.testing.assert_close(model.energy(real), real_energy)
    codes = model.energy_model.encoder(fake)
    want_g = fake_energy.mean() + 0.3 * _loop_pull_away(codes)
    torch.testing.assert_close(model.generator_loss(5, _rng())["loss"], want_g)


def test_ebgan_discriminator_loss_stops_pushing_beyond_the_margin():
    torch.manual_seed(0)
    model = mlp_ebgan(data_dim=3, hidden=8, margin=1e-6)  # every fake is above the margin
    out = model.discriminator_loss(torch.randn(4, 3), _rng())
    torch.testing.assert_close(out["loss"], out["real_energy"])


def test_wgan_gp_critic_loss_matches_a_per_sample_loop():
    torch.manual_seed(0)
    model = mlp_wgan_gp(data_dim=2, noise_dim=2, hidden=8, penalty_weight=7.0)
    real = torch.randn(4, 2, generator=_rng(1))
    rng = _rng()  # the loss draws the noise, then one ε per sample
    fake = model.sampler.generator(torch.randn(4, 2, generator=rng)).detach()
    eps = torch.rand(4, generator=rng)
    critic = model.critic
    penalty = []
    for x, x_fake, e in zip(real, fake, eps):
        point = (e * x + (1 - e) * x_fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(point[None]).sum(), point)
        penalty.append((grad.norm() - 1) ** 2)
    gap = torch.stack([critic(x[None])[0, 0] for x in real]).mean() - critic(fake).mean()
    out = model.discriminator_loss(real, _rng())
    torch.testing.assert_close(out["gap"], gap.detach())
    torch.testing.assert_close(out["loss"], gap + 7.0 * torch.stack(penalty).mean())
    want_g = critic(model.sampler(4, generator=_rng())).mean()
    torch.testing.assert_close(model.generator_loss(4, _rng())["loss"], want_g)


def test_the_energy_update_leaves_the_generator_alone():
    torch.manual_seed(0)
    model = mlp_wgan_gp(data_dim=2, hidden=8)
    model.discriminator_loss(torch.randn(4, 2))["loss"].backward()
    assert all(p.grad is None for p in model.generator_parameters())
    assert all(p.grad is not None for p in model.discriminator_parameters())
    generator_ids = {id(p) for p in model.generator_parameters()}
    assert not generator_ids & {id(p) for p in model.discriminator_parameters()}


@pytest.mark.parametrize(
    ("build", "settings", "ratio"),
    [
        (
            lambda: mlp_ebgan(2, noise_dim=2, hidden=16, code_dim=2),
            {"lr": 5e-3, "steps": 100},
            0.85,
        ),
        (
            lambda: mlp_wgan_gp(2, noise_dim=2, hidden=16, critic_steps=2),
            {"lr": 5e-4, "steps": 80, "betas": (0.0, 0.9)},
            0.9,
        ),
    ],
    ids=["ebgan", "wgan-gp"],
)
def test_the_generated_points_move_toward_the_data(build, settings, ratio):
    # eight Gaussians on a circle of radius 2; the untrained generator sits near the origin.
    # The symmetric nearest-neighbour (chamfer) distance between samples and data must drop
    # (measured: EBGAN 3.15 -> 2.30, WGAN-GP 3.18 -> 2.58 on this seed).
    data = load_toy("eight-gaussians", 256, generator=_rng(0)).y
    torch.manual_seed(0)
    model = build()
    before = _chamfer(model.sample(256, generator=_rng(1)), data)
    history = fit_gan(model, data, batch_size=32, seed=0, **settings)
    after = _chamfer(model.sample(256, generator=_rng(1)), data)
    assert len(history) == settings["steps"] and all(
        torch.isfinite(torch.tensor(list(r.values()))).all() for r in history
    )
    assert after < ratio * before, (before, after)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown generator output 'relu'; valid: none"):
        mlp_generator(2, 8, 2, "relu")
    with pytest.raises(ValueError, match="margin"):
        mlp_ebgan(2, margin=0.0)
    with pytest.raises(ValueError, match="critic_steps"):
        mlp_wgan_gp(2, critic_steps=0)
    with pytest.raises(ValueError, match=r"EBGAN has an unconditional energy F\(y\)"):
        mlp_ebgan(2, hidden=4).energy(torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"WGANGP has an unconditional energy F\(y\)"):
        mlp_wgan_gp(2, hidden=4).energy(torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="at least batch_size=64 rows, got 10"):
        fit_gan(mlp_ebgan(2, hidden=4), torch.zeros(10, 2), steps=1)
