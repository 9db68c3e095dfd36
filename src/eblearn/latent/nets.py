"""Building blocks of the latent-variable networks: MLPs and a decoder from vectors to images."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear → activation`` between consecutive ``sizes``, with no activation at the end.

    Raises:
        ValueError: With fewer than two sizes or a size below 1.

    Example:
        >>> mlp([4, 8, 2])
        Sequential(
          (0): Linear(in_features=4, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=2, bias=True)
        )
    """
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"an MLP needs at least two sizes, all >= 1, got {list(sizes)}")
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    return nn.Sequential(*layers[:-1])


class ImageDecoder(nn.Module):
    """Maps vectors ``(B, in_dim)`` to images ``(B, C, H, W)`` of any requested size.

    ``Linear`` to a ``(width, 4, 4)`` map, then stride-2 transposed convolutions (halving the
    width each time) up to ``size``, a 3×3 convolution to ``channels``, and a bilinear resize
    when the requested ``(H, W)`` differs from ``size``.

    Args:
        in_dim: Size of the input vectors.
        channels: Image channels ``C``.
        size: Side the convolutions produce (a power of two, at least 4).
        width: Channels of the first map.

    Example:
        >>> import torch
        >>> ImageDecoder(8, channels=1, size=16, width=16)(torch.zeros(2, 8), (12, 12)).shape
        torch.Size([2, 1, 12, 12])
    """

    def __init__(self, in_dim: int, channels: int, size: int = 32, width: int = 64) -> None:
        super().__init__()
        if size < 4 or size & (size - 1):
            raise ValueError(f"decoder size must be a power of two >= 4, got {size}")
        if in_dim < 1 or channels < 1 or width < 1:
            raise ValueError(
                f"in_dim, channels and width must be >= 1, got {in_dim}, {channels}, {width}"
            )
        self.size, self.width = size, width
        self.project = nn.Linear(in_dim, width * 16)
        layers: list[nn.Module] = []
        current = width
        for _ in range(int(math.log2(size // 4))):
            following = max(8, current // 2)
            layers += [nn.ConvTranspose2d(current, following, 4, stride=2, padding=1), nn.ReLU()]
            current = following
        layers.append(nn.Conv2d(current, channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, codes: Tensor, image_size: tuple[int, int] | None = None) -> Tensor:
        """Args: codes ``(B, in_dim)``; image_size ``(H, W)`` (default ``(size, size)``)."""
        maps = F.relu(self.project(codes)).view(len(codes), self.width, 4, 4)  # (B, w, 4, 4)
        images = self.layers(maps)  # (B, C, size, size)
        if image_size is not None and tuple(image_size) != tuple(images.shape[-2:]):
            shrink = image_size[0] < images.shape[-2]
            images = F.interpolate(  # in float32: antialiased resizing has no bf16 kernel
                images.float(), size=image_size, mode="bilinear", align_corners=False,
                antialias=shrink,
            )  # fmt: skip
        return images
