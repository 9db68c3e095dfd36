"""The token Transformer: shapes, mean pooling over real tokens, padding and gradients."""

from __future__ import annotations

import pytest
import torch

from eblearn.data.tokenizers import PAD
from eblearn.nn import TOKEN_BACKBONES, TokenTransformer, build_token_backbone


def _net(**kw) -> TokenTransformer:
    torch.manual_seed(0)
    return TokenTransformer(vocab_size=12, seq_len=10, dim=16, depth=2, heads=2, **kw).eval()


def test_features_are_the_mean_of_the_token_states():
    net = _net()
    tokens = torch.randint(3, 12, (3, 7))
    h = net.hidden(tokens)
    assert h.shape == (3, 7, 16) and net.feature_dim == 16
    torch.testing.assert_close(net(tokens), h.mean(1))


def test_trailing_padding_changes_neither_states_nor_features():
    net = _net()
    tokens = torch.randint(3, 12, (2, 6))
    padded = torch.cat([tokens, torch.full((2, 3), PAD)], 1)
    torch.testing.assert_close(net.hidden(padded)[:, :6], net.hidden(tokens), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(net(padded), net(tokens), atol=1e-5, rtol=1e-5)


def test_positions_matter_and_every_parameter_learns():
    net = _net().train()
    tokens = torch.randint(3, 12, (4, 10))
    assert not torch.allclose(net.hidden(tokens)[:, 0], net.hidden(tokens.flip(1))[:, -1])
    net(tokens).pow(2).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_bad_inputs_and_options():
    net = _net()
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        net(torch.randn(2, 5))
    with pytest.raises(ValueError, match="larger seq_len"):
        net(torch.randint(3, 12, (2, 11)))
    with pytest.raises(ValueError, match="heads must divide dim"):
        TokenTransformer(12, 10, dim=10, heads=3)
    assert "transformer" in TOKEN_BACKBONES
    assert build_token_backbone("transformer", 12, 10, dim=8, heads=2).feature_dim == 8
    with pytest.raises(ValueError, match=r"no option.*width; valid: dim"):
        build_token_backbone("transformer", 12, 10, width=8)


def test_window_encoder_concatenates_the_looked_up_words():
    from eblearn.nn import WindowEncoder

    torch.manual_seed(0)
    net = WindowEncoder(12, 3, dim=2, hidden=4)
    tokens = torch.tensor([[3, 4, 5]])
    concatenated = net.token_embedding.weight[[3, 4, 5]].reshape(1, 6)
    expected = torch.clamp(concatenated @ net.layer.weight.T + net.layer.bias, -1.0, 1.0)
    torch.testing.assert_close(net(tokens), expected)
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        net(torch.tensor([[3, 4]]))
