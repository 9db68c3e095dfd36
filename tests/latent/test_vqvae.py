import itertools
import math

import pytest
import torch

from eblearn.latent import (
    VQVAE,
    codebook_usage,
    fit_model,
    nearest_code,
    straight_through,
    vq_terms,
)


def test_nearest_code_equals_a_naive_loop():
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(40, 3, generator=generator)
    codebook = torch.randn(7, 3, generator=generator)
    expected = []
    for v in vectors:
        best, best_distance = -1, math.inf
        for k, e in enumerate(codebook):
            distance = float(((v - e) ** 2).sum())
            if distance < best_distance:
                best, best_distance = k, distance
        expected.append(best)
    assert nearest_code(vectors, codebook).tolist() == expected


def test_straight_through_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    model = VQVAE(6, n_codes=5, code_dim=2, n_positions=3, hidden=(8,), restart_after=0)
    y = torch.randn(4, 6)
    terms = model.loss_terms(y)
    # The decoder's gradient with respect to the quantized code, with z_q as a leaf.
    z_q = model.codebook[terms["indices"]].flatten(1).detach().requires_grad_(True)
    reconstruction = (y - model.decoder(z_q)).pow(2).sum(1).mean()
    (grad_z_q,) = torch.autograd.grad(reconstruction, z_q)
    # The encoder's gradient from the model's reconstruction term ...
    params = list(model.encoder.parameters())
    encoder_grads = torch.autograd.grad(terms["reconstruction"], params)
    # ... equals that gradient pushed back through the encoder (the straight-through copy).
    z_e = model.encoder(y)
    expected = torch.autograd.grad(z_e, params, grad_outputs=grad_z_q)
    for got, want in zip(encoder_grads, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert any(float(g.abs().sum()) > 0 for g in encoder_grads)
    # and on the tensor itself: the gradient w.r.t. z_e is the one w.r.t. z_q
    z_e_leaf = z_e.detach().requires_grad_(True)
    out = straight_through(z_e_leaf, z_q.detach())
    torch.testing.assert_close(out, z_q.detach())
    (grad_z_e,) = torch.autograd.grad((y - model.decoder(out)).pow(2).sum(1).mean(), z_e_leaf)
    torch.testing.assert_close(grad_z_e, grad_z_q)


def test_codebook_and_commitment_terms_equal_hand_computation():
    torch.manual_seed(1)
    model = VQVAE(5, n_codes=4, code_dim=3, n_positions=2, hidden=(8,), beta=0.4)
    model.eval()
    y = torch.randn(6, 5)
    terms = model.loss_terms(y)
    z_e = model.encoder(y).view(6, 2, 3).detach()
    codes = model.codebook.detach()
    codebook_total, reconstruction_total = 0.0, 0.0
    for n in range(6):
        chosen = []
        for p in range(2):
            k = int(((codes - z_e[n, p]) ** 2).sum(1).argmin())
            chosen.append(k)
            codebook_total += float(((z_e[n, p] - codes[k]) ** 2).sum())
        decoded = model.decoder(codes[chosen].flatten()[None])[0].detach()
        reconstruction_total += float(((y[n] - decoded) ** 2).sum())
    values = {name: float(terms[name].detach()) for name in ("codebook", "commitment")}
    assert values["codebook"] == pytest.approx(codebook_total / 6, rel=1e-5)
    assert values["commitment"] == pytest.approx(0.4 * codebook_total / 6, rel=1e-5)
    reconstruction = float(terms["reconstruction"].detach())
    assert reconstruction == pytest.approx(reconstruction_total / 6, rel=1e-5)
    # gradients go where the stop-gradients say: the codebook term only into the codebook,
    # the commitment term only into the encoder
    z_q = model.codebook[terms["indices"]]
    codebook, commitment = vq_terms(model.encoder(y).view(6, 2, 3), z_q)
    params = [model.codebook, model.encoder[0].weight]
    grads = torch.autograd.grad(codebook.sum(), params, allow_unused=True)
    assert grads[1] is None and float(grads[0].abs().sum()) > 0
    grads = torch.autograd.grad(commitment.sum(), params, allow_unused=True)
    assert grads[0] is None and float(grads[1].abs().sum()) > 0


def test_energy_is_the_minimum_over_codes_and_below_the_amortized_energy():
    torch.manual_seed(2)
    model = VQVAE(4, n_codes=3, code_dim=2, n_positions=2, hidden=(8,))
    y = torch.randn(5, 4)
    with torch.no_grad():
        naive = torch.stack(
            [
                torch.stack(
                    [
                        (
                            (y[n] - model.decoder(model.codebook[list(k)].flatten()[None])[0]) ** 2
                        ).sum()
                        for k in itertools.product(range(3), repeat=2)
                    ]
                ).min()
                for n in range(5)
            ]
        )
        torch.testing.assert_close(model.energy(y), naive)
        assert bool((model.energy(y) <= model.amortized_energy(y) + 1e-6).all())
        torch.testing.assert_close(model.amortized_energy(y), (y - model(y)).pow(2).sum(1))


def test_codebook_usage_perplexity_and_fraction():
    perplexity, fraction = codebook_usage(torch.tensor([0, 0, 0, 1]), 8)
    p = torch.tensor([0.75, 0.25])
    assert perplexity == pytest.approx(float(torch.exp(-(p * p.log()).sum())))
    assert fraction == pytest.approx(2 / 8)
    assert codebook_usage(torch.arange(6), 6) == pytest.approx((6.0, 1.0))


def test_dead_code_restart_replaces_unused_codes():
    torch.manual_seed(3)
    model = VQVAE(4, n_codes=6, code_dim=2, hidden=(8,), restart_after=2)
    with torch.no_grad():  # codes 0 and 1 near the data, codes 2..5 far away: never chosen
        model.codebook.copy_(torch.tensor([[0.0, 0.0], [0.1, 0.0]] + [[100.0, 100.0]] * 4))
    assert model.steps_unused.tolist() == [2] * 6  # codes start as dead
    model.steps_unused.zero_()  # as if all had just been used
    y = torch.randn(16, 4)
    model.train()
    model.loss_terms(y)  # step 1: codes 2..5 unused for one step
    torch.testing.assert_close(model.codebook[2:], torch.full((4, 2), 100.0))
    terms = model.loss_terms(y)  # step 2: unused for two steps, restarted
    z_e = model.encode(y).flatten(0, 1).detach()
    for code in model.codebook[2:].detach():  # each restarted code is an encoder output
        assert float((z_e - code).pow(2).sum(1).min()) < 1e-10
    assert model.steps_unused[2:].tolist() == [0, 0, 0, 0]
    assert bool((terms["indices"] >= 2).any())  # assignments recomputed with the new codes
    fresh = VQVAE(4, n_codes=6, code_dim=2, hidden=(8,), restart_after=5).train()
    before = fresh.codebook.detach().clone()
    with torch.no_grad():
        used = set(nearest_code(fresh.encode(y).flatten(0, 1), before).tolist())
    assert len(used) < 6
    fresh.loss_terms(y)  # first step: every code it did not assign becomes an encoder output
    z_e = fresh.encode(y).flatten(0, 1).detach()
    for k in set(range(6)) - used:
        assert float((z_e - fresh.codebook[k].detach()).pow(2).sum(1).min()) < 1e-10
    for k in used:
        torch.testing.assert_close(fresh.codebook[k].detach(), before[k])
    off = VQVAE(4, n_codes=6, code_dim=2, hidden=(8,), restart_after=0)
    assert off.restart_dead_codes(torch.zeros(3, 2)) == 0


def test_training_on_digits_lowers_reconstruction_and_uses_several_codes(digits_t):
    torch.manual_seed(0)
    x = digits_t[:300].float()
    model = VQVAE(64, n_codes=16, code_dim=4, n_positions=2, hidden=(64,), restart_after=10)
    with torch.no_grad():
        before = float(model.amortized_energy(x).mean())
    fit_model(model, model.loss, x, epochs=15, batch_size=50, lr=3e-3)
    with torch.no_grad():
        after = float(model.amortized_energy(x).mean())
        perplexity, fraction = codebook_usage(model.encode_indices(x), 16)
    assert after < 0.4 * before
    assert fraction > 1 / 16 and perplexity > 4  # far from one code (perplexity 1)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="n_codes must be an integer >= 1"):
        VQVAE(4, n_codes=0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        VQVAE(4, beta=-1.0)
    with pytest.raises(ValueError, match=r"K\^P = 64\^3 = 262144 code combinations"):
        VQVAE(4, n_codes=64, code_dim=2, n_positions=3, hidden=(8,)).energy(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"y must be a tensor of shape \(N, D\)"):
        VQVAE(4, hidden=(8,)).encode(torch.zeros(4))
