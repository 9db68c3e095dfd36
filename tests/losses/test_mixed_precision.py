"""Every joint-embedding loss under bf16 autocast is the float32 loss of the rounded inputs.

Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` a loss receives bf16 embeddings; its
covariances, correlations, logits, Sinkhorn scores and softmaxes must then be computed in
float32 (autocast would otherwise run their matrix products in bf16, ~2e-3 relative error per
product): the value equals the float32 loss of the same bf16-rounded numbers, and the gradient
is the float32 gradient rounded to bf16 once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from eblearn.losses import (
    BarlowTwinsLoss,
    BYOLLoss,
    DeepClusterLoss,
    DrLIMLoss,
    MoCoLoss,
    NTXentLoss,
    SimSiamLoss,
    SwAVLoss,
    VICRegLoss,
    barlow_twins_loss,
    cross_correlation,
    nt_xent_loss,
)
from eblearn.losses.vicreg import covariance_loss

B, D, K, QUEUE = 64, 96, 20, 128  # B < D and B ≥ D paths of the covariances are both used


def _inputs() -> dict[str, Tensor]:
    """bf16 tensors (the numbers a projector returns under autocast)."""
    g = torch.Generator().manual_seed(0)

    def draw(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=g).bfloat16()

    return {
        "z_a": draw(B, D),
        "z_b": draw(B, D),
        "p_a": draw(B, D),
        "p_b": draw(B, D),
        "wide": draw(B, 32),  # B ≥ D: the (D, D) covariance path
        "queue": draw(QUEUE, D),
        "s_0": draw(B, K) * 0.5,
        "s_1": draw(B, K) * 0.5,
        "s_2": draw(B, K) * 0.5,
        "targets": torch.randint(0, K, (B,), generator=g),
        "similar": torch.randint(0, 2, (B,), generator=g),
    }


LOSSES: dict[str, Callable[[dict[str, Tensor]], Tensor]] = {
    "vicreg": lambda x: VICRegLoss()(x["z_a"], x["z_b"]),
    "vicreg-covariance-d-by-d": lambda x: covariance_loss(x["wide"]),
    "barlow-twins": lambda x: BarlowTwinsLoss()(x["z_a"], x["z_b"]),
    "barlow-twins-d-by-d": lambda x: barlow_twins_loss(x["wide"], x["wide"].flip(0)),
    "cross-correlation": lambda x: cross_correlation(x["z_a"], x["z_b"]).pow(2).sum(),
    "nt-xent": lambda x: NTXentLoss()(x["z_a"], x["z_b"]),
    "nt-xent-queue": lambda x: nt_xent_loss(x["z_a"], x["z_b"], negatives=x["queue"]),
    "moco-v2-queue": lambda x: MoCoLoss()(x["z_a"], x["z_b"], x["queue"]),
    "moco-v3": lambda x: MoCoLoss(temperature=1.0, batch_negatives=True)(x["z_a"], x["z_b"]),
    "byol": lambda x: BYOLLoss()(x["p_a"], x["p_b"], x["z_a"], x["z_b"]),
    "simsiam": lambda x: SimSiamLoss()(x["p_a"], x["p_b"], x["z_a"], x["z_b"]),
    "swav": lambda x: SwAVLoss()([x["s_0"], x["s_1"], x["s_2"]], num_assigned=2),
    "swav-queue": lambda x: SwAVLoss()(
        [x["s_0"], x["s_1"]], num_assigned=2, queue_scores=[x["s_2"], x["s_2"].flip(0)]
    ),
    "deepcluster": lambda x: DeepClusterLoss()([x["s_0"], x["s_1"]], x["targets"]),
    "drlim": lambda x: DrLIMLoss()(x["z_a"], x["z_b"], x["similar"]),
}


def _float32(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in inputs.items()}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_under_bf16_autocast_is_the_float32_loss_of_the_rounded_inputs(name):
    loss = LOSSES[name]
    inputs = _inputs()
    expected = loss(_float32(inputs))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = loss(inputs)
        ours_from_float32 = loss(_float32(inputs))  # float32 embeddings, autocast on
    assert ours.dtype == torch.float32
    # bf16 reductions are off by ~1e-3 relative (VICReg 3e-4, Barlow Twins and SwAV 3e-3,
    # NT-Xent 5e-6); float32 ones agree to rounding.
    torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours_from_float32, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["vicreg", "barlow-twins", "nt-xent", "swav"])
def test_gradient_under_bf16_autocast_reaches_the_bf16_inputs(name):
    """The gradient flows back through the casts to the bf16 embeddings, in bf16, within one
    bf16 epsilon (2⁻⁸) of the float32 gradient: each use of an input is rounded once on its
    way back, and the uses accumulate in bf16."""
    loss = LOSSES[name]
    inputs = _inputs()
    leaves = {k: v.requires_grad_() if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss(leaves).backward()
    reference = {
        k: v.detach().float().requires_grad_() if v.is_floating_point() else v
        for k, v in inputs.items()
    }
    loss(reference).backward()
    used = [k for k, v in reference.items() if v.is_floating_point() and v.grad is not None]
    assert len(used) >= 2
    for key in used:
        grad, expected = leaves[key].grad, reference[key].grad
        assert grad is not None and grad.dtype == torch.bfloat16
        error = float((grad.float() - expected).norm() / expected.norm())
        assert error < 2**-8, (key, error)


def test_float64_inputs_stay_float64_and_autocast_is_restored():
    z_a, z_b = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert VICRegLoss()(z_a, z_b).dtype == torch.float64
        assert torch.is_autocast_enabled("cpu")  # switched off only inside the loss
        assert (z_a.float() @ z_b.float().T).dtype == torch.bfloat16
