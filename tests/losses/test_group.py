"""Group losses (InfoNCE, NCA, NCE) against naive formulas and known optima."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from eblearn.losses import (
    InfoNCELoss,
    NCALoss,
    NCELoss,
    info_nce_loss,
    nca_energies,
    nca_loss,
    nce_loss,
)


def test_info_nce_is_a_cross_entropy_over_minus_energies() -> None:
    torch.manual_seed(0)
    pos = torch.rand(5, dtype=torch.float64, requires_grad=True)
    neg = torch.rand(5, 7, dtype=torch.float64, requires_grad=True)
    tau = 0.3
    got = InfoNCELoss(temperature=tau)(pos, neg)
    logits = -torch.cat([pos[:, None], neg], 1) / tau
    expected = F.cross_entropy(logits, torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(got, expected)
    for g, e in zip(
        torch.autograd.grad(got, (pos, neg)), torch.autograd.grad(expected, (pos, neg))
    ):
        torch.testing.assert_close(g, e)
    # L = E(x, y⁺) + log Σ_y exp(-E(x, y)) at τ = 1, written out for one sample
    pos, neg = pos.detach(), neg.detach()
    one = info_nce_loss(pos[:1], neg[:1])
    naive = pos[0] + math.log(math.exp(-float(pos[0])) + sum(math.exp(-float(e)) for e in neg[0]))
    assert float(one) == pytest.approx(float(naive))


def test_info_nce_of_equal_energies_is_log_group_size() -> None:
    assert float(info_nce_loss(torch.zeros(3), torch.zeros(3, 9))) == pytest.approx(math.log(10))


def test_nca_matches_goldberger_on_embeddings() -> None:
    torch.manual_seed(1)
    z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])  # sample 5 has no same-class neighbour
    energies, positive, valid = nca_energies(z, labels)
    got_log = NCALoss()(energies, positive, valid)
    got_expected = nca_loss(energies, positive, valid, objective="expected")
    log_terms, p_terms = [], []
    for i in range(6):
        denominator = sum(torch.exp(-((z[i] - z[k]) ** 2).sum()) for k in range(6) if k != i)
        p_i = sum(
            torch.exp(-((z[i] - z[j]) ** 2).sum()) / denominator
            for j in range(6)
            if j != i and labels[j] == labels[i]
        )
        if isinstance(p_i, torch.Tensor):  # samples without a positive are skipped
            log_terms.append(-torch.log(p_i))
            p_terms.append(-p_i)
    naive_log, naive_expected = sum(log_terms) / 5, sum(p_terms) / 5
    torch.testing.assert_close(got_log, naive_log)
    torch.testing.assert_close(got_expected, naive_expected)
    torch.testing.assert_close(
        torch.autograd.grad(got_log, z)[0], torch.autograd.grad(naive_log, z)[0]
    )


def test_nce_matches_the_logistic_formula() -> None:
    torch.manual_seed(2)
    pos, neg = torch.randn(4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    log_pn_pos, log_pn_neg = torch.randn(4, dtype=torch.float64), torch.randn(4, 3).double()
    got = NCELoss()(pos, neg, log_pn_pos, log_pn_neg)
    total = 0.0
    nu = 3
    for b in range(4):
        h = 1 / (1 + nu * math.exp(float(log_pn_pos[b]) + float(pos[b])))  # p_m/(p_m + ν p_n)
        total -= math.log(h)
        for n in range(3):
            h_noise = 1 / (1 + nu * math.exp(float(log_pn_neg[b, n]) + float(neg[b, n])))
            total -= math.log(1 - h_noise)
    assert float(got) == pytest.approx(total / 4)


def test_nce_learns_a_normalized_density() -> None:
    # Data N(0, 1), noise N(0, 2²), model F(y) = a y² + c: NCE's optimum is the true
    # log-density, a = 1/2 and c = log √(2π) ≈ 0.919 (up to sampling error with 4000 points).
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(4000, generator=gen, dtype=torch.float64)
    noise = 2 * torch.randn(4000, 2, generator=gen, dtype=torch.float64)

    def log_noise(y: torch.Tensor) -> torch.Tensor:
        return -0.5 * (y / 2) ** 2 - math.log(2 * math.sqrt(2 * math.pi))

    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        a, c = params
        loss = nce_loss(a * data**2 + c, a * noise**2 + c, log_noise(data), log_noise(noise))
        loss.backward()
        return loss

    optimizer.step(closure)
    a, c = params.detach().tolist()
    assert a == pytest.approx(0.5, abs=0.05)
    assert c == pytest.approx(0.5 * math.log(2 * math.pi), abs=0.05)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="temperature must be > 0"):
        InfoNCELoss(temperature=0.0)
    with pytest.raises(ValueError, match="no sample has a positive"):
        nca_loss(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="positive_mask must be a bool tensor of shape"):
        nca_loss(torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="unknown objective 'mean'"):
        NCALoss(objective="mean")
    with pytest.raises(ValueError, match=r"negative_noise_log_prob must have shape \(2, 3\)"):
        nce_loss(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="the NCE loss needs contrastive"):
        nce_loss(torch.zeros(2), None, torch.zeros(2), torch.zeros(2))  # type: ignore[arg-type]
