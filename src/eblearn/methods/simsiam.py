"""SimSiam as a method: shared encoder, predictor and stop-gradient; no EMA, no negatives."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from eblearn.losses.simsiam import SimSiamLoss
from eblearn.methods.base import METHODS, Method, cosine_energy
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import MLPHead


@METHODS.register("simsiam")
class SimSiam(Method):
    """SimSiam: each view's prediction matches the other view's stopped-gradient embedding.

    Energy: ``F(x, x') = -cos(p, sg(z'))`` with ``z = g(f(x))`` and ``p = h(z)``.
    Inference: none. Strategy: distillation without a moving average (architectural): the
    stop-gradient on the target branch and the predictor ``h`` are what keep the embeddings
    from collapsing; with ``use_predictor=False`` they collapse (paper, section 4.1), which
    the engine's collapse metrics report.

    [0] Chen & He, Exploring Simple Siamese Representation Learning, CVPR 2021,
        https://arxiv.org/abs/2011.10566

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the projector ``g`` layers, batch-normalized including the
            output (paper: 2048, 2048, 2048).
        predictor_hidden: Bottleneck of the predictor ``h`` (paper: 512).
        use_predictor: Keep the predictor (set False to watch the embeddings collapse).
        output_batch_norm: Batch-normalize the projector's output (paper: yes). Batch
            normalization holds every output dimension's batch variance at 1, so without the
            predictor the collapse it allows is dimensional (the effective rank falls towards
            1); without it as well, the embeddings collapse to a single point.

    Example:
        >>> import torch
        >>> from eblearn.nn import ConvNet
        >>> method = SimSiam(ConvNet(1, width=4), projector_dims=(16, 8), predictor_hidden=4)
        >>> views = [torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)]
        >>> out = method(views)
        >>> z = [method.projector(method.encoder(v)) for v in views]
        >>> p = [method.predictor(e) for e in z]
        >>> cos = torch.nn.functional.cosine_similarity
        >>> expected = -(cos(p[0], z[1]).mean() + cos(p[1], z[0]).mean()) / 2
        >>> torch.allclose(out["loss"], expected)
        True
    """

    batch_statistics = False

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (2048, 2048, 2048),
        predictor_hidden: int = 512,
        use_predictor: bool = True,
        output_batch_norm: bool = True,
    ) -> None:
        super().__init__(backbone)
        if not projector_dims:
            raise ValueError("projector_dims needs at least the output size")
        dim = projector_dims[-1]
        self.projector = MLPHead(
            backbone.feature_dim, list(projector_dims[:-1]), dim, last_batch_norm=output_batch_norm
        )
        self.predictor: nn.Module = (
            MLPHead(dim, [predictor_hidden], dim) if use_predictor else nn.Identity()
        )
        self.loss = SimSiamLoss()

    def embed(self, view: Tensor) -> Tensor:
        """The prediction ``p = h(g(f(view)))``."""
        return self.predictor(self.projector(self.encoder(view)))

    def embed_target(self, view: Tensor) -> Tensor:
        """The projection ``z = g(f(view))`` (no stop-gradient in the energy)."""
        return self.projector(self.encoder(view))

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``-cos(p, z')``."""
        return cosine_energy(z, z_target)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features_a, features_b = self.encoder(views[0]), self.encoder(views[1])  # (B, F)
        z_a, z_b = self.projector(features_a), self.projector(features_b)  # (B, D)
        loss = self.loss(self.predictor(z_a), self.predictor(z_b), z_a, z_b)
        return {"loss": loss, "features": features_a.detach(), "embeddings": z_a.detach()}
