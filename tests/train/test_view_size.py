"""Training views smaller than the images: the views at ``view_size``, everything else at
``image_size``, and backbones that cannot take the smaller side refused before training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eblearn.train import resolve
from eblearn.train.runs import build_components

from .conftest import tiny_config, tiny_digits


def test_views_take_the_view_size_and_evaluation_the_image_size():
    data = tiny_digits()
    config = resolve(tiny_config(Path("unused"), view_size=12), data.channels, data.image_size)
    assert (config.image_size, config.view_size) == (16, 12)
    method, augment, eval_transform = build_components(config, data)
    views = augment(data.pretrain_images[:5])
    assert [tuple(v.shape) for v in views] == [(5, 1, 12, 12)] * len(views)
    assert eval_transform is not None and eval_transform.size == 16
    # the same encoder takes both sides: pooled features of one width
    features = [method.encoder(torch.zeros(2, 1, side, side)).shape for side in (12, 16)]
    assert features[0] == features[1]


def test_the_default_views_are_at_the_image_size():
    data = tiny_digits()
    config = resolve(tiny_config(Path("unused")), data.channels, data.image_size)
    _, augment, _ = build_components(config, data)
    assert {tuple(v.shape[-2:]) for v in augment(data.pretrain_images[:3])} == {(16, 16)}


def test_a_convnet_too_deep_for_the_views_is_refused_naming_the_option():
    data = tiny_digits()
    # five stages pool four times: 16 px images reach 1 px, 8 px views would reach 1/2
    request = tiny_config(Path("unused"), view_size=8, backbone_args={"width": 4, "stages": 5})
    config = resolve(request, data.channels, data.image_size)
    with pytest.raises(ValueError, match=r"cannot train on 8 px views .*--view-size"):
        build_components(config, data)


def test_a_fixed_size_vit_is_refused_with_smaller_views():
    pytest.importorskip("timm")
    data = tiny_digits()
    request = tiny_config(
        Path("unused"), backbone="timm:vit_tiny_patch16_224", backbone_args={}, view_size=8
    )
    config = resolve(request, data.channels, data.image_size)
    with pytest.raises(ValueError, match=r"built for 16 px images, cannot train on 8 px views"):
        build_components(config, data)
