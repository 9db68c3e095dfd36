"""PIRL as a method: an image branch, a jigsaw branch and a memory bank of image memories."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.data.jigsaw import grid_patches, shuffle_patches
from eblearn.losses.pirl import PIRLLoss, estimate_log_normalizer
from eblearn.methods.base import METHODS, Method, cosine_energy
from eblearn.nn.backbones import Backbone
from eblearn.nn.queues import MemoryBank


@METHODS.register("pirl")
class PIRL(Method):
    """PIRL: a representation that does not change when the image is cut up and shuffled.

    Energy: ``F(x, x') = -cos(f(x), g(x'))/τ`` between the image representation
    ``f(v_I) = W_f f_θ(v_I)`` of one view and the jigsaw representation ``g(v_{I^t})`` of the
    other: ``v_{I^t}`` is cut into a 3×3 grid of patches, each patch is embedded by the same
    backbone ``f_θ`` and a linear map, the nine embeddings are concatenated and projected by
    a linear map to ``D`` (``energy`` keeps the patches in grid order; training shuffles them).
    Inference: none. Strategy: contrastive, noise-contrastive estimation against a memory
    bank [0]: ``L = λ L_NCE(m_I, g(v_{I^t})) + (1 - λ) L_NCE(m_I, f(v_I))``
    (:class:`~eblearn.losses.PIRLLoss`), where ``m_I`` is image ``I``'s entry in a
    :class:`~eblearn.nn.MemoryBank` (a momentum average of its past ``f(v_I)``, refreshed after
    each step) and the negatives are ``num_negatives`` entries of other images drawn from the
    bank. The NCE normalizer ``Z`` is estimated at every step from the drawn negatives
    (:func:`~eblearn.losses.pirl.estimate_log_normalizer`), as instance discrimination does
    once; the paper's eq. 3 leaves it at 1, which makes the loss grow with ``N``.

    The method takes the batch's sample ``indices`` (``uses_indices``). Where a sample's
    entry was never written, or without ``indices``, its memory is its current ``f(v_I)``
    (detached); while the bank holds no other image (the first steps, or without ``indices``)
    the negatives are the other images of the batch.

    Small images: the 3×3 grid needs patches of at least ``min_patch`` pixels (the ConvNet's
    two poolings need 4), so views must be at least ``3 · min_patch`` pixels; smaller views
    are refused with a ValueError. On the 8×8 digits, eblearn's views are resized to 16 px,
    which gives 5×5 patches (the last row and column of pixels are dropped).

    [0] Misra & van der Maaten, Self-Supervised Learning of Pretext-Invariant
        Representations, CVPR 2020, https://arxiv.org/abs/1912.01991

    Args:
        backbone: The encoder ``f_θ``, shared by whole images and patches.
        dim: Size ``D`` of the representations (paper: 128).
        patch_dim: Size of each patch's embedding before concatenation (paper: 128).
        temperature: ``τ`` (paper: 0.07).
        jigsaw_weight: ``λ`` (paper: 0.5).
        num_negatives: Negatives ``N`` drawn from the bank per step (paper: 32,000), at most
            the ``M`` entries of other images the bank holds.
        bank_momentum: Weight of the old entry in the bank's update (paper: 0.5).
        grid: Patches per side (paper: 3).
        min_patch: Smallest patch side accepted.
        gather_distributed: The bank holds every process's memories (and so the same bank).

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = PIRL(ConvNet(1, width=4), dim=8, patch_dim=4, num_negatives=16)
        >>> method.prepare(100)
        >>> views = [torch.randn(6, 1, 16, 16), torch.randn(6, 1, 16, 16)]
        >>> out = method(views, indices=torch.arange(6))
        >>> method.on_step_end(0, 10)
        >>> int(method.bank.filled.sum()), out["embeddings"].shape
        (6, torch.Size([6, 8]))
    """

    uses_indices = True

    def __init__(
        self,
        backbone: Backbone,
        dim: int = 128,
        patch_dim: int = 128,
        temperature: float = 0.07,
        jigsaw_weight: float = 0.5,
        num_negatives: int = 32000,
        bank_momentum: float = 0.5,
        grid: int = 3,
        min_patch: int = 4,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        for value, name in ((dim, "dim"), (patch_dim, "patch_dim"), (grid, "grid")):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
        self.projector = nn.Linear(backbone.feature_dim, dim)  # f: image representation
        self.patch_projector = nn.Linear(backbone.feature_dim, patch_dim)
        self.jigsaw_projector = nn.Linear(grid * grid * patch_dim, dim)  # g after concat
        self.bank = MemoryBank(dim, momentum=bank_momentum, gather_distributed=gather_distributed)
        self.loss = PIRLLoss(jigsaw_weight, temperature)
        self.num_negatives, self.grid, self.min_patch = num_negatives, grid, min_patch
        self._pending: tuple[Tensor, Tensor] | None = None

    def prepare(self, num_samples: int) -> None:
        self.bank.resize(num_samples)

    def jigsaw_embed(self, patches: Tensor) -> Tensor:
        """``g``: patches ``(B, P, C, h, w)`` in the given order to ``(B, D)``."""
        batch = patches.shape[0]
        features = self.encoder(patches.flatten(0, 1))  # (B·P, F)
        codes = self.patch_projector(features).view(batch, -1)  # (B, P·patch_dim)
        return self.jigsaw_projector(codes)

    def embed_target(self, view: Tensor) -> Tensor:
        """The jigsaw representation of ``view``'s patches in grid order."""
        return self.jigsaw_embed(grid_patches(view, self.grid, self.min_patch))

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``-cos(f(x), g(x'))/τ``."""
        return cosine_energy(z, z_target, self.loss.temperature)

    def _memories_and_negatives(
        self, image: Tensor, indices: Tensor | None
    ) -> tuple[Tensor, Tensor, int]:
        """``m_I (B, D)``, negatives ``(N, D)`` or ``(B, B - 1, D)``, and ``M``, the number of
        entries they were drawn from."""
        current = F.normalize(image.detach().float(), dim=1)  # (B, D)
        memory = current
        if indices is not None:
            inside = indices < self.bank.size
            known = torch.zeros_like(inside)
            known[inside] = self.bank.filled[indices[inside]]
            if bool(known.any()):
                stored = self.bank.features[indices.clamp(max=max(self.bank.size - 1, 0))]
                memory = torch.where(known[:, None], stored.to(current), current)
            others = self.bank.filled.clone()
            others[indices[inside]] = False
            candidates = int(others.sum())
            if candidates > 0:
                count = min(self.num_negatives, candidates)  # N <= M on small data sets
                negatives = self.bank.sample(count, exclude=indices)
                return memory, negatives.to(current), candidates
        batch = len(current)
        not_self = ~torch.eye(batch, dtype=torch.bool, device=current.device)
        others_in_batch = current.unsqueeze(0).expand(batch, -1, -1)[not_self]
        return memory, others_in_batch.view(batch, batch - 1, -1), batch - 1

    def forward(self, views: Sequence[Tensor], indices: Tensor | None = None) -> dict[str, Tensor]:
        self.check_views(views)
        patches = shuffle_patches(grid_patches(views[1], self.grid, self.min_patch))
        features = self.encoder(views[0])  # (B, F)
        image = self.projector(features)  # f(v_I), (B, D)
        jigsaw = self.jigsaw_embed(patches)  # g(v_{I^t}), (B, D)
        memory, negatives, population = self._memories_and_negatives(image, indices)
        count = negatives.shape[-2]  # N
        log_z = estimate_log_normalizer(image, negatives, population, self.loss.temperature)
        loss = self.loss(memory, jigsaw, image, negatives, count / population, log_z)
        if indices is not None:
            self._pending = (indices, image.detach().float())
        return {"loss": loss, "features": features.detach(), "embeddings": image.detach()}

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self._pending is not None:
            self.bank.update(*self._pending)
            self._pending = None
