"""BYOL as a method: online network with predictor, EMA target network, no negatives."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from eblearn.losses.byol import BYOLLoss
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head
from eblearn.nn.momentum import cosine_momentum, ema_update, momentum_copy


@METHODS.register("byol")
class BYOL(Method):
    """BYOL: the online network predicts the target network's projection of the other view.

    Energy: ``F(x, x') = ||p̄ - z̄'||²`` between the normalized online prediction
    ``p = q(g(f(x)))`` and the normalized target projection ``z' = g_ξ(f_ξ(x'))``.
    Inference: none. Strategy: distillation (architectural, non-contrastive): the target
    weights ``ξ`` are an exponential moving average of the online weights with a momentum that
    rises from ``momentum`` to 1 on a cosine schedule over training, the target gets no
    gradient, and the predictor ``q`` makes the two branches asymmetric; no negatives.

    [0] Grill et al., BYOL, NeurIPS 2020, https://arxiv.org/abs/2006.07733

    Args:
        backbone: Online encoder ``f``.
        projector_dims: Hidden and output sizes of the projector ``g`` (paper: 4096, 256).
        predictor_dims: Hidden and output sizes of the predictor ``q`` (paper: 4096, 256).
        momentum: Initial target momentum τ_base (paper: 0.996).

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = BYOL(ConvNet(1, width=4), projector_dims=(16, 8), predictor_dims=(16, 8))
        >>> views = [torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)]
        >>> out = method(views)
        >>> z = [method.projector(method.encoder(v)) for v in views]  # the target: a copy, so far
        >>> p = [method.predictor(e) for e in z]
        >>> cos = torch.nn.functional.cosine_similarity
        >>> expected = (2 - 2 * cos(p[0], z[1])).mean() + (2 - 2 * cos(p[1], z[0])).mean()
        >>> torch.allclose(out["loss"], expected)
        True
    """

    batch_statistics = False

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (4096, 256),
        predictor_dims: Sequence[int] = (4096, 256),
        momentum: float = 0.996,
    ) -> None:
        super().__init__(backbone)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.predictor = projection_head(projector_dims[-1], predictor_dims)
        self.target_encoder = momentum_copy(backbone)
        self.target_projector = momentum_copy(self.projector)
        self.loss = BYOLLoss()
        self.base_momentum = momentum

    @torch.no_grad()
    def _targets(self, view: Tensor) -> Tensor:
        return self.target_projector(self.target_encoder(view))

    def embed(self, view: Tensor) -> Tensor:
        """The online prediction ``p = q(g(f(view)))``."""
        return self.predictor(self.projector(self.encoder(view)))

    def embed_target(self, view: Tensor) -> Tensor:
        """The target projection ``z' = g_ξ(f_ξ(view))`` (with a graph, unlike training's)."""
        return self.target_projector(self.target_encoder(view))

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``||p̄ - z̄'||² = 2 - 2 cos(p, z')`` between the normalized vectors."""
        return (F.normalize(z, dim=1) - F.normalize(z_target, dim=1)).pow(2).sum(1)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features_a, features_b = self.encoder(views[0]), self.encoder(views[1])  # (B, F)
        z_a, z_b = self.projector(features_a), self.projector(features_b)  # (B, D)
        p_a, p_b = self.predictor(z_a), self.predictor(z_b)
        loss = self.loss(p_a, p_b, self._targets(views[0]), self._targets(views[1]))
        return {"loss": loss, "features": features_a.detach(), "embeddings": z_a.detach()}

    def on_step_end(self, step: int, total_steps: int) -> None:
        momentum = cosine_momentum(step, total_steps, base=self.base_momentum)
        ema_update(self.target_encoder, self.encoder, momentum)
        ema_update(self.target_projector, self.projector, momentum)
