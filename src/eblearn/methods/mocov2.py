"""MoCo v2 as a method: query encoder, momentum key encoder and a queue of negative keys."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from eblearn.losses.ntxent import MoCoLoss
from eblearn.methods.base import METHODS, Method, cosine_energy
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import MLPHead
from eblearn.nn.momentum import ema_update, momentum_copy
from eblearn.nn.queues import FeatureQueue


@METHODS.register("mocov2")
class MoCoV2(Method):
    """MoCo v2: match a query to its key among a large queue of past keys.

    Energy: ``F(x, x') = -cos(q, k')/τ`` between the query ``q = g(f(x))`` of one view and the
    key ``k' = g_ξ(f_ξ(x'))`` of the other, computed by a momentum encoder whose weights are
    an exponential moving average of the query encoder's (``ξ ← m ξ + (1 - m) θ``).
    Inference: none. Strategy: contrastive, InfoNCE against a FIFO queue of the keys of the
    last ``queue_size`` images (:class:`~eblearn.nn.FeatureQueue`): many negatives without a
    large batch, kept consistent by the slowly moving key encoder.

    [0] He et al., MoCo, CVPR 2020, https://arxiv.org/abs/1911.05722
    [1] Chen, Fan, Girshick, He, MoCo v2, 2020, https://arxiv.org/abs/2003.04297

    Args:
        backbone: Query encoder ``f``.
        projector_dims: Hidden and output sizes of the MLP head ``g`` (no batch norm; paper:
            2048, 128).
        temperature: τ (paper: 0.2).
        queue_size: Number of negative keys (paper: 65536); the queue starts with random unit
            vectors.
        momentum: ``m`` of the key encoder (paper: 0.999).
        symmetric: Also use the second view as query (the "MoCo v2+" variant): twice the
            keys per step.
        gather_distributed: Push the keys of every process, so all processes hold one queue.

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = MoCoV2(ConvNet(1, width=4), projector_dims=(16, 8), queue_size=32)
        >>> out = method([torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)])
        >>> method.on_step_end(1, 10)
        >>> int(method.queue.pointer)  # the 8 keys entered the queue
        8
    """

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (2048, 128),
        temperature: float = 0.2,
        queue_size: int = 65536,
        momentum: float = 0.999,
        symmetric: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        if len(projector_dims) < 1:
            raise ValueError("projector_dims needs at least the output size")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.projector = MLPHead(
            backbone.feature_dim, list(projector_dims[:-1]), projector_dims[-1], batch_norm=False
        )
        self.momentum_encoder = momentum_copy(backbone)
        self.momentum_projector = momentum_copy(self.projector)
        self.queue = FeatureQueue(
            queue_size, projector_dims[-1], random_init=True, gather_distributed=gather_distributed
        )
        self.loss = MoCoLoss(temperature)
        self.momentum, self.symmetric = momentum, symmetric
        self._pending: Tensor | None = None

    @torch.no_grad()
    def _keys(self, view: Tensor) -> Tensor:
        return self.momentum_projector(self.momentum_encoder(view))

    def embed_target(self, view: Tensor) -> Tensor:
        """The key ``k = g_ξ(f_ξ(view))`` of the momentum encoder."""
        return self.momentum_projector(self.momentum_encoder(view))

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``-cos(q, k')/τ`` between the query of one view and the key of the other."""
        return cosine_energy(z, z_target, self.loss.temperature)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        negatives = self.queue.get()  # (K, D), before this step's keys enter
        features_a = self.encoder(views[0])  # (B, F)
        q_a = self.projector(features_a)  # (B, D)
        k_b = self._keys(views[1])
        if self.symmetric:
            q_b, k_a = self.projector(self.encoder(views[1])), self._keys(views[0])
            loss = 0.5 * (self.loss(q_a, k_b, negatives) + self.loss(q_b, k_a, negatives))
            self._pending = torch.cat([k_b, k_a])
        else:
            loss = self.loss(q_a, k_b, negatives)
            self._pending = k_b
        return {"loss": loss, "features": features_a.detach(), "embeddings": q_a.detach()}

    def on_step_end(self, step: int, total_steps: int) -> None:
        ema_update(self.momentum_encoder, self.encoder, self.momentum)
        ema_update(self.momentum_projector, self.projector, self.momentum)
        if self._pending is not None:
            self.queue.push(self._pending)
            self._pending = None
