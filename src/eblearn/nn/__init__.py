"""Networks: backbones (small ConvNet, ResNets with a CIFAR stem), heads, momentum helpers."""

from eblearn.nn.backbones import BACKBONES, Backbone, ConvNet, ResNet, build_backbone
from eblearn.nn.heads import MLPHead, projection_head
from eblearn.nn.momentum import cosine_momentum, ema_update, momentum_copy
from eblearn.nn.prototypes import Prototypes
from eblearn.nn.queues import FeatureQueue, MemoryBank
from eblearn.nn.sequence import (
    TOKEN_BACKBONES,
    TokenTransformer,
    WindowEncoder,
    build_token_backbone,
)

__all__ = [
    "BACKBONES",
    "TOKEN_BACKBONES",
    "Backbone",
    "ConvNet",
    "FeatureQueue",
    "MLPHead",
    "MemoryBank",
    "Prototypes",
    "ResNet",
    "TokenTransformer",
    "WindowEncoder",
    "build_backbone",
    "build_token_backbone",
    "cosine_momentum",
    "ema_update",
    "momentum_copy",
    "projection_head",
]
