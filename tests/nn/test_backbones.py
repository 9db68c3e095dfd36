import pytest
import torch

from eblearn.nn import BACKBONES, ConvNet, MLPHead, build_backbone, projection_head


@pytest.mark.parametrize("name", BACKBONES.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_every_backbone_declares_its_feature_size(name, channels):
    backbone = build_backbone(name, channels, image_size=16)
    features = backbone(torch.randn(2, channels, 16, 16))
    assert features.shape == (2, backbone.feature_dim)
    assert backbone.in_channels == channels


def test_cifar_stem_keeps_resolution():
    small = build_backbone("resnet18", 3, image_size=32)
    assert small.net.conv1.stride == (1, 1)
    large = build_backbone("resnet18", 3, image_size=224)
    assert large.net.conv1.stride == (2, 2)


def test_wrong_channel_count_is_a_clear_error():
    backbone = ConvNet(in_channels=3, width=4)
    with pytest.raises(
        ValueError, match=r"takes images of shape \(B, 3, H, W\), got \(2, 1, 8, 8\)"
    ):
        backbone(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"1-channel .* or 3-channel"):
        build_backbone("convnet", 4, image_size=16)
    with pytest.raises(ValueError, match="unknown backbone 'vgg'; valid backbones: convnet"):
        build_backbone("vgg", 3, image_size=16)


def test_heads():
    head = MLPHead(8, [16, 16], 4)
    assert head(torch.randn(5, 8)).shape == (5, 4)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16), (16, 16), (16, 4)]
    simsiam_like = MLPHead(8, [16], 4, last_batch_norm=True)
    assert isinstance(simsiam_like.layers[-1], torch.nn.BatchNorm1d)
    assert projection_head(8, [32, 32]).out_dim == 32
    with pytest.raises(ValueError, match="at least one layer"):
        projection_head(8, [])


# --- torchvision RegNets --------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["regnet_y_400mf", "regnet_x_400mf"])
def test_regnet_is_torchvisions_model_without_fc(arch):
    import re

    import torchvision

    torch.manual_seed(0)
    ours = build_backbone(arch, 3, image_size=96)  # > 64 px: torchvision's own stem
    stock = getattr(torchvision.models, arch)()
    assert ours.feature_dim == stock.fc.in_features
    # the registry's one-line description states the same feature size
    assert re.search(rf"\({ours.feature_dim}-d features\)", BACKBONES.describe(arch))
    stock.fc = torch.nn.Identity()
    stock.load_state_dict(ours.standalone().state_dict(), strict=True)
    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(images), stock.eval()(images))
    assert ours(images).shape == (2, ours.feature_dim)


def test_regnet_small_image_stem_follows_the_resnet_rule():
    from eblearn.nn.backbones import _small_stem

    assert [_small_stem(s, None) for s in (32, 64, 65, 224)] == [True, True, False, False]
    assert not _small_stem(32, False) and _small_stem(224, True)
    small = build_backbone("regnet_y_400mf", 3, image_size=32)
    forced = build_backbone("regnet_y_400mf", 3, image_size=32, cifar_stem=False)
    assert small.net.stem[0].stride == (1, 1)
    assert forced.net.stem[0].stride == (2, 2)
    # total stride 16 instead of 32: a 32-px image reaches the last stage at 2×2, not 1×1
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert small.net.trunk_output(small.net.stem(images)).shape[-2:] == (2, 2)
        assert forced.net.trunk_output(forced.net.stem(images)).shape[-2:] == (1, 1)
        assert small(images).shape == (2, 440)


def test_regnet_gray_images_change_only_the_stem_convolution():
    gray = build_backbone("regnet_x_400mf", 1, image_size=32)
    rgb = build_backbone("regnet_x_400mf", 3, image_size=32)
    gray_state, rgb_state = gray.state_dict(), rgb.state_dict()
    assert gray_state.keys() == rgb_state.keys()
    changed = [k for k in gray_state if gray_state[k].shape != rgb_state[k].shape]
    assert changed == ["net.stem.0.weight"]
    assert gray_state["net.stem.0.weight"].shape == (32, 1, 3, 3)
    assert gray(torch.randn(2, 1, 32, 32)).shape == (2, 400)


def test_regnet_refuses_an_unknown_arch():
    from eblearn.nn.backbones import RegNet

    with pytest.raises(ValueError, match=r"RegNet arch must be one of regnet_x_400mf.*'regnet_z'"):
        RegNet("regnet_z")


# --- the ConvNet's stages -----------------------------------------------------------------


def _documented_convnet(c: int, w: int) -> torch.nn.Sequential:
    """The three-stage ConvNet as docs/encoders-out.md writes it out for loading without eblearn."""
    from torch import nn

    def block(i, o):
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)
        )

    return nn.Sequential(
        block(c, w),
        block(w, w),
        nn.MaxPool2d(2),
        block(w, 2 * w),
        block(2 * w, 2 * w),
        nn.MaxPool2d(2),
        block(2 * w, 4 * w),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def test_three_stage_convnet_is_the_documented_five_layers():
    """The default keeps the layout (and state-dict keys) that exported encoders load into."""
    ours = ConvNet(in_channels=3, width=4)
    documented = _documented_convnet(3, 4)
    documented.load_state_dict(ours.standalone().state_dict(), strict=True)
    ours.eval(), documented.eval()
    images = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(ours(images), documented(images))


@pytest.mark.parametrize("stages", [1, 2, 4, 5])
def test_convnet_stages_double_width_and_halve_the_side(stages):
    backbone = ConvNet(in_channels=1, width=4, stages=stages)
    convs = [m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in backbone.modules() if isinstance(m, torch.nn.MaxPool2d)]
    # two layers per stage, one in the last; a pool between stages
    assert len(convs) == 2 * stages - 1
    assert len(pools) == stages - 1
    assert [c.out_channels for c in convs][-1] == 4 * 2 ** (stages - 1) == backbone.feature_dim
    assert backbone(torch.randn(2, 1, 16, 16)).shape == (2, backbone.feature_dim)
    # the last stage sees the side halved once per pool
    sides = []
    convs[-1].register_forward_hook(lambda module, inputs, output: sides.append(output.shape[-1]))
    backbone(torch.randn(2, 1, 16, 16))
    assert sides == [16 // 2 ** (stages - 1)]


def test_convnet_stages_are_checked_against_the_image_size():
    assert build_backbone("convnet", 3, image_size=16, stages=5).feature_dim == 32 * 16
    with pytest.raises(
        ValueError, match=r"needs a side of at least 32 px, got 16 px; use stages <= 5"
    ):
        build_backbone("convnet", 3, image_size=16, stages=6)
    with pytest.raises(ValueError, match="stages must be >= 1, got 0"):
        build_backbone("convnet", 3, image_size=16, stages=0)
    with pytest.raises(ValueError, match="valid: width, stages"):
        build_backbone("convnet", 3, image_size=16, depth=4)
