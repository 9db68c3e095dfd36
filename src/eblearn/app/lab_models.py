"""The lab's fitted models: latent-variable models fitted by their own estimator, then drawn.

``eblearn lab --model kmeans`` does not train an energy with a contrastive loss: it fits a
latent model of :data:`eblearn.latent.LATENT_MODELS` on the toy data with the model's own
algorithm (Lloyd, EM, an SVD, dictionary learning, Adam on a reconstruction loss, the
ELBO or the likelihood), then passes it through :func:`~eblearn.energy.as_energy` so that
the lab draws its energy ``F(y)``, its free energy ``F_β`` where the latent variable can be
enumerated, the Gibbs density otherwise, and Langevin / HMC chains on it. Each entry of
:data:`FITTED_MODELS` is one small class, like the samplers of
:mod:`eblearn.app.lab_samplers`.

    pca                     F(y) = ||ỹ - WᵀWỹ||²: zero on a whole line (unbounded volume)
    kmeans                  F(y) = min_k ||y - c_k||²: low only near the K centers
    gmm                     F(y) = -log Σ_k π_k N(y; μ_k, Σ_k): a soft minimum over K components
    ica                     F(y) = -log|det W| + Σ_i log cosh(w_iᵀ(y - μ)) + 2 log π: a normalized
                            density with independent super-Gaussian sources
    sparse-coder            F(y) = min_z ½||y - zW||² + α||z||₁ on K fixed unit atoms
    dictionary-learning     the same energy on K learned atoms
    bottleneck-autoencoder  F(y) = ||y - Dec(Enc(y))||² with a 1-D code, trained by Adam
    vae                     F(y) = -ELBO at the posterior mean, trained by Adam on the ELBO
    flow                    F(y) = -log p(y) of a RealNVP flow (K couplings), exactly normalized
    ebgan                   F(y) = ||y - Dec(Enc(y))||₂, trained against a generator G (margin
                            loss, pull-away term); G's samples drawn on the energy
    wgan-gp                 F(y) = -critic(y), trained against a generator G (Wasserstein gap
                            and gradient penalty); G's samples drawn on the energy

Left out: ``sparse-autoencoder``, ``denoising-autoencoder``, ``contractive-autoencoder``,
``saturating-autoencoder``, ``noisy-autoencoder``, ``vqvae`` (defined in 2-D but not yet wired
into the lab; the first two redundant here with sparse coding and the bottleneck),
``lista`` (needs a trained dictionary and codes to imitate), and the image or sequence models
``conv-sparse-autoencoder``,
``masked-autoencoder``, ``cvae`` and ``multiple-choice``, whose inputs are images or frames,
not 2-D points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from eblearn.energy import Energy, Enumerate, LatentEnergy, as_energy, as_latent_energy
from eblearn.latent import (
    EBGAN,
    GAN,
    ICA,
    PCA,
    WGANGP,
    AutoencoderEnergy,
    BottleneckAutoencoder,
    DictionaryLearning,
    GaussianMixture,
    KMeans,
    RealNVP,
    SparseCoder,
    fit_gan,
    fit_model,
    mlp_vae,
)
from eblearn.latent.nets import mlp
from eblearn.registry import Registry
from eblearn.sampling import GeneratorSampler

if TYPE_CHECKING:
    from eblearn.app.lab import LabConfig

SPARSITY = 0.5
"""``α`` of the sparse-coding models: the weight of ``||z||₁`` in their energy."""
VAE_SIGMA = 0.1
"""Standard deviation of the VAE's Gaussian decoder ``p(y|z) = N(Dec(z), σ²I)``."""
VAE_GRID = 64
"""Values of the VAE's 1-D code on ``[-4, 4]`` enumerated for its free energy ``F_β``."""
GAN_SAMPLES = 512
"""Points ``G(ξ)`` drawn from a fitted GAN's generator and shown over its energy."""
EBGAN_CODE = 2
"""Code size of the EBGAN's autoencoder energy (the pull-away term needs at least 2: the
cosine of two 1-D codes is ±1)."""


@dataclass
class FittedModel:
    """A latent model fitted on the lab's data, and what the lab draws of it.

    Attributes:
        model: The fitted estimator or network (it has ``energy(y, x=None)``).
        energy: ``as_energy(model)``, the energy ``F(y)`` drawn and sampled.
        latent: The latent energy ``E(y, z)`` and the enumeration of ``z`` of the free-energy
            figure ``F_β``, or ``None`` where ``z`` cannot be enumerated (then the lab draws
            the Gibbs density ``exp(-βF)/Z``).
        fit: What the fit produced, for ``results.json`` (plain numbers and lists).
        history: The fit's objective per iteration or epoch (``step``, ``loss``), drawn as
            ``curve.png``; ``None`` for a fit without one.
    """

    model: Any
    energy: Energy
    latent: tuple[LatentEnergy, Enumerate] | None
    fit: dict[str, Any]
    history: dict[str, list[float]] | None = None
    samples: Tensor | None = None
    """Points the model generates, ``(M, 2)`` (a GAN's ``G(ξ)``): its contrastive points,
    drawn over the energy; ``None`` for a model without a generator."""


class LabModel:
    """Base of the lab's fitted models: fits one latent model on the data ``y`` ``(N, 2)``.

    Class attributes say which options of ``eblearn lab`` the model takes; the lab refuses
    the others rather than ignoring them.
    """

    default_components = 1
    """``K`` when ``--components`` is not given."""
    min_components = 1
    """The smallest ``K`` the model takes."""
    max_components: int | None = None
    """The largest ``K`` that makes sense in 2-D (``None``: no bound but the data size)."""
    min_components = 1
    """The smallest ``K`` the model takes in 2-D (square ICA needs ``K = 2``)."""
    what = "component"
    """What ``K`` counts, for messages (``cluster``, ``atom``, ...)."""
    trains = False
    """Trained by Adam on its own loss: takes ``--steps``, ``--batch-size``, ``--lr``,
    ``--hidden``."""
    fitted_by = ""
    """How it is fitted, in a few words (for messages and ``results.json``)."""

    def components(self, config: LabConfig) -> int:
        """``K``: ``config.components``, or this model's default."""
        return self.default_components if config.components is None else config.components

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        raise NotImplementedError


FITTED_MODELS: Registry[type[LabModel]] = Registry("fitted model")
"""The lab's fitted ``--model`` choices (beside the trained ``mlp`` and ``latent``)."""


def _one_hot(k: int) -> Enumerate:
    """The ``K`` one-hot codes of a discrete latent variable, each of measure 1."""
    return Enumerate(torch.eye(k))


def _history(objective: list[float]) -> dict[str, list[float]]:
    """``curve.png``'s input: the fit's objective per iteration or epoch, numbered from 1."""
    return {"step": [float(i) for i in range(1, len(objective) + 1)], "loss": list(objective)}


def _adam_epochs(config: LabConfig, n: int) -> int:
    """Epochs of ``fit_model`` that make about ``config.steps`` Adam steps on ``n`` points."""
    return max(1, math.ceil(config.steps / math.ceil(n / config.batch_size)))


@FITTED_MODELS.register("pca")
class PCAModel(LabModel):
    """PCA: F(y) = ||ỹ - WᵀWỹ||², zero on the whole principal line (an unbounded valley)."""

    max_components = 2
    fitted_by = "an SVD (PCA)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        model = PCA(n_components=self.components(config)).fit(y)
        fit = {
            "directions": model.components_.tolist(),
            "mean": model.mean_.tolist(),
            "explained_variance_ratio": model.explained_variance_ratio_.tolist(),
        }
        return FittedModel(model, as_energy(model), None, fit)


@FITTED_MODELS.register("kmeans")
class KMeansModel(LabModel):
    """K-means: F(y) = min_k ||y - c_k||², low only near the K centers (Lloyd's algorithm)."""

    default_components = 8
    what = "cluster"
    fitted_by = "Lloyd's algorithm (K-means)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        k = self.components(config)
        model = KMeans(n_clusters=k, random_state=config.seed).fit(y)
        fit = {
            "centers": model.cluster_centers_.tolist(),
            "inertia": float(model.inertia_),
            "n_iter": int(model.n_iter_),
        }
        return FittedModel(model, as_energy(model), (as_latent_energy(model), _one_hot(k)), fit)


@FITTED_MODELS.register("gmm")
class GMMModel(LabModel):
    """Gaussian mixture (full covariances, EM): F(y) = -log p(y), a soft minimum over K."""

    default_components = 8
    fitted_by = "expectation-maximization (Gaussian mixture)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        k = self.components(config)
        model = GaussianMixture(n_components=k, covariance_type="full", random_state=config.seed)
        model.fit(y)
        state = vars(model)  # the fitted attributes, set by fit
        fit = {
            "means": model.means_.tolist(),
            "weights": model.weights_.tolist(),
            "lower_bound": float(state["lower_bound_"]),
            "converged": bool(state["converged_"]),
            "n_iter": int(state["n_iter_"]),
        }
        return FittedModel(model, as_energy(model), (as_latent_energy(model), _one_hot(k)), fit)


@FITTED_MODELS.register("ica")
class ICAModel(LabModel):
    """Square ICA: F(y) = -log p(y) with y = A s + μ and independent 1/cosh sources s."""

    default_components = 2
    max_components = 2
    min_components = 2
    what = "source"
    fitted_by = "natural-gradient maximum likelihood (ICA)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        model = ICA(n_components=self.components(config), random_state=config.seed).fit(y)
        fit = {
            "unmixing": model.components_.tolist(),
            "mixing": model.mixing_.tolist(),
            "mean": model.mean_.tolist(),
            "log_likelihood": float(model.log_likelihood_),
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
        }
        return FittedModel(model, as_energy(model), None, fit)


def unit_atoms(k: int) -> Tensor:
    """``K`` unit atoms ``(K, 2)`` at the angles ``π (k + ½) / K``, evenly over a half turn.

    Example:
        >>> unit_atoms(2)
        tensor([[ 0.7071,  0.7071],
                [-0.7071,  0.7071]])
    """
    angles = math.pi * (torch.arange(k) + 0.5) / k
    return torch.stack([angles.cos(), angles.sin()], dim=1)


@FITTED_MODELS.register("sparse-coder")
class SparseCoderModel(LabModel):
    """Sparse coding on K fixed unit atoms: F(y) = min_z ½||y - zW||² + α||z||₁ (ADMM)."""

    default_components = 4
    what = "atom"
    fitted_by = "nothing (a fixed dictionary; the codes come from ADMM)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        model = SparseCoder(unit_atoms(self.components(config)), alpha=SPARSITY).fit(y)
        fit = {"atoms": model.components_.tolist(), "alpha": SPARSITY}
        return FittedModel(model, as_energy(model), None, fit)


@FITTED_MODELS.register("dictionary-learning")
class DictionaryLearningModel(LabModel):
    """Dictionary learning: the sparse-coding energy on K atoms learned from the data."""

    default_components = 4
    what = "atom"
    fitted_by = "dictionary learning (alternating FISTA codes and atom updates)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        k = self.components(config)
        model = DictionaryLearning(
            n_components=k, alpha=SPARSITY, max_iter=50, random_state=config.seed
        ).fit(y)
        fit = {
            "atoms": model.components_.tolist(),
            "alpha": SPARSITY,
            "objective": model.error_[-1],
            "n_iter": int(model.n_iter_),
        }
        history = _history(model.error_)
        return FittedModel(model, as_energy(model), None, fit, history)


@FITTED_MODELS.register("bottleneck-autoencoder")
class BottleneckModel(LabModel):
    """Bottleneck autoencoder with a 1-D code: F(y) = ||y - Dec(Enc(y))||², trained by Adam."""

    max_components = 1
    what = "code dimension"
    trains = True
    fitted_by = "Adam on its reconstruction error (bottleneck autoencoder)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        model = BottleneckAutoencoder(2, self.components(config), hidden=config.hidden)
        losses = fit_model(
            model,
            model.loss,
            y,
            epochs=_adam_epochs(config, len(y)),
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
        )
        fit = {"loss": losses[-1], "epochs": len(losses)}
        history = _history(losses)
        return FittedModel(model, as_energy(model), None, fit, history)


@FITTED_MODELS.register("vae")
class VAEModel(LabModel):
    """VAE (Gaussian decoder): F(y) = -ELBO at the posterior mean, trained by Adam on the ELBO."""

    max_components = 2
    what = "code dimension"
    trains = True
    fitted_by = "Adam on the ELBO (VAE)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        k = self.components(config)
        model = mlp_vae(2, code_dim=k, hidden=config.hidden, likelihood="gaussian", sigma=VAE_SIGMA)
        losses = fit_model(
            model,
            lambda batch: model.loss(batch, generator=generator),
            y,
            epochs=_adam_epochs(config, len(y)),
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
        )
        latent = None
        if k == 1:  # a 1-D code: F_β = -1/β log ∫ exp(-β E(y, z)) dz by quadrature on [-4, 4]
            grid = torch.linspace(-4, 4, VAE_GRID)[:, None]
            latent = (as_latent_energy(model), Enumerate(grid, 8 / (VAE_GRID - 1)))
        fit = {"loss": losses[-1], "epochs": len(losses), "sigma": VAE_SIGMA}
        history = _history(losses)
        return FittedModel(model, as_energy(model), latent, fit, history)


@FITTED_MODELS.register("flow")
class FlowModel(LabModel):
    """RealNVP flow with K affine couplings: F(y) = -log p(y), trained by Adam on the NLL."""

    default_components = 8
    min_components = 2
    what = "coupling layer"
    trains = True
    fitted_by = "Adam on the negative log-likelihood (RealNVP flow)"

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        model = RealNVP(2, n_layers=self.components(config), hidden=config.hidden)
        model.fit(
            y,
            epochs=_adam_epochs(config, len(y)),
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
        )
        losses = model.history_
        fit = {"loss": losses[-1], "epochs": len(losses)}
        return FittedModel(model, as_energy(model), None, fit, _history(losses))


class GANModel(LabModel):
    """Base of the lab's GANs: an energy and its generator ``G`` trained against each other.

    :func:`~eblearn.latent.fit_gan` alternates the energy's updates (push the data down and
    ``G``'s points up) and ``G``'s (move its points to low energy), ``--steps`` generator
    updates of Adam at ``--lr`` on batches of ``--batch-size``; ``G`` maps noise
    ``ξ ~ N(0, I_K)`` through an MLP with the ``--hidden`` layers to the plane. The lab draws
    the energy with :data:`GAN_SAMPLES` generated points on top. Subclasses build the model
    (:meth:`build`) and name the records of the fit drawn as the data's and the contrastive
    points' energies (:attr:`curves`).
    """

    default_components = 2
    what = "noise dimension"
    trains = True
    curves: tuple[tuple[str, str], ...] = ()
    """Pairs (``fit_gan`` record key, ``curve.png`` key: ``data_energy``, ``negative_energy``)."""

    def generator(self, config: LabConfig) -> GeneratorSampler:
        """``G: ξ (B, K) ↦ ȳ (B, 2)``, an MLP with the ``--hidden`` layers."""
        k = self.components(config)
        return GeneratorSampler(mlp([k, *config.hidden, 2]), noise_dim=k)

    def build(self, config: LabConfig) -> GAN:
        """The untrained GAN."""
        raise NotImplementedError

    def __call__(self, config: LabConfig, y: Tensor, generator: torch.Generator) -> FittedModel:
        model = self.build(config)
        records = fit_gan(
            model,
            y,
            steps=config.steps,
            batch_size=min(config.batch_size, len(y)),
            lr=config.lr,
            seed=config.seed,
        )
        history = _history([r["d_loss"] for r in records])
        for record_key, key in self.curves:
            history[key] = [r[record_key] for r in records]
        samples = model.sample(GAN_SAMPLES, generator=generator)
        fit = {
            "loss": records[-1]["d_loss"],
            "generator_loss": records[-1]["g_loss"],
            "generator_steps": len(records),
            "discriminator_steps": model.discriminator_steps,
            "sample_mean": samples.mean(0).tolist(),
        }
        return FittedModel(model, as_energy(model), None, fit, history, samples)


@FITTED_MODELS.register("ebgan")
class EBGANModel(GANModel):
    """EBGAN: F(y) = ||y - Dec(Enc(y))||₂ (2-D code), margin m = 1 and pull-away term 0.1."""

    fitted_by = "alternating Adam against its generator (EBGAN: margin loss, pull-away term)"
    curves = (("d_real_energy", "data_energy"), ("d_fake_energy", "negative_energy"))

    def build(self, config: LabConfig) -> GAN:
        encoder = mlp([2, *config.hidden, EBGAN_CODE])
        decoder = mlp([EBGAN_CODE, *reversed(config.hidden), 2])
        return EBGAN(self.generator(config), AutoencoderEnergy(encoder, decoder))


@FITTED_MODELS.register("wgan-gp")
class WGANGPModel(GANModel):
    """WGAN-GP: F(y) = MLP(y), an unbounded critic energy; gradient penalty λ = 10, 5 critic
    updates per generator update."""

    fitted_by = "alternating Adam against its generator (WGAN-GP: Wasserstein gap, penalty)"

    def build(self, config: LabConfig) -> GAN:
        return WGANGP(self.generator(config), mlp([2, *config.hidden, 1]))
