import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from eblearn.latent import VAE, fit_model, gaussian_kl, mlp_vae


def test_kl_against_torch_distributions_and_a_naive_loop():
    torch.manual_seed(0)
    mean, log_var = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    reference = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(gaussian_kl(mean, log_var), reference)
    naive = []
    for n in range(5):
        total = 0.0
        for j in range(3):
            variance = math.exp(float(log_var[n, j]))
            total += 0.5 * (float(mean[n, j]) ** 2 + variance - math.log(variance) - 1)
        naive.append(total)
    torch.testing.assert_close(gaussian_kl(mean, log_var), torch.tensor(naive, dtype=torch.float64))


def test_elbo_terms_against_a_naive_computation():
    torch.manual_seed(0)
    vae = mlp_vae(6, code_dim=2, hidden=(8,)).double()
    y = torch.rand(4, 6, dtype=torch.float64).round()
    terms = vae.elbo_terms(y, n_samples=3, generator=torch.Generator().manual_seed(5))
    # The same noise, drawn again, then the Bernoulli log-likelihood written out.
    noise = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        mean, log_var = vae.encoder(y).chunk(2, dim=1)
    expected_reconstruction = []
    for n in range(4):  # loops over samples and draws
        total = 0.0
        for s in range(3):
            z = mean[n] + (0.5 * log_var[n]).exp() * noise[s, n]
            with torch.no_grad():
                p = torch.sigmoid(vae.decoder(z))
            total += float((y[n] * p.log() + (1 - y[n]) * (1 - p).log()).sum())
        expected_reconstruction.append(total / 3)
    expected_reconstruction = torch.tensor(expected_reconstruction, dtype=torch.float64)
    torch.testing.assert_close(terms["reconstruction"], expected_reconstruction)
    torch.testing.assert_close(terms["kl"], gaussian_kl(mean, log_var))
    torch.testing.assert_close(terms["elbo"], expected_reconstruction - terms["kl"])


def _linear_gaussian(exact_posterior: bool):
    """A linear-Gaussian VAE, y = Wz + b + σε, where log p(y) is known in closed form.

    W has orthogonal columns, so the true posterior is diagonal and an encoder can be exact.
    """
    torch.manual_seed(0)
    d, k, sigma = 5, 2, 0.5
    q, _ = torch.linalg.qr(torch.randn(d, k, dtype=torch.float64))
    weight = q * torch.tensor([2.0, 0.7], dtype=torch.float64)  # (D, K), orthogonal columns
    bias = torch.randn(d, dtype=torch.float64)
    decoder = nn.Linear(k, d).double()
    decoder.weight.data, decoder.bias.data = weight.clone(), bias.clone()
    encoder = nn.Linear(d, 2 * k).double()
    precision = torch.eye(k, dtype=torch.float64) + weight.T @ weight / sigma**2  # diagonal
    posterior_var = 1.0 / precision.diagonal()
    gain = posterior_var[:, None] * weight.T / sigma**2  # (K, D)
    if exact_posterior:
        encoder.weight.data = torch.cat([gain, torch.zeros(k, d, dtype=torch.float64)])
        encoder.bias.data = torch.cat([-gain @ bias, posterior_var.log()])
    vae = VAE(encoder, decoder, code_dim=k, likelihood="gaussian", sigma=sigma)
    covariance = weight @ weight.T + sigma**2 * torch.eye(d, dtype=torch.float64)
    marginal = torch.distributions.MultivariateNormal(bias, covariance)
    y = marginal.sample((64,))
    return vae, y, -marginal.log_prob(y)


def test_exact_posterior_makes_the_bounds_tight():
    vae, y, exact_nll = _linear_gaussian(exact_posterior=True)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # -ELBO = -log p, up to the Monte Carlo error of its estimate
        torch.testing.assert_close(
            vae.free_energy(y, n_samples=20000), exact_nll, atol=0.03, rtol=0
        )
    for samples in (1, 7):  # constant importance weights: exact for any S
        estimate = vae.importance_nll(y, n_samples=samples, generator=generator)
        torch.testing.assert_close(estimate, exact_nll)


def test_importance_sampling_tightens_the_elbo_toward_the_exact_nll():
    vae, y, exact_nll = _linear_gaussian(exact_posterior=False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        negative_elbo = float(vae.free_energy(y, n_samples=2000).mean())
    estimates = [float(vae.importance_nll(y, s, generator=generator).mean()) for s in (1, 20, 2000)]
    exact = float(exact_nll.mean())
    assert estimates[0] == pytest.approx(negative_elbo, rel=0.05)  # S = 1 is the ELBO
    assert negative_elbo > estimates[1] > estimates[2] >= exact - 0.05  # −ELBO ≥ NLL_S ≥ NLL
    assert estimates[2] - exact < 0.1 * (negative_elbo - exact)


def test_training_raises_the_elbo_on_binary_digits(digits_t):
    y = (digits_t[:300] > 0.5).float()
    vae = mlp_vae(64, code_dim=2, hidden=(64,))
    losses = fit_model(vae, vae.loss, y, epochs=15, batch_size=50, lr=3e-3)
    assert losses[-1] < 0.8 * losses[0]
    assert vae.reconstruct(y).shape == (300, 64)
    assert vae.sample(5).shape == (5, 64)
    # Decoded Bernoulli means at prior codes z ~ N(0, I), drawn from the given generator.
    sampled = vae.sample(5, generator=torch.Generator().manual_seed(3))
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(sampled, torch.sigmoid(vae.decode(z)))


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'; valid choices"):
        mlp_vae(4, likelihood="poisson")
    vae = VAE(nn.Linear(4, 3), nn.Linear(2, 4), code_dim=2)
    with pytest.raises(ValueError, match=r"encoder must output 2·code_dim = 4 values"):
        vae.encode(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        VAE(nn.Linear(4, 4), nn.Linear(2, 4), code_dim=2, likelihood="gaussian", sigma=0)
