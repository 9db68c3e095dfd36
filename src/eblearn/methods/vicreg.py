"""VICReg as a method: backbone, expander and :class:`~eblearn.losses.VICRegLoss`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from eblearn.losses.vicreg import VICRegLoss
from eblearn.methods.base import METHODS, Method
from eblearn.nn.backbones import Backbone
from eblearn.nn.heads import projection_head


@METHODS.register("vicreg")
class VICReg(Method):
    """VICReg: invariance plus variance and covariance regularization of the embeddings.

    Energy: ``F(x, x') = ||z - z'||²`` between the expanded embeddings ``z = h(f(x))`` of two
    views. Inference: none, the embedding is computed. Strategy: regularized (non-contrastive):
    the variance hinge and the covariance penalty limit the volume of low-energy space.

    [0] Bardes, Ponce, LeCun, VICReg, ICLR 2022, https://arxiv.org/abs/2105.04906

    Args:
        backbone: Encoder ``f``.
        projector_dims: Sizes of the expander ``h`` layers (paper: 8192-8192-8192 on ImageNet).
        lambda_param, mu_param, nu_param: Invariance, variance, covariance weights (25, 25, 1).
        gather_distributed: Variance and covariance over all processes' batches.

    Example:
        >>> from eblearn.nn import ConvNet
        >>> method = VICReg(ConvNet(1, width=4), projector_dims=(32, 32))
        >>> out = method([torch.randn(8, 1, 16, 16), torch.randn(8, 1, 16, 16)])
        >>> sorted(out)
        ['covariance', 'embeddings', 'features', 'invariance', 'loss', 'variance']
    """

    def __init__(
        self,
        backbone: Backbone,
        projector_dims: Sequence[int] = (2048, 2048, 2048),
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float = 1.0,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__(backbone)
        self.projector = projection_head(backbone.feature_dim, projector_dims)
        self.loss = VICRegLoss(
            lambda_param=lambda_param,
            mu_param=mu_param,
            nu_param=nu_param,
            gather_distributed=gather_distributed,
        )

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        self.check_views(views)
        features_a = self.encoder(views[0])  # (B, F)
        features_b = self.encoder(views[1])
        z_a, z_b = self.projector(features_a), self.projector(features_b)  # (B, D)
        terms = self.loss.terms(z_a, z_b)
        return {
            "loss": torch.stack(list(terms.values())).sum(),
            **terms,
            "features": features_a.detach(),
            "embeddings": z_a.detach(),
        }
