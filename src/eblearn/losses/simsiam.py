"""SimSiam's loss: negative cosine between a view's prediction and the other view's embedding.

Energy: ``F(x, x') = -cos(p, sg(z'))`` between the prediction ``p = h(f(x))`` of one view and
the stopped-gradient embedding ``z' = f(x')`` of the other. Inference: none. Strategy:
distillation without a moving average (architectural): the stop-gradient and the predictor
alone prevent collapse; removing the predictor makes the embeddings collapse (paper, §4).

[0] Chen & He, Exploring Simple Siamese Representation Learning, CVPR 2021,
    https://arxiv.org/abs/2011.10566
"""

from __future__ import annotations

from torch import Tensor, nn

from eblearn.losses.byol import _check_pairs, negative_cosine_similarity


class SimSiamLoss(nn.Module):
    """``L = ½ D(p_a, sg(z_b)) + ½ D(p_b, sg(z_a))`` with ``D(p, z) = -mean_b cos(p_b, z_b)``.

    [0] Chen & He, SimSiam, CVPR 2021, https://arxiv.org/abs/2011.10566

    Shapes:
        ``p_a``, ``p_b``, ``z_a``, ``z_b``: ``(B, D)``. Returns a scalar in ``[-1, 1]``.

    Raises:
        ValueError: If the four tensors are not 2-D of the same shape.

    Example:
        >>> import torch
        >>> z = torch.randn(8, 4)
        >>> round(float(SimSiamLoss()(z, z, z, z)), 4)  # perfect prediction
        -1.0
    """

    def forward(self, p_a: Tensor, p_b: Tensor, z_a: Tensor, z_b: Tensor) -> Tensor:
        _check_pairs(p_a, p_b, z_a, z_b)
        return 0.5 * negative_cosine_similarity(p_a, z_b.detach()) + 0.5 * (
            negative_cosine_similarity(p_b, z_a.detach())
        )
