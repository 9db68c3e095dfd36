"""DeepCluster-v2 as a method: k-means on last epoch's embeddings, predict each sample's cluster."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from eblearn._distributed import world_size
from eblearn.losses.deepcluster import DeepClusterLoss
from eblearn.losses.swav import sinkhorn
from eblearn.methods._views import encode_together
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head
from eblearn.nn.prototypes import Prototypes
from eblearn.nn.queues import MemoryBank


@torch.no_grad()
def spherical_kmeans(
    x: Tensor, k: int, iterations: int = 10, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """K-means on the unit sphere: assign by largest cosine, centroid = normalized mean.

    Minimizes ``Σ_n ||x̄_n - c_{k_n}||²`` over unit centroids ``c`` and assignments ``k_n``
    (equivalently maximizes the summed cosines), from ``k`` rows of ``x`` drawn at random
    (with replacement when ``N < k``); a cluster left empty keeps its centroid.

    Args:
        x: ``(N, D)`` points (normalized here).
        k: Number of clusters ``K``.
        iterations: Lloyd iterations.
        generator: Random generator (CPU) for the initial centroids.

    Returns:
        ``(centroids (K, D), assignments (N,))``.

    Example:
        >>> x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.1], [-1.0, -0.1]])
        >>> centroids, labels = spherical_kmeans(x, 2, generator=torch.Generator().manual_seed(1))
        >>> labels.tolist(), centroids.round(decimals=2).abs().tolist()
        ([0, 0, 1, 1], [[1.0, 0.0], [1.0, 0.0]])
    """
    x = F.normalize(x.float(), dim=1)
    n = len(x)
    start = (
        torch.randperm(n, generator=generator)[:k]
        if n >= k
        else torch.randint(n, (k,), generator=generator)
    )
    centroids = x[start.to(x.device)].clone()  # (K, D)
    for _ in range(iterations):
        labels = _nearest(x, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)  # (K, D)
        counts = torch.bincount(labels, minlength=k)
        centroids = torch.where(counts[:, None] > 0, F.normalize(sums, dim=1), centroids)
    return centroids, _nearest(x, centroids)


def _nearest(x: Tensor, centroids: Tensor, chunk: int = 8192) -> Tensor:
    return torch.cat([(part @ centroids.T).argmax(1) for part in x.split(chunk)])


@METHODS.register("deepclusterv2")
class DeepClusterV2(Method):
    """DeepCluster-v2: predict each sample's k-means cluster of last epoch's embeddings.

    Energy: ``F(x, k) = -log softmax(z̄ᵀc̄/τ)_k``, the cross-entropy between a view's cosines to
    the centroids ``c`` and the sample's cluster ``k``. Inference: spherical k-means on a
    memory bank holding every sample's embedding from the previous epoch, once per epoch (at
    its start); the centroids become the (fixed) prototypes and each sample's cluster its
    target. Strategy: clustering (quantization): embeddings are pulled to one of ``K``
    centroids that k-means re-estimates every epoch; before the first k-means (epoch 0) and for
    samples the bank has not seen, the targets are Sinkhorn's equipartitioned assignments to
    the current prototypes, as in SwAV, so no epoch starts from a collapsed partition.

    The method takes the batch's sample ``indices`` (``uses_indices``); without them (a
    plain call) every target comes from Sinkhorn.

    [0] Caron et al., SwAV paper, DeepCluster-v2 (appendix), NeurIPS 2020,
        https://arxiv.org/abs/2006.09882

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the projector layers (paper: 2048, 128).
        num_prototypes: ``K`` (paper: 3000 per head, 3 heads; one head here).
        temperature: τ (paper: 0.1).
        kmeans_iterations: Lloyd iterations per epoch (paper: 10).
        sinkhorn_epsilon, sinkhorn_iterations: Of the epoch-0 targets (SwAV's 0.05, 3).
        gather_distributed: The bank holds every process's embeddings (and so the same
            k-means runs everywhere); rank 0's clustering is broadcast.

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = DeepClusterV2(ConvNet(1, width=4), projector_dims=(16, 8), num_prototypes=4)
        >>> views = [torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)]
        >>> _ = method(views, indices=torch.arange(8)); method.on_step_end(1, 10)
        >>> method.on_epoch_start(1, 10)  # k-means on the 8 stored embeddings
        >>> method.bank.labels.shape, int(method.bank.labels.min()) >= 0
        (torch.Size([8]), True)
    """

    uses_indices = True
    kmeans_seed: Tensor

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (2048, 128),
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        kmeans_iterations: int = 10,
        sinkhorn_epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        if kmeans_iterations < 1:
            raise ValueError(f"kmeans_iterations must be >= 1, got {kmeans_iterations}")
        dim = projector_dims[-1]
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.prototypes = Prototypes(dim, num_prototypes)
        self.prototypes.weight.requires_grad_(False)  # the centroids: set by k-means only
        self.bank = MemoryBank(dim, momentum=0.0, gather_distributed=gather_distributed)
        self.loss = DeepClusterLoss(temperature)
        self.kmeans_iterations = kmeans_iterations
        self.sinkhorn_epsilon, self.sinkhorn_iterations = sinkhorn_epsilon, sinkhorn_iterations
        self.gather_distributed = gather_distributed
        self.register_buffer("kmeans_seed", torch.randint(2**31 - 1, ()))
        self._pending: tuple[Tensor, Tensor] | None = None

    def prepare(self, num_samples: int) -> None:
        self.bank.resize(num_samples)

    def on_epoch_start(self, epoch: int, total_epochs: int) -> None:
        filled = self.bank.filled.nonzero().flatten()
        if len(filled) == 0:
            return
        generator = torch.Generator().manual_seed(int(self.kmeans_seed) * 7919 + epoch)
        centroids, labels = spherical_kmeans(
            self.bank.features[filled],
            self.prototypes.num_prototypes,
            self.kmeans_iterations,
            generator,
        )
        self.prototypes.set_(centroids)
        self.bank.labels.fill_(-1)
        self.bank.labels[filled] = labels
        if self.gather_distributed and world_size() > 1:
            dist.broadcast(self.prototypes.weight.data, src=0)
            dist.broadcast(self.bank.labels, src=0)

    def _targets(self, scores: Tensor, indices: Tensor | None) -> Tensor:
        """``(B, K)`` targets: one-hot k-means clusters, Sinkhorn where there is none."""
        batch, k = scores.shape
        labels = torch.full((batch,), -1, dtype=torch.long, device=scores.device)
        if indices is not None:
            inside = indices < self.bank.size
            labels[inside] = self.bank.labels[indices[inside]].to(scores.device)
        known = labels >= 0
        targets = F.one_hot(labels.clamp(min=0), k).to(scores.dtype)
        if self.gather_distributed or not bool(known.all()):  # every process joins Sinkhorn
            soft = sinkhorn(
                scores, self.sinkhorn_epsilon, self.sinkhorn_iterations, self.gather_distributed
            )
            targets = torch.where(known[:, None], targets, soft)
        return targets

    def embed(self, view: Tensor) -> Tensor:
        """The normalized projection ``z̄ = g(f(view)) / ||g(f(view))||``."""
        return F.normalize(self.projector(self.encoder(view)), dim=1)

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``½ [-log softmax(z̄ᵀc̄/τ)_{k'} - log softmax(z̄'ᵀc̄/τ)_k]`` per sample.

        ``k`` is a view's cluster: its nearest centroid by cosine (the k-means assignment).
        """
        scores = self.prototypes(z, normalized=True) / self.loss.temperature  # (B, K)
        scores_target = self.prototypes(z_target, normalized=True) / self.loss.temperature
        cluster, cluster_target = scores.argmax(1), scores_target.argmax(1)
        return 0.5 * (
            F.cross_entropy(scores, cluster_target, reduction="none")
            + F.cross_entropy(scores_target, cluster, reduction="none")
        )

    def forward(self, views: Sequence[Tensor], indices: Tensor | None = None) -> dict[str, Tensor]:
        self.check_views(views)
        features = encode_together(self.encoder, views)  # V × (B, F)
        z = F.normalize(self.projector(torch.cat(features)), dim=1)  # (V·B, D)
        scores = list(self.prototypes(z, normalized=True).chunk(len(views)))  # V × (B, K)
        loss = self.loss(scores, self._targets(scores[0].detach(), indices))
        embeddings = z.chunk(len(views))
        if indices is not None:
            self._pending = (indices, embeddings[0].detach())
        return {
            "loss": loss,
            "features": features[0].detach(),
            "embeddings": embeddings[0].detach(),
        }

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self._pending is not None:
            self.bank.update(*self._pending)
            self._pending = None
