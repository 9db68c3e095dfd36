"""PIRL's NCE loss against a per-sample, per-negative loop written from the paper's eq. 3-5."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.losses import PIRLLoss, estimate_log_normalizer, pirl_loss, pirl_nce


def _h(u: torch.Tensor, v: torch.Tensor, tau: float, c: float, z: float) -> float:
    p = math.exp(float(u @ v / (u.norm() * v.norm())) / tau) / z
    return p / (p + c)


def _loop_nce(memory, representation, negatives, tau, c, z=1.0) -> float:
    total = 0.0
    for b in range(len(memory)):
        own = negatives[b] if negatives.ndim == 3 else negatives
        term = -math.log(_h(memory[b], representation[b], tau, c, z))
        for other in own:
            term -= math.log(1 - _h(representation[b], other, tau, c, z))
        total += term
    return total / len(memory)


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(*shape, generator=g, dtype=torch.float64)
        for shape in ((4, 5), (4, 5), (4, 5), (7, 5), (4, 3, 5))
    ]


@pytest.mark.parametrize("per_sample", [False, True])
def test_nce_term_matches_the_loop(per_sample):
    memory, jig, _, shared, own = _data()
    negatives = own if per_sample else shared
    got = pirl_nce(memory, jig, negatives, temperature=0.5, noise_ratio=0.3)
    want = _loop_nce(memory, jig, negatives, 0.5, 0.3)
    assert float(got) == pytest.approx(want, rel=1e-10)


def test_normalizer_estimate_and_the_normalized_loss():
    memory, jig, _, shared, own = _data(3)
    log_z = estimate_log_normalizer(jig, own, population=50, temperature=0.5)
    # Z = M · mean exp(s/τ): the normalized similarities average to 1/M
    probabilities = [
        math.exp(float(jig[b] @ n / (jig[b].norm() * n.norm())) / 0.5 - float(log_z))
        for b in range(4)
        for n in own[b]
    ]
    assert sum(probabilities) / len(probabilities) == pytest.approx(1 / 50, rel=1e-5)
    got = pirl_nce(memory, jig, shared, 0.5, 0.3, log_normalizer=2.0)
    assert float(got) == pytest.approx(_loop_nce(memory, jig, shared, 0.5, 0.3, math.e**2))


def test_pirl_loss_mixes_the_two_terms_with_lambda():
    memory, jig, image, shared, _ = _data(1)
    want = 0.25 * _loop_nce(memory, jig, shared, 0.07, 2.0) + 0.75 * _loop_nce(
        memory, image, shared, 0.07, 2.0
    )
    got = PIRLLoss(weight=0.25)(memory, jig, image, shared, noise_ratio=2.0)
    assert float(got) == pytest.approx(want, rel=1e-9)
    # λ = 1: only the jigsaw branch counts
    only = pirl_loss(memory, jig, image, shared, weight=1.0, temperature=0.07, noise_ratio=2.0)
    assert float(only) == pytest.approx(_loop_nce(memory, jig, shared, 0.07, 2.0), rel=1e-9)


def test_loss_is_invariant_to_the_scale_of_the_representations():
    memory, jig, _, shared, _ = _data(2)
    base = pirl_nce(memory, jig, shared)
    torch.testing.assert_close(pirl_nce(3 * memory, 0.5 * jig, 2 * shared), base)


def test_bad_inputs_are_refused():
    memory, jig, _, shared, _ = _data()
    with pytest.raises(ValueError, match=r"negatives must have shape \(N, D=5\)"):
        pirl_nce(memory, jig, shared[:, :3])
    with pytest.raises(ValueError, match="at least one negative"):
        pirl_nce(memory, jig, shared[:0])
    with pytest.raises(ValueError, match="same shape"):
        pirl_nce(memory, jig[:2], shared)
    with pytest.raises(ValueError, match=r"λ must lie in \[0, 1\]"):
        PIRLLoss(weight=1.5)
    with pytest.raises(ValueError, match="temperature"):
        pirl_nce(memory, jig, shared, temperature=0.0)
