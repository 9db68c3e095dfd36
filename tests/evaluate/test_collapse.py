import math

import pytest
import torch

from eblearn.evaluate import collapse_report, effective_rank


def test_effective_rank_of_known_spectra():
    # Singular values (after centering) all equal over r directions: rank exactly r.
    basis = torch.linalg.qr(torch.randn(16, 16))[0]
    for r in (1, 3, 8):
        points = torch.cat([basis[:r], -basis[:r]]) * 5  # centered, equal spread
        assert effective_rank(points) == pytest.approx(r, rel=1e-6)
    # Two directions with singular values 3:1 -> p = (3/4, 1/4).
    points = torch.tensor([[3.0, 0], [-3.0, 0], [0, 1.0], [0, -1.0]])
    p = torch.tensor([0.75, 0.25])
    assert effective_rank(points) == pytest.approx(float(torch.exp(-(p * p.log()).sum())))


def test_normalized_std_separates_spread_from_collapse():
    spread = collapse_report(torch.randn(4096, 64))
    assert spread.normalized_std == pytest.approx(1.0, abs=0.05)
    assert not spread.collapsed
    point = collapse_report(torch.ones(256, 64) + 1e-4 * torch.randn(256, 64))
    assert point.collapsed
    assert point.std < 1e-3
    # Isotropic N × D Gaussian data: σ_k² = N λ_k with λ Marchenko-Pastur of variance D/N,
    # so σ_k varies by D/(4N) relatively and exp(H) ≈ D (1 - D/(8N)) = 64 - 0.125.
    assert spread.effective_rank == pytest.approx(64 - 64 * 64 / (8 * 4096), abs=0.02)


def test_raw_std_is_the_mean_per_dimension_std():
    z = torch.randn(1000, 4) * torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert collapse_report(z).std == pytest.approx(2.5, rel=0.05)
    assert collapse_report(z).dim == 4
    # Singular values ∝ the stds 1 : 2 : 3 : 4, so p = (1, 2, 3, 4)/10 and exp(H(p)) ≈ 3.596.
    p = torch.tensor([1.0, 2.0, 3.0, 4.0]) / 10
    expected = math.exp(-float((p * p.log()).sum()))
    assert collapse_report(z).effective_rank == pytest.approx(expected, rel=0.02)


def test_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        collapse_report(torch.randn(1, 4))
