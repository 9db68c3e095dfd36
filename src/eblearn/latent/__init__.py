"""Latent-variable models written as energies, with their free energies and inference.

Architectural (the volume of low energy is bounded by construction): :class:`PCA`,
:class:`KMeans`, :class:`GaussianMixture`, :class:`ICA` (a normalized density),
:class:`RealNVP` (a normalizing flow: an exactly normalized energy ``-log p(y)``),
:class:`BottleneckAutoencoder`, :class:`VQVAE`.
Regularized (a penalty limits it): sparse coding (:func:`ista`, :func:`fista`, :func:`admm`,
:class:`SparseCoder`, :class:`DictionaryLearning`), :class:`LISTA`,
:class:`SparseAutoencoder`, :class:`ConvSparseAutoencoder`, :class:`ContractiveAutoencoder`,
:class:`SaturatingAutoencoder`, :class:`NoisyAutoencoder`, :class:`VAE`,
:class:`ConditionalVAE` (with latent dropout).
Contrastive by corruption (off-manifold points are mapped back):
:class:`DenoisingAutoencoder`, :class:`MaskedAutoencoder`.

Every model of :data:`LATENT_MODELS` exposes the energy protocol of :mod:`eblearn.energy`:
``energy(y, x=None)`` (its free energy, ``z`` eliminated by its own inference) and, where the
latent variable is explicit, ``latent_energy(y, z, x=None)`` with ``latent_dim``.
"""

from eblearn.latent._estimator import NotFittedError
from eblearn.latent.autoencoders import (
    BottleneckAutoencoder,
    ConvSparseAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    corrupt,
)
from eblearn.latent.contractive import ContractiveAutoencoder, contraction_penalty
from eblearn.latent.cvae import (
    ConditionalVAE,
    DeterministicPredictor,
    best_of_k,
    drop_latent,
    flatten_frames,
    mode_coverage,
    single_outcome,
)
from eblearn.latent.dictionary import DictionaryLearning, update_atoms
from eblearn.latent.ebgan import (
    EBGAN,
    AutoencoderEnergy,
    ebgan_discriminator_loss,
    ebgan_generator_loss,
    mlp_ebgan,
)
from eblearn.latent.flow import (
    ActNorm,
    AffineCoupling,
    InvertibleLinear,
    RealNVP,
    alternating_mask,
)
from eblearn.latent.gan import GAN, fit_gan, mlp_generator
from eblearn.latent.gmm import GaussianMixture
from eblearn.latent.hard_thresholding import (
    HardThresholdCodes,
    hard_threshold,
    iterative_hard_thresholding,
    keep_largest,
    l0_energy,
)
from eblearn.latent.ica import ICA
from eblearn.latent.kmeans import KMeans, kmeans_plusplus
from eblearn.latent.lista import LISTA, iterations_to_reach, train_lista
from eblearn.latent.mae import MAEDecoder, MaskedAutoencoder, masked_autoencode, random_masking
from eblearn.latent.moving_shapes import BouncingBalls, bouncing_balls
from eblearn.latent.multiple_choice import MultipleChoicePredictor, relaxed_winner_take_all
from eblearn.latent.nets import ImageDecoder, mlp
from eblearn.latent.noisy import NoisyAutoencoder, project_to_ball
from eblearn.latent.pca import PCA
from eblearn.latent.saturating import (
    SaturatingAutoencoder,
    complementary_nonlinearity,
    saturating_activation,
)
from eblearn.latent.sparse_coding import (
    SparseCoder,
    SparseCodes,
    admm,
    fista,
    ista,
    lasso_duality_gap,
    soft_threshold,
    sparse_coding_energy,
)
from eblearn.latent.training import fit_model
from eblearn.latent.vae import VAE, gaussian_kl, mlp_vae, reparameterize
from eblearn.latent.vit import VisionTransformer, patchify, unpatchify
from eblearn.latent.vqvae import (
    VQVAE,
    codebook_usage,
    nearest_code,
    straight_through,
    vq_terms,
)
from eblearn.latent.wgan import WGANGP, mlp_wgan_gp, wgan_critic_loss
from eblearn.registry import Registry

LATENT_MODELS: Registry[type] = Registry("latent model")
"""The latent-variable model classes by name (they drive the energy-protocol contract test)."""
for _name, _model in (
    ("pca", PCA),
    ("kmeans", KMeans),
    ("gmm", GaussianMixture),
    ("ica", ICA),
    ("sparse-coder", SparseCoder),
    ("dictionary-learning", DictionaryLearning),
    ("bottleneck-autoencoder", BottleneckAutoencoder),
    ("sparse-autoencoder", SparseAutoencoder),
    ("conv-sparse-autoencoder", ConvSparseAutoencoder),
    ("denoising-autoencoder", DenoisingAutoencoder),
    ("masked-autoencoder", MaskedAutoencoder),
    ("lista", LISTA),
    ("vae", VAE),
    ("cvae", ConditionalVAE),
    ("multiple-choice", MultipleChoicePredictor),
    ("vqvae", VQVAE),
    ("contractive-autoencoder", ContractiveAutoencoder),
    ("saturating-autoencoder", SaturatingAutoencoder),
    ("noisy-autoencoder", NoisyAutoencoder),
    ("flow", RealNVP),
    ("ebgan", EBGAN),
    ("wgan-gp", WGANGP),
):
    LATENT_MODELS.register(_name, _model)

__all__ = [
    "EBGAN",
    "GAN",
    "ICA",
    "LATENT_MODELS",
    "LISTA",
    "PCA",
    "VAE",
    "VQVAE",
    "WGANGP",
    "ActNorm",
    "AffineCoupling",
    "AutoencoderEnergy",
    "BottleneckAutoencoder",
    "BouncingBalls",
    "ConditionalVAE",
    "ContractiveAutoencoder",
    "ConvSparseAutoencoder",
    "DenoisingAutoencoder",
    "DeterministicPredictor",
    "DictionaryLearning",
    "GaussianMixture",
    "HardThresholdCodes",
    "ImageDecoder",
    "InvertibleLinear",
    "KMeans",
    "MAEDecoder",
    "MaskedAutoencoder",
    "MultipleChoicePredictor",
    "NoisyAutoencoder",
    "NotFittedError",
    "RealNVP",
    "SaturatingAutoencoder",
    "SparseAutoencoder",
    "SparseCoder",
    "SparseCodes",
    "VisionTransformer",
    "admm",
    "alternating_mask",
    "best_of_k",
    "bouncing_balls",
    "codebook_usage",
    "complementary_nonlinearity",
    "contraction_penalty",
    "corrupt",
    "drop_latent",
    "ebgan_discriminator_loss",
    "ebgan_generator_loss",
    "fista",
    "fit_gan",
    "fit_model",
    "flatten_frames",
    "gaussian_kl",
    "hard_threshold",
    "ista",
    "iterations_to_reach",
    "iterative_hard_thresholding",
    "keep_largest",
    "kmeans_plusplus",
    "l0_energy",
    "lasso_duality_gap",
    "masked_autoencode",
    "mlp",
    "mlp_ebgan",
    "mlp_generator",
    "mlp_vae",
    "mlp_wgan_gp",
    "mode_coverage",
    "nearest_code",
    "patchify",
    "project_to_ball",
    "random_masking",
    "relaxed_winner_take_all",
    "reparameterize",
    "saturating_activation",
    "single_outcome",
    "soft_threshold",
    "sparse_coding_energy",
    "straight_through",
    "train_lista",
    "unpatchify",
    "update_atoms",
    "vq_terms",
    "wgan_critic_loss",
]
