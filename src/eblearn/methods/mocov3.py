"""MoCo v3 as a method: symmetric InfoNCE against the batch's momentum keys, no queue."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from eblearn.losses.ntxent import MoCoLoss
from eblearn.methods.base import METHODS, Method, cosine_energy
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import MLPHead
from eblearn.nn.momentum import cosine_momentum, ema_update, momentum_copy


@METHODS.register("mocov3")
class MoCoV3(Method):
    """MoCo v3: predict the momentum encoder's key of the other view among the batch's keys.

    Energy: ``F(x, x') = -cos(q, k')/τ`` between the prediction ``q = h(g(f(x)))`` of one
    view and the key ``k' = g_ξ(f_ξ(x'))`` of the other, ``ξ`` an exponential moving average
    of ``θ`` with a momentum that rises from ``momentum`` to 1 on a cosine schedule.
    Inference: none. Strategy: contrastive, InfoNCE with the other keys of the (global) batch
    as negatives, in both directions: ``L = 2τ·[ctr(q_a, k_b) + ctr(q_b, k_a)]``, the ``2τ``
    factor of the authors' code.

    [0] Chen, Xie, He, An Empirical Study of Training Self-Supervised Vision Transformers,
        ICCV 2021, https://arxiv.org/abs/2104.02057

    Args:
        backbone: Encoder ``f``.
        projector_dims: Hidden and output sizes of the projector ``g`` (BN on every layer, the
            last without affine parameters; paper: 4096, 256).
        predictor_dims: Hidden and output sizes of the predictor ``h`` (paper: 4096, 256).
        temperature: τ (paper: 1.0 for ResNets, 0.2 for ViTs).
        momentum: Initial momentum (paper: 0.99, raised to 1 by a cosine schedule).
        gather_distributed: The keys of every process are negatives.

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = MoCoV3(ConvNet(1, width=4), projector_dims=(16, 8), predictor_dims=(16, 8))
        >>> out = method([torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)])
        >>> out["embeddings"].shape
        torch.Size([8, 8])
    """

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (4096, 256),
        predictor_dims: Sequence[int] = (4096, 256),
        temperature: float = 1.0,
        momentum: float = 0.99,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        if not projector_dims or not predictor_dims:
            raise ValueError("projector_dims and predictor_dims need at least the output size")
        self.projector = MLPHead(
            backbone.feature_dim,
            list(projector_dims[:-1]),
            projector_dims[-1],
            last_batch_norm=True,
        )
        self.predictor = MLPHead(projector_dims[-1], list(predictor_dims[:-1]), predictor_dims[-1])
        self.momentum_encoder = momentum_copy(backbone)
        self.momentum_projector = momentum_copy(self.projector)
        self.loss = MoCoLoss(
            temperature, batch_negatives=True, gather_distributed=gather_distributed
        )
        self.base_momentum = momentum

    @torch.no_grad()
    def _keys(self, view: Tensor) -> Tensor:
        return self.momentum_projector(self.momentum_encoder(view))

    def embed(self, view: Tensor) -> Tensor:
        """The prediction ``q = h(g(f(view)))``."""
        return self.predictor(self.projector(self.encoder(view)))

    def embed_target(self, view: Tensor) -> Tensor:
        """The key ``k = g_ξ(f_ξ(view))`` of the momentum encoder."""
        return self.momentum_projector(self.momentum_encoder(view))

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``-cos(q, k')/τ`` between the prediction of one view and the key of the other."""
        return cosine_energy(z, z_target, self.loss.temperature)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features_a, features_b = self.encoder(views[0]), self.encoder(views[1])  # (B, F)
        z_a = self.projector(features_a)  # (B, D)
        q_a, q_b = self.predictor(z_a), self.predictor(self.projector(features_b))
        k_a, k_b = self._keys(views[0]), self._keys(views[1])
        scale = 2.0 * self.loss.temperature
        loss = scale * (self.loss(q_a, k_b) + self.loss(q_b, k_a))
        return {"loss": loss, "features": features_a.detach(), "embeddings": z_a.detach()}

    def on_step_end(self, step: int, total_steps: int) -> None:
        momentum = cosine_momentum(step, total_steps, base=self.base_momentum)
        ema_update(self.momentum_encoder, self.encoder, momentum)
        ema_update(self.momentum_projector, self.projector, momentum)
