"""Barlow Twins as a method: backbone, projector and the cross-correlation loss."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from eblearn._validate import check_batch_size
from eblearn.losses.barlow_twins import BarlowTwinsLoss, standardize
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head


@METHODS.register("barlowtwins")
class BarlowTwins(Method):
    """Barlow Twins: each dimension correlated across the two views, dimensions decorrelated.

    Energy: ``F(x, x') = Σ_i (1 - C_ii)²`` on the batch cross-correlation ``C`` of the
    projections ``z = g(f(x))``. Inference: none. Strategy: information maximization
    (regularized, non-contrastive): the redundancy-reduction term ``λ Σ_{i≠j} C_ij²``
    decorrelates the dimensions, which forbids collapse without negative pairs.

    [0] Zbontar et al., Barlow Twins, ICML 2021, https://arxiv.org/abs/2103.03230

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the projector ``g`` layers (paper: 8192, 8192, 8192).
        lambda_param: Off-diagonal weight λ (paper: 5e-3).
        gather_distributed: Correlate over the batches of all processes.

    Example:
        >>> import torch
        >>> from eblearn.nn import ConvNet
        >>> method = BarlowTwins(ConvNet(1, width=4), projector_dims=(32, 32))
        >>> views = [torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)]
        >>> out = method(views)
        >>> a, b = (method.projector(method.encoder(v)) for v in views)
        >>> a, b = ((e - e.mean(0)) / e.std(0, unbiased=False) for e in (a, b))
        >>> c = a.T @ b / 8  # the (D, D) cross-correlation
        >>> off_diagonal = c.pow(2).sum() - c.diagonal().pow(2).sum()
        >>> expected = (1 - c.diagonal()).pow(2).sum() + 5e-3 * off_diagonal
        >>> torch.allclose(out["loss"], expected, rtol=1e-4)
        True
    """

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (8192, 8192, 8192),
        lambda_param: float = 5e-3,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.loss = BarlowTwinsLoss(lambda_param, gather_distributed=gather_distributed)

    def pair_energy(self, z: Tensor, z_target: Tensor) -> Tensor:
        """``½||ẑ - ẑ'||²`` on the projections standardized over the batch (as the loss).

        Its batch mean is ``Σ_i (v_i + v'_i)/2 - Σ_i C_ii`` (``v_i = var/(var + ε) ≈ 1``), that
        is ``Σ_i (1 - C_ii)``: the invariance term, spread over the samples (not squared).
        Needs ``B >= 2``.
        """
        check_batch_size(z, 2, "BarlowTwins.energy", "it standardizes over the batch")
        eps = self.loss.eps
        return 0.5 * (standardize(z, eps) - standardize(z_target, eps)).pow(2).sum(1)

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features_a, features_b = self.encoder(views[0]), self.encoder(views[1])  # (B, F)
        z_a, z_b = self.projector(features_a), self.projector(features_b)  # (B, D)
        loss = self.loss(z_a, z_b)
        return {"loss": loss, "features": features_a.detach(), "embeddings": z_a.detach()}
