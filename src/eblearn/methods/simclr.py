"""SimCLR as a method: backbone, projector and NT-Xent, with optional queue or memory bank."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from eblearn._validate import check_choice
from eblearn.losses.ntxent import NTXentLoss
from eblearn.methods.base import METHODS, Method, cosine_energy
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head
from eblearn.nn.queues import FeatureQueue, MemoryBank

MEMORIES = ("none", "queue", "bank")


@METHODS.register("simclr")
class SimCLR(Method):
    """SimCLR: contrast each view with the other view of its image against all other views.

    Energy: ``F(x, x') = -cos(z, z')/τ`` between the projections ``z = g(f(x))`` of two views.
    Inference: none, the embedding is computed. Strategy: contrastive, InfoNCE / NT-Xent over
    the ``2B`` views of a batch (:class:`~eblearn.losses.NTXentLoss`): the positive pair's
    energy is pushed down, the energies of the ``2B - 2`` other views pushed up. Optionally
    more negatives come from a FIFO queue of past embeddings (``memory="queue"``) or from a
    PIRL/InstDisc memory bank of one momentum-averaged embedding per training image
    (``memory="bank"``: ``memory_size`` negatives drawn at random each step).

    [0] Chen et al., SimCLR, ICML 2020, https://arxiv.org/abs/2002.05709
    [1] Misra & van der Maaten, PIRL, CVPR 2020, https://arxiv.org/abs/1912.01991

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the projector ``g`` layers (BN-ReLU between; paper: 2048,
            128 with a ResNet-50).
        temperature: τ (paper: 0.5 on CIFAR-10).
        memory: ``"none"``, ``"queue"`` or ``"bank"``: where extra negatives come from.
        memory_size: Queue length, or negatives drawn from the bank per step.
        memory_momentum: Momentum of the bank's entries (PIRL: 0.5).
        gather_distributed: Negatives from every process's batch; queue and bank updated with
            every process's embeddings.

    Raises:
        ValueError: On an unknown ``memory`` or a non-positive ``memory_size``.

    Example:
        >>> import torch
        >>> from eblearn.nn import ConvNet
        >>> method = SimCLR(ConvNet(1, width=4), projector_dims=(32, 16))
        >>> out = method([torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)])
        >>> sorted(out)
        ['embeddings', 'features', 'loss']
    """

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (2048, 128),
        temperature: float = 0.5,
        memory: str = "none",
        memory_size: int = 4096,
        memory_momentum: float = 0.5,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        check_choice(memory, MEMORIES, "memory")
        if memory_size < 1:
            raise ValueError(f"memory_size must be >= 1, got {memory_size}")
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.loss = NTXentLoss(temperature, gather_distributed=gather_distributed)
        dim = projector_dims[-1]
        self.memory, self.memory_size = memory, memory_size
        self.queue = (
            FeatureQueue(memory_size, dim, gather_distributed=gather_distributed)
            if memory == "queue"
            else None
        )
        self.bank = (
            MemoryBank(dim, momentum=memory_momentum, gather_distributed=gather_distributed)
            if memory == "bank"
            else None
        )
        self.uses_indices = memory == "bank"
        self._pending: tuple[Tensor, Tensor | None] | None = None

    def prepare(self, num_samples: int) -> None:
        if self.bank is not None:
            self.bank.resize(num_samples)

    def _negatives(self, indices: Tensor | None) -> Tensor | None:
        if self.queue is not None and int(self.queue.count) > 0:
            return self.queue.get()
        if self.bank is not None and indices is not None:
            drawn = self.bank.sample(self.memory_size, exclude=indices)
            return drawn if len(drawn) else None
        return None

    def forward(self, views: Sequence[Tensor], indices: Tensor | None = None) -> dict[str, Tensor]:
        self.check_views(views)
        # One call per view: on CPUs two batches of B are cheaper than one of 2B (cache).
        features_a, features_b = self.encoder(views[0]), self.encoder(views[1])  # (B, F)
        z_a, z_b = self.projector(features_a), self.projector(features_b)  # (B, D)
        loss = self.loss(z_a, z_b, self._negatives(indices))
        self._pending = (z_a.detach(), indices)
        return {"loss": loss, "features": features_a.detach(), "embeddings": z_a.detach()}

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``-cos(z, z')/τ`` between the projections of the two views."""
        return cosine_energy(z, z_target, self.loss.temperature)

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self._pending is None:
            return
        z, indices = self._pending
        if self.queue is not None:
            self.queue.push(z)
        if self.bank is not None and indices is not None:
            self.bank.update(indices, z)
        self._pending = None
