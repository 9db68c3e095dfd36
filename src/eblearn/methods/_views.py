"""Helpers shared by the joint-embedding methods."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def encode_together(network: nn.Module, views: Sequence[Tensor]) -> list[Tensor]:
    """``network(view)`` for each view, running views of the same shape as one batch.

    One call per resolution instead of one per view, as SwAV's multi-crop does; batch
    normalization then sees the views of one resolution together. (On CPUs, two batches of
    ``B`` can be cheaper than one of ``2B``; the gain is in the many small crops.)

    Returns:
        One output ``(B, ...)`` per view, in the order of ``views``.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, view in enumerate(views):
        groups.setdefault(tuple(view.shape[1:]), []).append(i)
    outputs: list[Tensor | None] = [None] * len(views)
    for members in groups.values():
        joint = network(torch.cat([views[i] for i in members]))  # (len(members)·B, ...)
        for i, part in zip(members, joint.chunk(len(members))):
            outputs[i] = part
    return outputs  # type: ignore[return-value]
