"""SwAV as a method: prototypes, Sinkhorn assignments, swapped prediction, queue, multi-crop."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eblearn.losses.swav import SwAVLoss, sinkhorn
from eblearn.methods._views import encode_together
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head
from eblearn.nn.prototypes import Prototypes
from eblearn.nn.queues import FeatureQueue

NUM_ASSIGNED = 2
"""Views whose assignments are computed: the two large crops."""


@METHODS.register("swav")
class SwAV(Method):
    """SwAV: predict the equipartitioned prototype assignment of one view from another view.

    Energy: ``F(x, x') = -Σ_k q'_k log softmax(z̄ᵀc̄/τ)_k``, the cross-entropy between the
    prototype scores of one view and the soft cluster assignment ``q'`` of another.
    Inference: ``q'`` by Sinkhorn-Knopp on the scores of the batch (and of a queue of recent
    embeddings when the batch is small), under the constraint that every prototype receives an
    equal share. Strategy: clustering with an equipartition constraint (information
    maximization): the assignments cannot all fall into one prototype, so the embedding cannot
    collapse; no pairwise negatives. Trains on multi-crop views: the first two views are the
    large crops (their assignments are the targets), any further views are small crops that
    only predict.

    [0] Caron et al., SwAV, NeurIPS 2020, https://arxiv.org/abs/2006.09882

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the projector layers (paper: 2048, 128).
        num_prototypes: ``K`` (paper: 3000).
        temperature: τ (paper: 0.1).
        sinkhorn_iterations: Sinkhorn-Knopp iterations (paper: 3).
        sinkhorn_epsilon: ε (paper: 0.05).
        queue_size: Length of the queue of each large crop's past embeddings used in the
            Sinkhorn step; 0 for none (paper: 3840 when the batch is 256 or less).
        queue_start_epoch: First epoch the queue is used in (paper: 15).
        freeze_prototypes_steps: Steps during which the prototypes get no gradient (paper:
            the first epoch; 0 here, so that every parameter learns from the first step).
        gather_distributed: Sinkhorn normalizes over the batches of all processes (each
            process keeps its own queue, as the authors' code does).

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = SwAV(ConvNet(1, width=4), projector_dims=(16, 8), num_prototypes=10)
        >>> views = [torch.randn(8, 1, 16, 16)] * 2 + [torch.randn(8, 1, 8, 8)] * 4  # 2 + 4
        >>> loss = method(views)["loss"]
        >>> # one encoder call per crop size, then cosines to the prototypes, then SwAV's loss
        >>> features = [method.encoder(torch.cat(views[:2])), method.encoder(torch.cat(views[2:]))]
        >>> z = torch.nn.functional.normalize(method.projector(torch.cat(features)), dim=1)
        >>> scores = list(method.prototypes(z, normalized=True).chunk(6))  # 6 × (8, K)
        >>> from eblearn.losses import SwAVLoss
        >>> torch.allclose(loss, SwAVLoss()(scores, num_assigned=2))
        True
    """

    epoch: Tensor
    step: Tensor

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (2048, 128),
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        sinkhorn_iterations: int = 3,
        sinkhorn_epsilon: float = 0.05,
        queue_size: int = 0,
        queue_start_epoch: int = 15,
        freeze_prototypes_steps: int = 0,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        if queue_size < 0 or queue_start_epoch < 0 or freeze_prototypes_steps < 0:
            raise ValueError(
                "queue_size, queue_start_epoch and freeze_prototypes_steps must be >= 0, got "
                f"{queue_size}, {queue_start_epoch}, {freeze_prototypes_steps}"
            )
        dim = projector_dims[-1]
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.prototypes = Prototypes(dim, num_prototypes)
        self.loss = SwAVLoss(temperature, sinkhorn_iterations, sinkhorn_epsilon, gather_distributed)
        self.queues = nn.ModuleList(
            [FeatureQueue(queue_size, dim) for _ in range(NUM_ASSIGNED)] if queue_size else []
        )
        self.queue_start_epoch = queue_start_epoch
        self.freeze_prototypes_steps = freeze_prototypes_steps
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self._pending: list[Tensor] | None = None

    @classmethod
    def preferred_augmentation(cls, channels: int) -> str | None:
        return "multicrop"

    def _queues(self) -> list[FeatureQueue]:
        return [queue for queue in self.queues if isinstance(queue, FeatureQueue)]

    def _queue_scores(self) -> list[Tensor | None]:
        if not self.queues or int(self.epoch) < self.queue_start_epoch:
            return []
        with torch.no_grad():
            return [
                self.prototypes(q.features, normalized=True) if q.full else None
                for q in self._queues()
            ]

    def embed(self, view: Tensor) -> Tensor:
        """The normalized projection ``z̄ = g(f(view)) / ||g(f(view))||``."""
        return F.normalize(self.projector(self.encoder(view)), dim=1)

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """The swapped prediction of one pair: ``½ [H(q', p) + H(q, p')]`` per sample.

        ``p = softmax(z̄ᵀc̄/τ)`` are a view's predicted prototype probabilities, ``q`` its
        Sinkhorn assignment over the batch (no gradient, no queue, this process only) and
        ``H(q, p) = -Σ_k q_k log p_k``.
        """
        scores = self.prototypes(z, normalized=True)  # (B, K)
        scores_target = self.prototypes(z_target, normalized=True)
        loss = self.loss
        q = sinkhorn(scores, loss.sinkhorn_epsilon, loss.sinkhorn_iterations)
        q_target = sinkhorn(scores_target, loss.sinkhorn_epsilon, loss.sinkhorn_iterations)
        log_p = F.log_softmax(scores / loss.temperature, dim=1)
        log_p_target = F.log_softmax(scores_target / loss.temperature, dim=1)
        return -0.5 * ((q_target * log_p).sum(1) + (q * log_p_target).sum(1))

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features = encode_together(self.encoder, views)  # V × (B, F), one call per size
        z = F.normalize(self.projector(torch.cat(features)), dim=1)  # (V·B, D)
        frozen = int(self.step) < self.freeze_prototypes_steps
        scores = self.prototypes(z, frozen=frozen, normalized=True).chunk(len(views))  # V × (B, K)
        loss = self.loss(scores, NUM_ASSIGNED, self._queue_scores())
        embeddings = z.chunk(len(views))
        self._pending = [e.detach() for e in embeddings[:NUM_ASSIGNED]]
        return {
            "loss": loss,
            "features": features[0].detach(),
            "embeddings": embeddings[0].detach(),
        }

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.step.fill_(step)
        if self._pending is not None and self.queues:
            for queue, z in zip(self._queues(), self._pending):
                queue.push(z)
        self._pending = None

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        self.epoch.fill_(epoch)
