import pytest
import torch
import torch.nn.functional as F

from eblearn.latent import (
    BottleneckAutoencoder,
    ConvSparseAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    corrupt,
    fit_model,
)


def _plane(n=512, seed=0):
    """Points on a 2-D plane in 8-D, with a little noise."""
    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(2, 8, generator=generator)
    return torch.randn(n, 2, generator=generator) @ basis + 0.01 * torch.randn(
        n, 8, generator=generator
    )


def test_bottleneck_learns_the_plane_and_its_energy_is_the_reconstruction_error():
    x = _plane()
    model = BottleneckAutoencoder(8, 2, hidden=(32,))
    torch.testing.assert_close(model.energy(x), (x - model(x)).pow(2).sum(1))
    with torch.no_grad():
        before = float(model.loss(x))
    fit_model(model, model.loss, x, epochs=25, batch_size=64, lr=5e-3)
    with torch.no_grad():
        after = float(model.loss(x))
    assert after < 0.05 * before
    off = x + 2.0 * torch.randn_like(x)  # points off the plane get high energy
    with torch.no_grad():
        assert float(model.energy(off).mean()) > 10 * after


def test_sparse_autoencoder_energy_atoms_and_sparsity(digits_t):
    x = digits_t[:400].float()
    model = SparseAutoencoder(64, 96, lam=0.3)
    codes = model.encode(x)
    naive = 0.5 * (x - codes @ F.normalize(model.raw_atoms, dim=1)).pow(2).sum(1)
    naive = naive + 0.3 * codes.abs().sum(1)
    torch.testing.assert_close(model.energy(x), naive)
    losses = fit_model(model, model.loss, x, epochs=30, batch_size=100, lr=3e-3)
    assert losses[-1] < 0.7 * losses[0]
    torch.testing.assert_close(model.atoms.norm(dim=1), torch.ones(96))
    assert float((model.encode(x) == 0).float().mean()) > 0.5  # most code units are off


def test_conv_sparse_decoder_is_a_sum_of_filtered_maps():
    model = ConvSparseAutoencoder(in_channels=1, n_filters=3, kernel_size=5, lam=0.1)
    maps = torch.randn(2, 3, 9, 9)
    filters = model.filters  # (C, K, k, k)
    expected = torch.zeros(2, 1, 9, 9)
    for k in range(3):  # one single-channel correlation per map, summed
        expected += F.conv2d(maps[:, k : k + 1], filters[:, k : k + 1], padding=2)
    torch.testing.assert_close(model.decode(maps), expected)
    norms = filters.pow(2).sum((0, 2, 3)).sqrt()
    torch.testing.assert_close(norms, torch.ones(3))
    images = torch.rand(2, 1, 9, 9)
    z = model.encode(images)
    energy = 0.5 * (images - model.decode(z)).pow(2).sum((1, 2, 3)) + 0.1 * z.abs().sum((1, 2, 3))
    torch.testing.assert_close(model.energy(images), energy)


def test_conv_sparse_autoencoder_trains_on_images(digits_t):
    images = digits_t[:200].float().view(200, 1, 8, 8)
    model = ConvSparseAutoencoder(1, n_filters=8, kernel_size=5, lam=0.02)
    losses = fit_model(model, model.loss, images, epochs=15, batch_size=50, lr=1e-2)
    assert losses[-1] < 0.5 * losses[0]


def test_corruptions():
    generator = torch.Generator().manual_seed(0)
    y = torch.ones(50, 400)
    masked = corrupt(y, "mask", 0.3, generator)
    assert float((masked == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    noisy = corrupt(y, "gaussian", 0.5, generator)
    assert float((noisy - y).std()) == pytest.approx(0.5, abs=0.01)
    torch.testing.assert_close(corrupt(y, "gaussian", 0.0), y)


def test_denoising_autoencoder_maps_noisy_points_back_to_the_plane():
    x = _plane(seed=1)
    model = DenoisingAutoencoder(8, 16, hidden=(32,), corruption="gaussian", level=0.5)
    torch.manual_seed(0)
    clean_loss = DenoisingAutoencoder(8, 16, hidden=(32,), level=0.0)
    clean_loss.load_state_dict(model.state_dict())
    torch.testing.assert_close(clean_loss.loss(x), model.energy(x).mean())  # level 0: no noise
    fit_model(model, model.loss, x, epochs=40, batch_size=64, lr=3e-3)
    noisy = x + 0.5 * torch.randn_like(x)
    with torch.no_grad():
        denoised_error = (model(noisy) - x).pow(2).sum(1).mean()
        noise_error = (noisy - x).pow(2).sum(1).mean()
        farther = float(model.energy(noisy).mean()) > float(model.energy(x).mean())
    assert float(denoised_error) < 0.5 * float(noise_error)
    assert farther  # off-manifold points have the higher energy


def test_errors_are_clear():
    with pytest.raises(ValueError, match="a bottleneck needs 1 <= code_dim < n_features"):
        BottleneckAutoencoder(4, 4)
    with pytest.raises(
        ValueError, match="unknown corruption 'blur'; valid choices: gaussian, mask"
    ):
        corrupt(torch.zeros(2), "blur")
    with pytest.raises(ValueError, match=r"mask probability must lie in \[0, 1\)"):
        DenoisingAutoencoder(4, 2, corruption="mask", level=1.0)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvSparseAutoencoder(1, 4, kernel_size=4)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, H, W\)"):
        ConvSparseAutoencoder(1, 4, kernel_size=3)(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"y must be a tensor of shape \(N, D\)"):
        SparseAutoencoder(4, 8).encode(torch.zeros(4))
