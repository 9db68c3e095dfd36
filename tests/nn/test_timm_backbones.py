"""``timm:NAME`` backbones: timm's model without classifier, and the refusals around it."""

from __future__ import annotations

import sys

import pytest
import torch

from eblearn.nn.backbones import build_backbone, check_backbone_name

timm = pytest.importorskip("timm")


def timm_reference(backbone) -> torch.nn.Module:
    """timm's own model, built from the backbone's recorded options, holding its weights."""
    model = timm.create_model(backbone.model, num_classes=0, **backbone.options)
    model.load_state_dict(backbone.standalone().state_dict(), strict=True)
    return model.eval()


@pytest.mark.parametrize(
    ("name", "channels", "size", "dim"),
    [
        ("resnet18", 3, 32, 512),
        ("resnet18", 1, 32, 512),
        ("vit_tiny_patch16_224", 3, 32, 192),
        ("mobilenetv3_small_100", 3, 32, 1024),  # head_hidden_size (1024) != num_features (576)
    ],
)
def test_timm_backbone_returns_timms_pooled_features(name, channels, size, dim):
    torch.manual_seed(0)
    backbone = build_backbone(f"timm:{name}", channels, image_size=size).eval()
    images = torch.randn(2, channels, size, size)
    with torch.no_grad():
        features = backbone(images)
        expected = timm_reference(backbone)(images)
    assert backbone.feature_dim == dim
    assert backbone.in_channels == channels
    assert features.shape == (2, dim)
    torch.testing.assert_close(features, expected)


def test_fixed_size_vit_is_built_for_the_run_image_size_unless_told():
    auto = build_backbone("timm:vit_tiny_patch16_224", 1, image_size=32)
    assert auto.options == {"in_chans": 1, "img_size": 32}
    assert auto.net.pos_embed.shape == (1, 1 + (32 // 16) ** 2, 192)  # class token + 2×2 grid
    native = build_backbone("timm:vit_tiny_patch16_224", 3, image_size=224)
    assert native.options == {}
    told = build_backbone("timm:vit_tiny_patch16_224", 3, image_size=32, img_size=64)
    assert told.options == {"img_size": 64}
    assert told(torch.randn(2, 3, 64, 64)).shape == (2, 192)
    convnet = build_backbone("timm:resnet18", 3, image_size=32)
    assert convnet.options == {}  # no fixed input size: nothing added


def test_missing_timm_is_refused_with_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now raises ImportError
    with pytest.raises(ImportError, match=r"needs the optional package timm.*pip install timm"):
        check_backbone_name("timm:resnet18")
    with pytest.raises(ImportError, match="pip install timm"):
        build_backbone("timm:resnet18", 3, image_size=32)
    check_backbone_name("resnet18")  # registered names do not need timm
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg'.*or timm:NAME") as error:
        check_backbone_name("vgg")
    assert "did you mean" not in str(error.value)


def test_unknown_timm_names_suggest_the_closest():
    with pytest.raises(ValueError, match=r"timm has no model 'resnet181'.*closest: resnet18"):
        check_backbone_name("timm:resnet181")
    with pytest.raises(ValueError, match=r"needs a timm model name, e\.g\. timm:resnet18"):
        check_backbone_name("timm:")
    with pytest.raises(ValueError, match=r"did you mean timm:convnext_atto\?"):
        check_backbone_name("convnext_atto")
    check_backbone_name("timm:resnet18.a1_in1k")  # a pretrained tag names the same model


def test_options_eblearn_sets_itself_or_timm_refuses_are_value_errors():
    with pytest.raises(ValueError, match=r"num_classes cannot be a timm backbone option"):
        build_backbone("timm:resnet18", 3, image_size=32, num_classes=10)
    with pytest.raises(ValueError, match=r"timm cannot build 'resnet18' with options"):
        build_backbone("timm:resnet18", 3, image_size=32, no_such_option=1)


def test_train_refuses_a_timm_backbone_before_writing(tmp_path, capsys, monkeypatch):
    from eblearn.cli import main

    monkeypatch.setitem(sys.modules, "timm", None)
    run_dir = tmp_path / "run"
    assert main(["train", "--backbone", "timm:resnet18", "--run-dir", str(run_dir)]) == 2
    assert "pip install timm" in capsys.readouterr().err
    assert not run_dir.exists()
    monkeypatch.undo()
    assert main(["train", "--backbone", "timm:resnet181", "--run-dir", str(run_dir)]) == 2
    assert "closest: resnet18" in capsys.readouterr().err
    assert not run_dir.exists()
