"""Siamese network trained with DrLIM pair losses: views of one image similar, others not."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn.losses.contrastive_pairs import DrLIMLoss
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head


@METHODS.register("siamese")
class Siamese(Method):
    """Siamese net (DrLIM): a distance energy pulled down on similar pairs, up on dissimilar ones.

    Energy: ``F(x₁, x₂) = ||G(x₁) - G(x₂)||``, the distance between the embeddings of the two
    members of a pair, ``G = g∘f`` shared by both. Inference: none. Strategy: contrastive,
    pair by pair, with a margin (:class:`~eblearn.losses.DrLIMLoss`): the two views of
    an image form a similar pair, and each first view paired with the second view of another
    image of the batch (a random cyclic shift) forms a dissimilar pair, so every step sees
    ``B`` pairs of each kind. Square-square stops pushing dissimilar pairs beyond the margin;
    square-exponential never stops.

    [0] Chopra, Hadsell, LeCun, Learning a Similarity Metric Discriminatively, CVPR 2005
    [1] Hadsell, Chopra, LeCun, Dimensionality Reduction by Learning an Invariant Mapping,
        CVPR 2006, https://doi.org/10.1109/CVPR.2006.100

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the head ``g`` layers.
        loss: ``"square-square"`` or ``"square-exponential"``.
        margin: Margin ``m`` of square-square.
        q: Energy bound ``Q`` of square-exponential.
        normalize: L2-normalize the embeddings, so distances lie in ``[0, 2]``.

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = Siamese(ConvNet(1, width=4), projector_dims=(16, 8))
        >>> out = method([torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)])
        >>> sorted(out)
        ['dissimilar', 'embeddings', 'features', 'loss', 'similar']
    """

    batch_statistics = False

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (512, 128),
        loss: str = "square-square",
        margin: float = 1.0,
        q: float = 2.0,
        normalize: bool = True,
    ) -> None:
        super().__init__(backbone)
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.loss = DrLIMLoss(loss, margin=margin, q=q)
        self.normalize = normalize

    def _embed(self, view: Tensor) -> tuple[Tensor, Tensor]:
        features = self.encoder(view)  # (B, F)
        z = self.projector(features)  # (B, D)
        return features, F.normalize(z, dim=1) if self.normalize else z

    def embed(self, view: Tensor) -> Tensor:
        """``G(view)``, normalized when ``normalize``."""
        return self._embed(view)[1]

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """The distance ``||G(x₁) - G(x₂)||`` (not squared, as DrLIM's energy)."""
        return torch.linalg.vector_norm(z - z_target, dim=1)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features_a, z_a = self._embed(views[0])
        _, z_b = self._embed(views[1])
        batch = len(z_a)
        shift = int(torch.randint(1, batch, ()))  # pairs (i, i + shift): different images
        z_other = z_b.roll(shift, dims=0)
        ones = torch.ones(batch, device=z_a.device)
        similar = self.loss(z_a, z_b, ones)
        dissimilar = self.loss(z_a, z_other, torch.zeros_like(ones))
        return {
            "loss": 0.5 * (similar + dissimilar),  # the mean over the 2B pairs
            "similar": 0.5 * similar.detach(),
            "dissimilar": 0.5 * dissimilar.detach(),
            "features": features_a.detach(),
            "embeddings": z_a.detach(),
        }
