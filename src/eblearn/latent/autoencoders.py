"""Autoencoders as energies: the reconstruction error at an amortized code.

Each model has an encoder ``Enc`` (amortized inference: the code is computed, not searched),
a decoder ``Dec`` and an energy that is low where reconstruction is good. What keeps that
energy from being low everywhere differs:

- :class:`BottleneckAutoencoder`: architectural; a code smaller than the input.
- :class:`SparseAutoencoder`, :class:`ConvSparseAutoencoder`: regularized; an L1 penalty on
  an overcomplete code and a decoder with unit-norm atoms.
- :class:`DenoisingAutoencoder`: contrastive in the sense of [3]: corrupted points, off the
  data manifold, are mapped back onto it, so their reconstruction error grows with their
  distance to the data.

[0] Hinton, Salakhutdinov, Reducing the dimensionality of data with neural networks, 2006,
    https://doi.org/10.1126/science.1127647
[1] Kavukcuoglu, Ranzato, LeCun, Fast Inference in Sparse Coding Algorithms with
    Applications to Object Recognition (PSD), 2008, https://arxiv.org/abs/1010.3467
[2] Kavukcuoglu et al., Learning Convolutional Feature Hierarchies for Visual Recognition,
    NeurIPS 2010, https://papers.nips.cc/paper/4133
[3] Vincent, Larochelle, Bengio, Manzagol, Extracting and composing robust features with
    denoising autoencoders, ICML 2008, https://doi.org/10.1145/1390156.1390294
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn._validate import check_choice, check_ndim
from eblearn.energy.protocol import check_unconditional
from eblearn.latent.nets import mlp
from eblearn.latent.sparse_coding import soft_threshold, sparse_coding_energy

CORRUPTIONS = ("gaussian", "mask")


def corrupt(
    y: Tensor, kind: str = "gaussian", level: float = 0.3, generator: torch.Generator | None = None
) -> Tensor:
    """A corrupted copy of ``y``: additive Gaussian noise of std ``level``, or each entry
    zeroed with probability ``level`` (``"mask"``).

    Raises:
        ValueError: On an unknown ``kind`` or a ``level`` out of range.

    Example:
        >>> y = torch.ones(2, 1000)
        >>> zeroed = (corrupt(y, "mask", 0.25) == 0).float().mean()  # 2,000 draws: 0.25 ± 0.01
        >>> bool(abs(zeroed - 0.25) < 0.05)
        True
    """
    check_choice(kind, CORRUPTIONS, "corruption")
    if kind == "gaussian":
        if not level >= 0:
            raise ValueError(f"Gaussian noise level must be >= 0, got {level!r}")
        noise = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        return y + level * noise
    if not 0 <= level < 1:
        raise ValueError(f"mask probability must lie in [0, 1), got {level!r}")
    keep = torch.rand(y.shape, generator=generator, device=y.device) >= level
    return y * keep


class BottleneckAutoencoder(nn.Module):
    """A nonlinear autoencoder with a code smaller than its input.

    Energy: ``E(y) = ||y - Dec(Enc(y))||²``. Inference: amortized, ``z = Enc(y)``. Strategy:
    architectural; the ``K``-dimensional code (``K < D``) leaves at most a ``K``-dimensional
    manifold of zero energy [0].

    Args:
        n_features: Input size ``D``.
        code_dim: Code size ``K``, below ``D``.
        hidden: Hidden layer sizes of the encoder (the decoder mirrors them).

    Raises:
        ValueError: If ``code_dim`` is not below ``n_features``.

    Example:
        >>> ae = BottleneckAutoencoder(8, 2, hidden=(16,))
        >>> ae.energy(torch.zeros(3, 8)).shape
        torch.Size([3])
    """

    def __init__(self, n_features: int, code_dim: int, hidden: Sequence[int] = (128,)) -> None:
        super().__init__()
        if not 1 <= code_dim < n_features:
            raise ValueError(
                f"a bottleneck needs 1 <= code_dim < n_features, got {code_dim} and {n_features}"
            )
        self.encoder = mlp([n_features, *hidden, code_dim])
        self.decoder = mlp([code_dim, *reversed(hidden), n_features])

    def encode(self, y: Tensor) -> Tensor:
        """Codes ``(N, K)`` of ``y`` ``(N, D)``."""
        check_ndim(y, 2, "y", "(N, D)")
        return self.encoder(y)

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, D)``."""
        return self.decoder(self.encode(y))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``||y - Dec(Enc(y))||²`` per sample, ``(N,)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        return (y - self(y)).pow(2).sum(1)

    def loss(self, y: Tensor) -> Tensor:
        """Mean energy over the batch: the training loss."""
        return self.energy(y).mean()


class SparseAutoencoder(nn.Module):
    """A sparse autoencoder: a shrinkage encoder and a linear decoder with unit-norm atoms.

    Energy: ``E(y, z) = ½||y - z·W||² + λ||z||₁`` (the sparse coding energy) taken at the
    encoder's code ``z = Enc(y) = shrink(y·W_eᵀ + b, θ)``; this is predictive sparse
    decomposition [1] in its amortized limit (the code is the encoder's, not re-optimized).
    Inference: amortized. Strategy: regularized; the L1 term limits the volume of low energy,
    and the atoms ``W`` (rows, ``(K, D)``) are kept at unit norm by construction
    (``W = V / ||V||`` row-wise), so the penalty cannot be dodged by scaling.

    Args:
        n_features: Input size ``D``.
        n_components: Number of atoms ``K`` (may exceed ``D``: an overcomplete code).
        lam: Sparsity weight ``λ``.

    Example:
        >>> sae = SparseAutoencoder(8, 16, lam=0.1)
        >>> sae.atoms.norm(dim=1).allclose(torch.ones(16))
        True
    """

    def __init__(self, n_features: int, n_components: int, lam: float = 0.1) -> None:
        super().__init__()
        if n_features < 1 or n_components < 1:
            raise ValueError(
                f"n_features and n_components must be >= 1, got {n_features}, {n_components}"
            )
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        self.lam = lam
        self.raw_atoms = nn.Parameter(torch.randn(n_components, n_features))
        # Start as one ISTA step from zero on the initial atoms (as LISTA does):
        # W_e = W / L, θ = λ / L with L = ||WWᵀ||₂.
        self.encoder = nn.Linear(n_features, n_components)
        with torch.no_grad():
            atoms = F.normalize(self.raw_atoms, dim=1)
            step = 1.0 / float(torch.linalg.matrix_norm(atoms, ord=2) ** 2)
            self.encoder.weight.copy_(atoms * step)
            self.encoder.bias.zero_()
        self.threshold = nn.Parameter(torch.full((n_components,), lam * step))

    @property
    def atoms(self) -> Tensor:
        """The decoder's unit-norm atoms ``(K, D)``."""
        return F.normalize(self.raw_atoms, dim=1)

    def encode(self, y: Tensor) -> Tensor:
        """Sparse codes ``(N, K)``."""
        check_ndim(y, 2, "y", "(N, D)")
        return soft_threshold(self.encoder(y), self.threshold.abs())

    def decode(self, codes: Tensor) -> Tensor:
        """``z·W``, shape ``(N, D)``."""
        return codes @ self.atoms

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, D)``."""
        return self.decode(self.encode(y))

    @property
    def latent_dim(self) -> int:
        """``K``, the number of atoms: the size of the code ``z``."""
        return int(self.raw_atoms.shape[0])

    def latent_energy(self, y: Tensor, z: Tensor, x: Tensor | None = None) -> Tensor:
        """``E(y, z) = ½||y - z·W||² + λ||z||₁`` at any codes ``z`` ``(N, K)``, ``(N,)``."""
        check_unconditional(self, x)
        return sparse_coding_energy(y, z, self.atoms, self.lam)

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``½||y - z·W||² + λ||z||₁`` at ``z = Enc(y)``, shape ``(N,)``: an amortized upper
        bound on ``min_z E(y, z)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        codes = self.encode(y)
        return 0.5 * (y - self.decode(codes)).pow(2).sum(1) + self.lam * codes.abs().sum(1)

    def loss(self, y: Tensor) -> Tensor:
        """Mean energy over the batch."""
        return self.energy(y).mean()


class ConvSparseAutoencoder(nn.Module):
    """A convolutional sparse autoencoder: encoder filters, a linear convolutional decoder.

    Energy: ``E(y, z) = ½||y - Σ_k w_k * z_k||² + λ Σ_k ||z_k||₁`` with feature maps
    ``z_k = shrink(e_k * y + b_k, θ_k)`` (``*`` is 2-D convolution) and unit-norm decoder
    filters ``w_k`` [2]. Inference: amortized. Strategy: regularized (L1 on the maps, unit-norm
    filters). Convolution removes the shifted copies of each atom that a patch-based
    dictionary must learn.

    Args:
        in_channels: Image channels ``C``.
        n_filters: Feature maps ``K``.
        kernel_size: Side of the (odd) encoder and decoder filters.
        lam: Sparsity weight ``λ``.

    Example:
        >>> csae = ConvSparseAutoencoder(1, 4, kernel_size=5)
        >>> csae(torch.zeros(2, 1, 12, 12)).shape
        torch.Size([2, 1, 12, 12])
    """

    def __init__(
        self, in_channels: int = 1, n_filters: int = 16, kernel_size: int = 7, lam: float = 0.1
    ) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        self.lam = lam
        self.in_channels = in_channels
        self.padding = kernel_size // 2
        self.encoder = nn.Conv2d(in_channels, n_filters, kernel_size, padding=self.padding)
        self.threshold = nn.Parameter(torch.full((n_filters, 1, 1), 0.1 * max(lam, 1e-3)))
        self.raw_filters = nn.Parameter(
            torch.randn(in_channels, n_filters, kernel_size, kernel_size)
        )

    @property
    def filters(self) -> Tensor:
        """Decoder filters ``(C, K, k, k)``, each ``w_k`` (over ``C, k, k``) of unit norm."""
        norms = self.raw_filters.pow(2).sum((0, 2, 3), keepdim=True).sqrt()
        return self.raw_filters / norms.clamp_min(1e-12)

    def encode(self, images: Tensor) -> Tensor:
        """Sparse feature maps ``(B, K, H, W)`` of images ``(B, C, H, W)``."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images must have shape (B, {self.in_channels}, H, W), got {tuple(images.shape)}"
            )
        return soft_threshold(self.encoder(images), self.threshold.abs())

    def decode(self, maps: Tensor) -> Tensor:
        """``Σ_k w_k * z_k``, shape ``(B, C, H, W)``."""
        return F.conv2d(maps, self.filters, padding=self.padding)

    def forward(self, images: Tensor) -> Tensor:
        """Reconstructions ``(B, C, H, W)``."""
        return self.decode(self.encode(images))

    def energy(self, images: Tensor, x: Tensor | None = None) -> Tensor:
        """``½||y - Dec(z)||² + λ||z||₁`` at ``z = Enc(y)``, shape ``(B,)``; ``x`` must be
        ``None``."""
        check_unconditional(self, x)
        maps = self.encode(images)
        error = (images - self.decode(maps)).pow(2).flatten(1).sum(1)
        return 0.5 * error + self.lam * maps.abs().flatten(1).sum(1)

    def loss(self, images: Tensor) -> Tensor:
        """Mean energy over the batch."""
        return self.energy(images).mean()


class DenoisingAutoencoder(nn.Module):
    """A denoising autoencoder: reconstruct the clean input from a corrupted copy [3].

    Energy: ``E(y) = ||y - Dec(Enc(y))||²``. Inference: amortized. Strategy: contrastive (the
    "map off-manifold points onto the manifold" family of LeCun's taxonomy): training
    minimizes ``||y - Dec(Enc(ỹ))||²`` for corruptions ``ỹ`` of ``y``, so points off the data
    manifold are sent back to it and their energy grows with their distance from the data.

    Args:
        n_features: Input size ``D``.
        code_dim: Code size (need not be a bottleneck).
        hidden: Hidden layer sizes of the encoder (the decoder mirrors them).
        corruption: ``"gaussian"`` or ``"mask"``.
        level: Noise std, or masking probability.

    Example:
        >>> dae = DenoisingAutoencoder(8, 16, hidden=(32,))
        >>> dae.loss(torch.zeros(4, 8)).shape
        torch.Size([])
    """

    def __init__(
        self,
        n_features: int,
        code_dim: int,
        hidden: Sequence[int] = (128,),
        corruption: str = "gaussian",
        level: float = 0.3,
    ) -> None:
        super().__init__()
        check_choice(corruption, CORRUPTIONS, "corruption")
        corrupt(torch.zeros(1), corruption, level)  # checks the level
        self.corruption, self.level = corruption, level
        self.encoder = mlp([n_features, *hidden, code_dim])
        self.decoder = mlp([code_dim, *reversed(hidden), n_features])

    def forward(self, y: Tensor) -> Tensor:
        """Reconstructions ``(N, D)`` of ``y`` (no corruption)."""
        check_ndim(y, 2, "y", "(N, D)")
        return self.decoder(self.encoder(y))

    def energy(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """``||y - Dec(Enc(y))||²`` per sample, ``(N,)``; ``x`` must be ``None``."""
        check_unconditional(self, x)
        return (y - self(y)).pow(2).sum(1)

    def loss(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``mean ||y - Dec(Enc(ỹ))||²`` with ``ỹ`` a fresh corruption of ``y``."""
        noisy = corrupt(y, self.corruption, self.level, generator)
        return (y - self(noisy)).pow(2).sum(1).mean()
