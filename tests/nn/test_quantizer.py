"""Gumbel product quantizer: straight-through gradient and perplexity by hand."""

from __future__ import annotations

import math

import pytest
import torch

from eblearn.nn.quantizer import (
    GumbelProductQuantizer,
    annealed_temperature,
    codebook_perplexity,
    gumbel_noise,
    straight_through_gumbel,
)


def test_straight_through_forward_is_one_hot_and_backward_is_the_softmax_gradient():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 2, 4, dtype=torch.float64, requires_grad=True)
    noise = gumbel_noise(logits.shape, generator).double()
    tau = 0.7
    weights = straight_through_gumbel(logits, tau, noise)
    soft = ((logits + noise) / tau).softmax(-1).detach()
    assert torch.equal(weights.detach(), torch.nn.functional.one_hot(soft.argmax(-1), 4).double())
    upstream = torch.randn(5, 2, 4, dtype=torch.float64)
    (grad,) = torch.autograd.grad((weights * upstream).sum(), logits)
    # d softmax(a/τ)_v / d a_u = y_v (δ_uv - y_u) / τ  =>  grad_u = y_u (g_u - Σ_v y_v g_v) / τ
    expected = soft * (upstream - (soft * upstream).sum(-1, keepdim=True)) / tau
    assert torch.allclose(grad, expected)


def test_quantizer_codes_are_the_chosen_codebook_entries():
    torch.manual_seed(0)
    q = GumbelProductQuantizer(6, groups=2, entries=5, code_dim=8)
    q.eval()
    z = torch.randn(7, 6)
    out = q(z)
    for n in range(7):
        expected = torch.cat([q.codebook[g, out.indices[n, g]] for g in range(2)])
        assert torch.allclose(out.codes[n], expected)
    assert torch.equal(out.indices, out.logits.argmax(-1))


def test_training_pass_sends_gradient_to_the_logit_layer_and_codebook():
    torch.manual_seed(0)
    q = GumbelProductQuantizer(6, groups=2, entries=5, code_dim=8).train()
    out = q(torch.randn(7, 6), torch.Generator().manual_seed(0))
    out.codes.pow(2).sum().backward()
    assert q.to_logits.weight.grad.abs().sum() > 0 and q.codebook.grad.abs().sum() > 0


def test_perplexity_by_hand():
    # group 0: mean probabilities (1/2, 1/2, 0) -> exp(log 2) = 2; group 1: one-hot -> 1
    big = 50.0
    logits = torch.tensor(
        [
            [[big, 0.0, 0.0], [big, 0.0, 0.0]],
            [[0.0, big, 0.0], [big, 0.0, 0.0]],
        ]
    )  # (N=2, G=2, V=3)
    assert float(codebook_perplexity(logits)) == pytest.approx(3.0, abs=1e-4)
    # a hand-computed non-degenerate case
    logits = torch.log(torch.tensor([[[0.2, 0.3, 0.5]]]))
    entropy = -(0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.5 * math.log(0.5))
    assert float(codebook_perplexity(logits)) == pytest.approx(math.exp(entropy), rel=1e-6)


def test_temperature_annealing():
    assert annealed_temperature(0) == 2.0
    assert annealed_temperature(10_000) == pytest.approx(2.0 * 0.999995**10_000)
    assert annealed_temperature(10**7) == 0.5
    q = GumbelProductQuantizer(4, 2, 3, 4)
    q.set_step(10**7)
    assert q.temperature == 0.5


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="groups dividing code_dim"):
        GumbelProductQuantizer(4, groups=3, entries=2, code_dim=8)
