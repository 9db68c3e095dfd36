"""The energy protocol over every registry: latent models, methods and world models.

Each registered model must expose ``energy(y, x=None) -> (B,)`` (and, where its latent is
explicit, ``latent_energy(y, z, x=None)`` with ``latent_dim``), give finite energies of the
right shape, and be accepted by inference, free energies and samplers. The values are checked
against independent computations written here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal

from eblearn.energy import (
    DecoderLatentEnergy,
    Enumerate,
    FreeEnergy,
    GradientDescent,
    HasEnergy,
    HasLatentEnergy,
    as_energy,
    as_latent_energy,
    free_energy,
    infer_descent,
    infer_latent,
)
from eblearn.latent import (
    ICA,
    LATENT_MODELS,
    LISTA,
    PCA,
    VAE,
    VQVAE,
    BottleneckAutoencoder,
    ConditionalVAE,
    ContractiveAutoencoder,
    ConvSparseAutoencoder,
    DenoisingAutoencoder,
    DictionaryLearning,
    GaussianMixture,
    KMeans,
    MaskedAutoencoder,
    MultipleChoicePredictor,
    NoisyAutoencoder,
    RealNVP,
    SaturatingAutoencoder,
    SparseAutoencoder,
    SparseCoder,
    VisionTransformer,
    mlp_ebgan,
    mlp_vae,
    mlp_wgan_gp,
)
from eblearn.losses.barlow_twins import cross_correlation
from eblearn.losses.swav import sinkhorn
from eblearn.methods import METHODS, Method, build_method
from eblearn.nn import ConvNet
from eblearn.sampling import LangevinSampler
from eblearn.world import WORLD_MODELS, ForwardModel, PixelWorldModel

Data = tuple[object, torch.Tensor, torch.Tensor | None]


def clusters(n: int = 60, dim: int = 4, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Three tight clusters in ``dim`` dimensions (on a 2-D plane, so PCA has a subspace)."""
    generator = torch.Generator().manual_seed(0)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    plane = torch.linalg.qr(torch.randn(dim, 2, generator=generator))[0].T  # (2, D)
    points = centers[torch.arange(n) % 3] + 0.3 * torch.randn(n, 2, generator=generator)
    return (points @ plane).to(dtype)  # (N, D)


def laplace_mixtures(n: int = 200, dim: int = 4) -> torch.Tensor:
    """Full-rank mixtures of ``dim`` Laplace sources (ICA needs a non-singular covariance)."""
    generator = torch.Generator().manual_seed(2)
    sources = -torch.rand(n, dim, generator=generator).log() * torch.sign(
        torch.rand(n, dim, generator=generator) - 0.5
    )
    return (sources @ torch.randn(dim, dim, generator=generator)).double()


def _dictionary() -> torch.Tensor:
    return F.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)), dim=1)


# One place that says how to build (and cheaply fit) each registered model, with a batch of
# answers y and observations x. The tests check that it covers every registry entry.
LATENT_BUILDERS: dict[str, Callable[[], Data]] = {
    "pca": lambda: (PCA(2).fit(clusters()), clusters()[:8], None),
    "kmeans": lambda: (KMeans(3, random_state=0).fit(clusters()), clusters()[:8], None),
    "gmm": lambda: (
        GaussianMixture(3, random_state=0).fit(clusters()),
        clusters()[:8],
        None,
    ),
    "ica": lambda: (ICA(random_state=0).fit(laplace_mixtures()), laplace_mixtures()[:8], None),
    "sparse-coder": lambda: (
        SparseCoder(_dictionary().double(), alpha=0.1),
        clusters()[:8],
        None,
    ),
    "dictionary-learning": lambda: (
        DictionaryLearning(6, alpha=0.1, max_iter=5, random_state=0).fit(clusters()),
        clusters()[:8],
        None,
    ),
    "bottleneck-autoencoder": lambda: (
        BottleneckAutoencoder(4, 2, hidden=(8,)),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "sparse-autoencoder": lambda: (
        SparseAutoencoder(4, 6, lam=0.1),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "conv-sparse-autoencoder": lambda: (
        ConvSparseAutoencoder(1, 3, kernel_size=3),
        torch.randn(4, 1, 8, 8),
        None,
    ),
    "denoising-autoencoder": lambda: (
        DenoisingAutoencoder(4, 3, hidden=(8,)),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "masked-autoencoder": lambda: (
        MaskedAutoencoder(
            VisionTransformer(1, patch_size=4, dim=16, depth=1, heads=2),
            decoder_dim=8,
            decoder_depth=1,
            decoder_heads=2,
        ),
        torch.randn(3, 1, 8, 8),
        None,
    ),
    "lista": lambda: (
        LISTA(_dictionary(), lam=0.1, n_layers=3),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "vae": lambda: (
        mlp_vae(4, code_dim=2, hidden=(8,), likelihood="gaussian"),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "cvae": lambda: (
        ConditionalVAE(3, 4, code_dim=2, hidden=8),
        clusters(dtype=torch.float32)[:8],
        torch.randn(8, 3),
    ),
    "multiple-choice": lambda: (
        MultipleChoicePredictor(3, 4, hypotheses=3, hidden=8),
        clusters(dtype=torch.float32)[:8],
        torch.randn(8, 3),
    ),
    "vqvae": lambda: (
        VQVAE(4, n_codes=5, code_dim=2, n_positions=2, hidden=(8,)),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "contractive-autoencoder": lambda: (
        ContractiveAutoencoder(4, 3, lam=0.1),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "saturating-autoencoder": lambda: (
        SaturatingAutoencoder(4, 3, eta=0.1),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "noisy-autoencoder": lambda: (
        NoisyAutoencoder(4, 3, hidden=(8,)),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "flow": lambda: (
        RealNVP(4, n_layers=2, hidden=(8,)).fit(clusters(dtype=torch.float32), epochs=2),
        clusters(dtype=torch.float32)[:8],
        None,
    ),
    "ebgan": lambda: (mlp_ebgan(4, hidden=8, code_dim=2), clusters(dtype=torch.float32)[:8], None),
    "wgan-gp": lambda: (mlp_wgan_gp(4, hidden=8), clusters(dtype=torch.float32)[:8], None),
}

WORLD_BUILDERS: dict[str, Callable[[], Data]] = {
    "forward-model": lambda: (
        ForwardModel(3, 1, latent_dim=2, hidden_dims=(8,), penalty="norm"),
        torch.randn(5, 3),
        torch.randn(5, 4),  # x = [s, a]
    ),
    "pixel-world-model": lambda: (
        PixelWorldModel(pixels=16, action_dim=2, embedding_dim=4, width=4, hidden_dims=(8,)),
        torch.rand(3, 3, 1, 16, 16),  # y = frames o[0..2]
        torch.rand(3, 2, 2),  # x = actions a[0..1]
    ),
}

LATENT_ENERGIES = {
    "pca",
    "kmeans",
    "gmm",
    "sparse-coder",
    "dictionary-learning",
    "sparse-autoencoder",
    "lista",
    "vae",
    "cvae",
    "forward-model",
}
"""The models whose latent variable is explicit (``latent_energy`` + ``latent_dim``)."""

IMAGE_METHODS = [n for n in METHODS.names() if METHODS.get(n).modality == "images"]
TOKEN_METHODS = [n for n in METHODS.names() if METHODS.get(n).modality == "tokens"]
WAVEFORM_METHODS = [n for n in METHODS.names() if METHODS.get(n).modality == "waveforms"]

SMALL_METHOD_ARGS: dict[str, dict[str, object]] = {
    "barlowtwins": {"projector_dims": (16, 8)},
    "byol": {"projector_dims": (16, 8), "predictor_dims": (16, 8)},
    "dae": {"decoder_size": 16, "decoder_width": 8},
    "deepclusterv2": {"projector_dims": (16, 8), "num_prototypes": 5},
    "mae": {"dim": 16, "depth": 1, "heads": 2, "decoder_dim": 8, "decoder_depth": 1},
    "mocov2": {"projector_dims": (16, 8), "queue_size": 16},
    "mocov3": {"projector_dims": (16, 8), "predictor_dims": (16, 8)},
    "pirl": {"dim": 8, "patch_dim": 4, "num_negatives": 16},
    "siamese": {"projector_dims": (16, 8)},
    "simclr": {"projector_dims": (16, 8)},
    "simsiam": {"projector_dims": (16, 8), "predictor_hidden": 4},
    "swav": {"projector_dims": (16, 8), "num_prototypes": 5},
    "vicreg": {"projector_dims": (16, 8)},
}
"""Small hyper-parameters for every registered method (the test checks it covers METHODS)."""


def _method(name: str) -> Method:
    method = build_method(name, ConvNet(1, width=4), **SMALL_METHOD_ARGS[name])
    return method.eval()


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def _ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``-Σ_k target_k log softmax(logits)_k`` per row, written out."""
    log_z = logits.exp().sum(1).log()
    return -(target * (logits - log_z[:, None])).sum(1)


def _reference_pair(name: str, m, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each method's energy between views x and y, from its submodules (written independently)."""
    if name == "vicreg":
        return (m.projector(m.encoder(x)) - m.projector(m.encoder(y))).pow(2).sum(1)
    if name == "simclr":
        return -_cos(m.projector(m.encoder(x)), m.projector(m.encoder(y))) / m.loss.temperature
    if name == "mocov2":
        key = m.momentum_projector(m.momentum_encoder(y))
        return -_cos(m.projector(m.encoder(x)), key) / m.loss.temperature
    if name == "mocov3":
        key = m.momentum_projector(m.momentum_encoder(y))
        return -_cos(m.predictor(m.projector(m.encoder(x))), key) / m.loss.temperature
    if name == "byol":
        p = m.predictor(m.projector(m.encoder(x)))
        target = m.target_projector(m.target_encoder(y))
        return 2 - 2 * _cos(p, target)
    if name == "simsiam":
        return -_cos(m.predictor(m.projector(m.encoder(x))), m.projector(m.encoder(y)))
    if name == "siamese":
        a = m.projector(m.encoder(x))
        b = m.projector(m.encoder(y))
        return (a / a.norm(dim=1, keepdim=True) - b / b.norm(dim=1, keepdim=True)).norm(dim=1)
    if name == "barlowtwins":
        a, b = m.projector(m.encoder(x)), m.projector(m.encoder(y))

        def standard(z):
            return (z - z.mean(0)) / (z.var(0, unbiased=False) + m.loss.eps).sqrt()

        return 0.5 * (standard(a) - standard(b)).pow(2).sum(1)
    if name in ("swav", "deepclusterv2"):
        protos = m.prototypes.weight / m.prototypes.weight.norm(dim=1, keepdim=True)
        a, b = m.projector(m.encoder(x)), m.projector(m.encoder(y))
        sa = (a / a.norm(dim=1, keepdim=True)) @ protos.T
        sb = (b / b.norm(dim=1, keepdim=True)) @ protos.T
        tau = m.loss.temperature
        if name == "swav":
            eps, steps = m.loss.sinkhorn_epsilon, m.loss.sinkhorn_iterations
            qa, qb = sinkhorn(sa, eps, steps), sinkhorn(sb, eps, steps)
        else:
            qa, qb = F.one_hot(sa.argmax(1), 5).float(), F.one_hot(sb.argmax(1), 5).float()
        return 0.5 * (_ce(sa / tau, qb) + _ce(sb / tau, qa))
    if name == "pirl":
        cells = [y[:, :, 5 * r : 5 * r + 5, 5 * c : 5 * c + 5] for r in range(3) for c in range(3)]
        codes = torch.cat([m.patch_projector(m.encoder(cell)) for cell in cells], dim=1)
        return -_cos(m.projector(m.encoder(x)), m.jigsaw_projector(codes)) / m.loss.temperature
    if name == "dae":
        reconstruction = m.decoder(m.encoder(x), (16, 16))
        return (y - reconstruction).pow(2).flatten(1).sum(1)
    raise KeyError(name)  # mae: checked on its own below


IDENTICAL_VIEWS_ARE_LOWEST = {
    "vicreg": True,  # ||z - z'||² = 0
    "siamese": True,  # distance 0
    "barlowtwins": True,  # ẑ = ẑ'
    "simclr": True,  # cos = 1, the minimum of -cos/τ
    "mocov2": True,  # the momentum encoder is a copy at init: cos(q, k) = 1
    "byol": False,  # the predictor stands between the two branches
    "simsiam": False,
    "mocov3": False,
    "swav": False,  # cross-entropy to a sharpened assignment: no guaranteed order
    "deepclusterv2": False,
    "dae": False,  # an untrained decoder reconstructs nothing
    "mae": False,
    "pirl": False,  # the jigsaw branch g differs from the image branch f
}
"""Where the math says that, at init, identical views have the lowest energy."""


# -- the registries are covered ----------------------------------------------------------------


def test_the_tables_cover_every_registry():
    assert sorted(LATENT_BUILDERS) == LATENT_MODELS.names()
    assert sorted(WORLD_BUILDERS) == WORLD_MODELS.names()
    assert sorted(SMALL_METHOD_ARGS) == IMAGE_METHODS
    assert sorted(IDENTICAL_VIEWS_ARE_LOWEST) == IMAGE_METHODS
    assert sorted(IMAGE_METHODS + TOKEN_METHODS + WAVEFORM_METHODS) == METHODS.names()


def test_the_latent_registry_refuses_duplicates():
    with pytest.raises(ValueError, match=r"latent model 'pca' is already registered"):
        LATENT_MODELS.register("pca", PCA)


BUILDERS = {**LATENT_BUILDERS, **WORLD_BUILDERS}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_latent_and_world_model_exposes_the_protocol(name):
    model, y, x = BUILDERS[name]()
    assert isinstance(model, HasEnergy)
    energies = model.energy(y, x)
    assert energies.shape == (len(y),)
    assert torch.isfinite(energies).all()
    energy = as_energy(model)
    torch.testing.assert_close(energy(y, x), energies)
    if name in LATENT_ENERGIES:
        assert isinstance(model, HasLatentEnergy)
        z = torch.randn(len(y), model.latent_dim, dtype=y.dtype)
        values = as_latent_energy(model)(y, z, x)
        assert values.shape == (len(y),) and torch.isfinite(values).all()
    else:
        assert not isinstance(model, HasLatentEnergy)
    # the energy is differentiable in y (inference and samplers need ∇_y F)
    point = y.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.energy(point, x).sum(), point)
    assert torch.isfinite(grad).all() and bool(grad.abs().sum() > 0)


@pytest.mark.parametrize("name", ["pca", "kmeans", "gmm", "ica", "dictionary-learning"])
def test_after_a_fit_the_energy_is_lower_on_the_data_than_off_it(name):
    model, y, _ = LATENT_BUILDERS[name]()
    noisy = y + 2.0 * torch.randn(y.shape, generator=torch.Generator().manual_seed(3)).to(y)
    assert float(model.energy(y).mean()) < float(model.energy(noisy).mean())


def test_unconditional_models_refuse_x():
    model, y, _ = LATENT_BUILDERS["pca"]()
    with pytest.raises(ValueError, match=r"PCA has an unconditional energy F\(y\): x must be None"):
        model.energy(y, y)


# -- each family against an independent computation ------------------------------------------


def test_pca_energy_is_the_min_over_z_of_its_latent_energy():
    pca, y, _ = LATENT_BUILDERS["pca"]()
    reconstruction = pca.inverse_transform(pca.transform(y))
    torch.testing.assert_close(pca.energy(y), (y - reconstruction).pow(2).sum(1))
    descent = GradientDescent(steps=300, step_size=0.2)
    torch.testing.assert_close(free_energy(pca, y, method=descent), pca.energy(y))
    torch.testing.assert_close(infer_latent(pca, y, method=descent), pca.transform(y))


def test_kmeans_energy_is_the_distance_to_the_nearest_center():
    km, y, _ = LATENT_BUILDERS["kmeans"]()
    nearest = km.transform(y).min(1).values.pow(2)  # sklearn-style distances to each center
    torch.testing.assert_close(km.energy(y), nearest)
    one_hot = torch.eye(3, dtype=y.dtype)
    torch.testing.assert_close(free_energy(km, y, method=Enumerate(one_hot)), nearest)
    point = y.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(km.energy(point).sum(), point)
    torch.testing.assert_close(grad, 2 * (y - km.cluster_centers_[km.predict(y)]))


def test_gmm_energy_is_minus_the_log_density():
    gmm, y, _ = LATENT_BUILDERS["gmm"]()
    density = sum(
        float(w) * multivariate_normal(m.numpy(), c.numpy()).pdf(y.numpy())
        for w, m, c in zip(gmm.weights_, gmm.means_, gmm.covariances_)
    )
    np.testing.assert_allclose(gmm.energy(y).numpy(), -np.log(density), rtol=1e-9)
    one_hot = torch.eye(3, dtype=y.dtype)
    soft_min = free_energy(gmm, y, method=Enumerate(one_hot), beta=1.0)
    torch.testing.assert_close(soft_min, gmm.energy(y))


def test_sparse_coder_energy_is_the_lasso_objective_at_its_codes():
    coder, y, _ = LATENT_BUILDERS["sparse-coder"]()
    codes = coder.transform(y)
    dictionary = coder.components_
    objective = 0.5 * (y - codes @ dictionary).pow(2).sum(1) + 0.1 * codes.abs().sum(1)
    torch.testing.assert_close(coder.energy(y), objective)
    torch.testing.assert_close(coder.latent_energy(y, codes), objective)
    noise = torch.randn(codes.shape, generator=torch.Generator().manual_seed(2)).to(codes)
    for scale in (1e-3, 1e-1):
        assert bool((coder.latent_energy(y, codes + scale * noise) > objective - 1e-9).all())
    lista, y32, _ = LATENT_BUILDERS["lista"]()  # an amortized code is never below the minimum
    minimum = SparseCoder(lista.dictionary, alpha=0.1, tol=1e-8).energy(y32)
    assert bool((lista.energy(y32) >= minimum - 1e-5).all())


def test_vae_energy_is_the_negative_elbo_at_the_mean_code():
    vae, y, _ = LATENT_BUILDERS["vae"]()
    assert isinstance(vae, VAE)
    statistics = vae.encoder(y)
    mean, log_var = statistics[:, :2], statistics[:, 2:]
    decoded = vae.decoder(mean)
    nll = 0.5 * ((y - decoded).pow(2).sum(1) + 4 * math.log(2 * math.pi))  # σ = 1, D = 4
    kl = 0.5 * (mean.pow(2) + log_var.exp() - log_var - 1).sum(1)
    torch.testing.assert_close(vae.energy(y), nll + kl)
    z = torch.randn(len(y), 2)
    prior = 0.5 * (z.pow(2).sum(1) + 2 * math.log(2 * math.pi))
    expected = 0.5 * ((y - vae.decoder(z)).pow(2).sum(1) + 4 * math.log(2 * math.pi)) + prior
    torch.testing.assert_close(vae.latent_energy(y, z), expected)


def test_cvae_energy_needs_the_context_and_is_its_loss_at_the_mean_code():
    cvae, y, x = LATENT_BUILDERS["cvae"]()
    assert x is not None
    with pytest.raises(ValueError, match=r"conditional energy E\(x, y, z\): pass the context x"):
        cvae.energy(y)
    state = torch.relu(cvae.context(x))
    mean, log_var = cvae.posterior(torch.cat([state, y], 1)).chunk(2, dim=1)
    error = (cvae.decoder(torch.cat([state, mean], 1)) - y).pow(2).sum(1) / (2 * 0.1**2)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - log_var - 1).sum(1)
    torch.testing.assert_close(cvae.energy(y, x), error + kl)


def test_forward_model_energies_of_a_transition_and_a_trajectory():
    model, y, x = WORLD_BUILDERS["forward-model"]()
    assert isinstance(model, ForwardModel) and x is not None
    state, action = x[:, :3], x[:, 3:]
    code = model.infer_code(state, action, y)
    expected = (y - model(state, action, code)).pow(2).sum(1) + 0.5 * code.pow(2).sum(1)
    torch.testing.assert_close(model.energy(y, x), expected)
    states, actions = torch.randn(2, 4, 3), torch.randn(2, 3, 1)
    z = torch.randn(2, 3, 2)
    loop = sum(
        model.latent_energy(states[:, t + 1], z[:, t], torch.cat([states[:, t], actions[:, t]], 1))
        for t in range(3)
    )
    torch.testing.assert_close(model.trajectory_energy(states, actions, z), loop)
    with pytest.raises(ValueError, match=r"takes x = \[state, action\] of shape \(B, 3 \+ 1\)"):
        model.energy(y)


def test_a_deterministic_forward_model_is_minimized_at_its_prediction():
    model = ForwardModel(2, 1, hidden_dims=(8,))
    x = torch.randn(4, 3)
    result = infer_descent(model, torch.zeros(1, 2), x, steps=200, step_size=0.2)
    torch.testing.assert_close(result.best, model(x[:, :2], x[:, 2:]).detach(), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"ForwardModel has latent_dim=0"):
        as_latent_energy(model)


def test_pixel_world_model_energy_is_the_summed_prediction_error():
    model, frames, actions = WORLD_BUILDERS["pixel-world-model"]()
    assert actions is not None
    e = model.encoder(frames)
    first = model.predictor(e[:, 0], actions[:, 0])
    second = model.predictor(first, actions[:, 1])
    expected = (first - e[:, 1]).pow(2).sum(1) + (second - e[:, 2]).pow(2).sum(1)
    torch.testing.assert_close(model.energy(frames, actions), expected)


# -- methods: the energy between two views --------------------------------------------------


@pytest.fixture(params=IMAGE_METHODS)
def method_name(request) -> str:
    return request.param


@pytest.mark.parametrize("name", TOKEN_METHODS)
def test_token_methods_expose_the_energy_their_loss_shapes(name):
    """MLM: ``F(x, y) = -Σ_{i: x_i = [MASK]} log p(y_i | x)``, zero when nothing is masked;
    Collobert–Weston: ``F(y) = -s(y)``, the window's score."""
    from eblearn.data.tokenizers import MASK
    from eblearn.nn.sequence import TokenTransformer

    vocab, length = 12, 8
    method = build_method(name, TokenTransformer(vocab, length, dim=16, depth=1, heads=2)).eval()
    assert isinstance(method, HasEnergy) and not isinstance(method, HasLatentEnergy)
    y = torch.randint(3, vocab, (4, length), generator=torch.Generator().manual_seed(0))
    x = y.clone()
    x[:, 2] = MASK
    with torch.no_grad():
        energies = method.energy(y, x)
        assert energies.shape == (4,) and torch.isfinite(energies).all()
        if name == "mlm":
            log_p = torch.log_softmax(method.logits(x).float(), -1)  # (B, T, V)
            expected = -log_p[torch.arange(4), 2, y[:, 2]]
            torch.testing.assert_close(energies, expected)
            assert method.energy(y, y).abs().max() == 0  # no [MASK]: nothing scored
        else:
            torch.testing.assert_close(method.energy(y), -method.score(y))


def _speech_method(name: str):
    from eblearn.nn.audio import gru_audio_encoder, small_audio_encoder

    torch.manual_seed(0)
    if name == "wav2vec2":
        encoder = small_audio_encoder(dim=16, depth=1, heads=2, channels=8)
        return build_method(name, encoder, entries=8, code_dim=16, mask_span=3).eval()
    return build_method(name, gru_audio_encoder(dim=8, channels=8), steps=3).eval()


@pytest.mark.parametrize("name", WAVEFORM_METHODS)
def test_speech_methods_expose_the_energy_of_the_true_target(name):
    """wav2vec 2.0: per utterance, the mean over masked steps t of ``-cos(W c_t, q_t) / κ``;
    CPC: the mean over steps t and horizons k of ``-z_{t+k}ᵀ W_k c_t``; both by loops."""
    method = _speech_method(name)
    assert isinstance(method, HasEnergy) and not isinstance(method, HasLatentEnergy)
    y = torch.randn(3, 1600, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        energies = method.energy(y)
        assert energies.shape == (3,) and torch.isfinite(energies).all()
        torch.testing.assert_close(method.energy(y), energies)  # a fixed function of y
        expected = torch.zeros(3)
        if name == "wav2vec2":
            c, q, mask, _, _ = method._encode(y, None, torch.Generator().manual_seed(0))
            projected = method.project_context(c)
            kappa = method.loss.temperature
            for b in range(3):
                terms = [
                    -torch.dot(projected[b, t], q.codes[b, t])
                    / (projected[b, t].norm() * q.codes[b, t].norm())
                    / kappa
                    for t in range(c.shape[1])
                    if mask[b, t]
                ]
                expected[b] = torch.stack(terms).mean()
            assert bool((energies.abs() <= 1 / kappa + 1e-5).all())
        else:
            c, z, n = method._encode(y, None)
            for b in range(3):
                terms = [
                    -torch.dot(z[b, t + k], predictor.weight @ c[b, t])
                    for k, predictor in enumerate(method.loss.predictors, start=1)
                    for t in range(c.shape[1] - k)
                    if t + k < n[b]
                ]
                expected[b] = torch.stack(terms).mean()
        torch.testing.assert_close(energies, expected, rtol=1e-4, atol=1e-5)


def test_every_method_exposes_its_pair_energy(method_name):
    method = _method(method_name)
    assert isinstance(method, HasEnergy) and not isinstance(method, HasLatentEnergy)
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(4, 1, 16, 16, generator=generator)
    x = y + 0.1 * torch.randn(y.shape, generator=generator)
    energies = method.energy(y, x)
    assert energies.shape == (4,) and torch.isfinite(energies).all()
    with torch.no_grad():
        if method_name != "mae":
            torch.testing.assert_close(energies, _reference_pair(method_name, method, x, y))
        same = method.energy(y, y)
        other = method.energy(y, y.roll(1, dims=0))  # views of different images
    if IDENTICAL_VIEWS_ARE_LOWEST[method_name]:
        assert bool((same < other).all()), (same, other)
        assert bool((same <= energies + 1e-6).all())
    point = y.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(method.energy(point, x).sum(), point)
    assert torch.isfinite(grad).all() and bool(grad.abs().sum() > 0)
    # momentum / target branches equal the online ones at init: move them apart, so that the
    # value check tells which branch embeds which view
    with torch.no_grad():
        for name, parameter in method.named_parameters():
            if name.startswith(("momentum_", "target_")):
                parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
        if method_name != "mae":
            expected = _reference_pair(method_name, method, x, y)
            torch.testing.assert_close(method.energy(y, x), expected)


def test_barlow_twins_mean_energy_is_the_invariance_term():
    method = _method("barlowtwins")
    y = torch.randn(6, 1, 16, 16)
    x = torch.randn(6, 1, 16, 16)
    with torch.no_grad():
        a, b = method.projector(method.encoder(x)), method.projector(method.encoder(y))
        c = cross_correlation(a, b, method.loss.eps)
        v_a = a.var(0, unbiased=False) / (a.var(0, unbiased=False) + method.loss.eps)
        v_b = b.var(0, unbiased=False) / (b.var(0, unbiased=False) + method.loss.eps)
        expected = 0.5 * (v_a + v_b).sum() - c.diagonal().sum()
        torch.testing.assert_close(method.energy(y, x).mean(), expected)


def test_mae_energy_is_the_masked_error_under_a_fixed_mask():
    method = _method("mae")
    y = torch.randn(3, 1, 16, 16)
    torch.testing.assert_close(method.energy(y), method.energy(y))  # deterministic
    torch.testing.assert_close(method.energy(y, y), method.energy(y))


def test_two_view_methods_need_x():
    with pytest.raises(ValueError, match=r"VICReg.energy compares two views: pass x"):
        _method("vicreg").energy(torch.randn(2, 1, 16, 16))


# -- inference, free energies and samplers take any of them ---------------------------------


def test_inference_and_langevin_run_on_pca_gmm_and_a_method():
    pca, y, _ = LATENT_BUILDERS["pca"]()
    result = infer_descent(pca, y[:3], steps=100, step_size=0.2)
    assert float(pca.energy(result.best).max()) < 1e-8  # descended onto the principal plane
    gmm, y, _ = LATENT_BUILDERS["gmm"]()
    sampler = LangevinSampler(step_size=0.01, steps=20)
    samples = sampler(gmm, y, generator=torch.Generator().manual_seed(0))
    assert samples.shape == y.shape and torch.isfinite(samples).all()
    assert float(FreeEnergy(gmm, Enumerate(torch.eye(3, dtype=y.dtype)), beta=1.0)(y).mean()) < 10
    method = _method("vicreg")
    views = torch.randn(4, 1, 16, 16)
    start = views + torch.randn(views.shape)
    moved = LangevinSampler(step_size=0.05, steps=5, noise_scale=0.0)(method, start, views)
    with torch.no_grad():
        assert float(method.energy(moved, views).mean()) < float(method.energy(start, views).mean())


def test_unknown_objects_get_a_type_error_naming_the_method():
    with pytest.raises(TypeError, match=r"int does not expose an energy: it needs a method "):
        as_energy(3)
    with pytest.raises(TypeError, match=r"needs a method latent_energy\(y, z, x=None\)"):
        as_latent_energy(BottleneckAutoencoder(4, 2))
    with pytest.raises(TypeError, match=r"DecoderLatentEnergy is a latent energy .*FreeEnergy"):
        as_energy(DecoderLatentEnergy(2))
    with pytest.raises(TypeError, match=r"does not expose an energy"):
        LangevinSampler(steps=1)(object(), torch.zeros(2, 1))  # type: ignore[arg-type]


def test_a_model_energy_of_the_wrong_shape_is_reported_with_its_name():
    class Flat:
        def energy(self, y, x=None):
            return y.sum(1, keepdim=True)  # (B, 1), not (B,)

    with pytest.raises(ValueError, match=r"Flat.energy must return one energy per sample"):
        as_energy(Flat())(torch.zeros(3, 2))
