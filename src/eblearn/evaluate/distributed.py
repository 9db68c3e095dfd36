"""Feature extraction shared by the processes of a distributed run.

Each of the ``P`` processes encodes one contiguous shard of the images (the first
``N mod P`` shards hold one image more, as ``torch.tensor_split`` cuts them), and the shards
are all-gathered back in order, so every process ends with the same ``(N, F)`` features a
single process would compute, in ``1/P`` of the encoder time. The probes then run on those
features unchanged: kNN and the linear probe give the figures of one process. The same holds
for the kNN points of a training curve (:func:`knn_accuracy_distributed`, ``--eval-every``),
measured by every process of the run while training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from eblearn._distributed import gather_uneven, rank, world_size
from eblearn.data.images import UNLABELED, DatasetSplits
from eblearn.evaluate.inference import FLOAT32, Inference
from eblearn.evaluate.knn import knn_accuracy
from eblearn.evaluate.protocol import extract_features


def shard_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of ``parts`` contiguous shards of ``range(n)``, sizes differing
    by at most one.

    Raises:
        ValueError: If ``n < 0`` or ``parts < 1``.

    Example:
        >>> shard_bounds(7, 3)
        [(0, 3), (3, 5), (5, 7)]
    """
    if n < 0 or parts < 1:
        raise ValueError(f"need n >= 0 images and parts >= 1 shards, got n={n}, parts={parts}")
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def extract_features_distributed(
    encoder: nn.Module,
    images: Tensor,
    transform: Callable[[Tensor], Tensor],
    batch_size: int = 512,
    device: torch.device | str | None = None,
    inference: Inference = FLOAT32,
) -> Tensor:
    """:func:`~eblearn.evaluate.protocol.extract_features` of ``images`` ``(N, C, H, W)``
    (in ``inference``'s precision and layout), each process encoding its shard
    (:func:`shard_bounds`); returns all ``(N, F)`` features, on the CPU, on every process.

    Every process of the default group must call it with the same images (a collective).
    Without an initialized process group it is ``extract_features``.
    """
    size = world_size()
    if size == 1:
        return extract_features(encoder, images, transform, batch_size, device, inference)
    start, stop = shard_bounds(len(images), size)[rank()]
    mine = extract_features(encoder, images[start:stop], transform, batch_size, device, inference)
    if len(mine) == 0:  # more processes than images: learn the feature size from one image
        probe = extract_features(encoder, images[:1], transform, batch_size, device, inference)
        mine = probe[:0]
    # gloo gathers CPU tensors; NCCL needs them on this process's GPU
    on = torch.device(device) if device is not None else next(encoder.parameters()).device
    comm_device = on if "nccl" in str(torch.distributed.get_backend()) else torch.device("cpu")
    parts = gather_uneven(mine.to(comm_device))
    return torch.cat([part.cpu() for part in parts])


def knn_accuracy_distributed(
    encoder: nn.Module,
    data: DatasetSplits,
    transform: Callable[[Tensor], Tensor],
    k: int = 20,
    temperature: float = 0.07,
    device: torch.device | str | None = None,
    inference: Inference = FLOAT32,
) -> float:
    """The weighted cosine kNN test accuracy of ``encoder`` on ``data``
    (:func:`~eblearn.evaluate.knn.knn_accuracy`), its features extracted by every process.

    The bank is the labeled training images (``label != -1``), the queries the test images;
    both go through :func:`extract_features_distributed` (in ``inference``'s precision and
    layout), so each of the ``P`` processes
    encodes ``1/P`` of them and all of them return the accuracy one process computes. Every
    process of the default group must call it with the same data (a collective); without an
    initialized process group it is one process's kNN.

    Raises:
        ValueError: If ``data``'s training split has no labeled image (the bank is empty).
    """
    train, test = data.train, data.test
    keep = train.labels != UNLABELED
    if not bool(keep.any()):
        raise ValueError(f"the kNN needs labeled training images, and {data.name!r} has none")
    bank = extract_features_distributed(
        encoder, train.images[keep], transform, device=device, inference=inference
    )
    queries = extract_features_distributed(
        encoder, test.images, transform, device=device, inference=inference
    )
    return knn_accuracy(bank, train.labels[keep], queries, test.labels, k, temperature)
