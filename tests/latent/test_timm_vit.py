"""MAE on a timm ViT: the token interface against timm's own forward, and the method on it."""

from __future__ import annotations

import pytest
import torch

from eblearn.latent.mae import masked_autoencode
from eblearn.latent.timm_vit import TimmViTTokens
from eblearn.methods import build_method
from eblearn.nn.timm_backbones import TimmBackbone

pytest.importorskip("timm")

TINY_VIT = {"patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2}


def tiny_vit(**options):
    return TimmBackbone("vit_tiny_patch16_224", 1, 16, **{**TINY_VIT, **options})


@pytest.mark.parametrize("options", [{}, {"no_embed_class": True}, {"reg_tokens": 2}])
def test_all_tokens_encoded_equal_timms_forward_without_its_prefix_tokens(options):
    backbone = tiny_vit(**options).eval()
    torch.nn.init.normal_(backbone.net.pos_embed, std=0.5)  # positions must be where timm puts them
    images = torch.randn(3, 1, 16, 16)
    tokens = TimmViTTokens(backbone)
    encoded = tokens.encode(tokens.tokens(images))  # (B, N, D): every patch kept, in order
    expected = backbone.net.forward_features(images)[:, backbone.net.num_prefix_tokens :]
    assert encoded.shape == (3, 16, 32)
    torch.testing.assert_close(encoded, expected)


def test_a_kept_subset_is_encoded_as_those_patches_alone():
    """Dropping tokens (MAE's masking) equals running timm on the kept patches' sequence."""
    backbone = tiny_vit().eval()
    tokens = TimmViTTokens(backbone)
    images = torch.randn(2, 1, 16, 16)
    all_tokens = tokens.tokens(images)
    kept = all_tokens[:, [0, 5, 15]]
    net = backbone.net
    prefix = net.cls_token.expand(2, -1, -1) + net.pos_embed[:, :1]
    x = net.norm(net.blocks(torch.cat([prefix, kept], 1)))
    torch.testing.assert_close(tokens.encode(kept), x[:, 1:])


def test_mae_trains_a_timm_vit_in_place():
    backbone = tiny_vit()
    method = build_method("mae", backbone, decoder_dim=16, decoder_depth=1, decoder_heads=2)
    assert method.encoder is backbone  # kept, not replaced: export gives the timm model
    out = method([torch.randn(4, 1, 16, 16)])
    assert out["features"].shape == (4, 32)
    out["loss"].backward()
    assert all(p.grad is not None for p in backbone.net.blocks.parameters())
    assert backbone.net.patch_embed.proj.weight.grad.abs().sum() > 0
    energy = method.energy(torch.randn(2, 1, 16, 16))
    assert energy.shape == (2,) and torch.isfinite(energy).all()


def test_masking_keeps_a_quarter_of_the_timm_patches():
    backbone = tiny_vit()
    method = build_method("mae", backbone, decoder_dim=16, decoder_depth=1, decoder_heads=2)
    out = masked_autoencode(method.tokens, method.decoder, torch.randn(2, 1, 16, 16), 0.75)
    assert out.mask.sum(1).tolist() == [12.0, 12.0]  # 16 patches of 4 px, 12 hidden


def test_mae_refuses_a_timm_model_that_is_not_a_vit():
    with pytest.raises(ValueError, match="timm:resnet18 is not a vision transformer"):
        build_method("mae", TimmBackbone("resnet18", 1, 16))


def test_the_method_saves_each_weight_once_under_the_encoder():
    method = build_method("mae", tiny_vit(), decoder_dim=16, decoder_depth=1, decoder_heads=2)
    keys = method.state_dict().keys()
    assert {key.split(".")[0] for key in keys} == {"encoder", "decoder"}
