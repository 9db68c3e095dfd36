"""Raw-waveform encoder: output lengths, receptive field, padding independence."""

from __future__ import annotations

import pytest
import torch

from eblearn.nn.audio import (
    ContextTransformer,
    ConvFeatureEncoder,
    gru_audio_encoder,
    masked_mean,
    small_audio_encoder,
)


def test_output_lengths_follow_the_convolution_arithmetic():
    encoder = ConvFeatureEncoder((4, 4, 4), (10, 3, 2), (5, 2, 2))
    for n in (30, 31, 100, 801):
        out = encoder(torch.randn(1, n))
        expected = n
        for k, s in ((10, 5), (3, 2), (2, 2)):
            expected = (expected - k) // s + 1
        assert out.shape == (1, expected, 4)
        assert int(encoder.output_lengths(torch.tensor([n]))) == expected
    # receptive field: 10 + (3-1)*5 + (2-1)*10 = 30
    assert encoder.receptive_field == 30
    with pytest.raises(ValueError, match="receptive field"):
        encoder(torch.randn(1, 29))


def test_frame_depends_only_on_its_receptive_field():
    encoder = ConvFeatureEncoder((4, 4), (10, 3), (5, 2), norm="layer").eval()
    x = torch.randn(1, 200)
    y = x.clone()
    y[0, 150:] += 1.0  # frame j sees samples [10 j, 10 j + 20)
    a, b = encoder(x), encoder(y)
    assert torch.allclose(a[0, :14], b[0, :14]) and not torch.allclose(a[0, 14:], b[0, 14:])


def test_padding_does_not_change_pooled_features():
    torch.manual_seed(0)
    # layer norm per frame: a row's features do not depend on how much padding follows it
    encoder = small_audio_encoder(dim=16, depth=1, heads=2, channels=8, norm="layer").eval()
    x = torch.randn(1, 800)
    padded = torch.cat([x, torch.zeros(1, 400)], 1)
    plain = encoder(x)
    with_padding = encoder(padded, torch.tensor([800]))
    assert torch.allclose(plain, with_padding, atol=1e-5)


def test_gru_context_is_causal():
    torch.manual_seed(0)
    encoder = gru_audio_encoder(dim=8, channels=8).eval()
    z = torch.randn(1, 10, 8)
    c = encoder.context(z)
    z2 = z.clone()
    z2[0, 6:] = 0
    assert torch.allclose(encoder.context(z2)[0, :6], c[0, :6])


def test_masked_mean_and_errors():
    x = torch.arange(12.0).reshape(1, 4, 3)
    assert masked_mean(x, torch.tensor([2])).tolist() == [[1.5, 2.5, 3.5]]
    with pytest.raises(ValueError, match="valid choices: group, layer"):
        ConvFeatureEncoder(norm="batch")
    with pytest.raises(ValueError, match="heads must divide dim"):
        ContextTransformer(dim=10, heads=3)


def test_layers_are_the_steps_of_forward():
    torch.manual_seed(0)
    encoder = small_audio_encoder(dim=16, depth=3, heads=2, channels=8).eval()
    x, lengths = torch.randn(2, 1200), torch.tensor([1200, 900])
    with torch.no_grad():
        layers = encoder.layers(x, lengths)
        z = encoder.frames(x)
        padding = layers["lengths"][:, None] <= torch.arange(z.shape[1])[None, :]
        # a naive pass: the context network's blocks one at a time, by hand
        h = encoder.context_network.norm(
            encoder.context_network.positions(encoder.project(z), padding)
        )
        by_hand = []
        for block in encoder.context_network.blocks.layers:
            h = block(h, src_key_padding_mask=padding)
            by_hand.append(h)
        pooled = encoder(x, lengths)
    assert list(layers) == ["frames", "block1", "block2", "block3", "lengths"]
    assert torch.equal(layers["lengths"], encoder.feature_encoder.output_lengths(lengths))
    assert torch.allclose(layers["frames"], z)
    for i, expected in enumerate(by_hand, start=1):
        assert torch.allclose(layers[f"block{i}"], expected, atol=1e-5)
    # the last block is the context that forward pools
    assert torch.allclose(masked_mean(layers["block3"], layers["lengths"]), pooled, atol=1e-5)


def test_layers_of_a_gru_encoder_are_frames_and_context():
    torch.manual_seed(0)
    encoder = gru_audio_encoder(dim=8, channels=8).eval()
    x = torch.randn(2, 1000)
    with torch.no_grad():
        layers = encoder.layers(x)
        assert list(layers) == ["frames", "context", "lengths"]
        assert torch.allclose(layers["context"], encoder.context(encoder.frames(x)))
