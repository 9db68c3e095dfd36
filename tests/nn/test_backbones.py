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
