"""Buffers that DDP need not broadcast: stores every process already holds identical.

``DistributedDataParallel`` (``broadcast_buffers=True``, Lightning's default) sends every
buffer of rank 0 to the others before each forward pass, so that state computed from each
process's own batch (batch-norm running statistics) stays the same everywhere. A store of
past embeddings that gathers every process's embeddings before it writes
(:class:`~eblearn.nn.FeatureQueue` and :class:`~eblearn.nn.MemoryBank` built with
``gather_distributed=True``: MoCo's queue, a memory bank) is updated with the same rows, in
the same order, on every process, from the same initial contents (every process builds the
method from the same seed, or loads the same checkpoint). Broadcasting it would resend, at
every step, ``K·D`` floats (MoCo v2: 65536 × 128, 32 MB) or ``N·D`` (a memory bank over the
data set) that the receivers hold already. :func:`skip_replicated_buffers` lists those buffers
in DDP's ignore list; every other buffer is still broadcast. DDP then no longer copies them
from rank 0 when it wraps the module either, so :func:`broadcast_replicated_buffers` does it
once as training starts: the stores start equal even when the processes built them otherwise.
"""

from __future__ import annotations

import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from eblearn._distributed import world_size


def replicated_buffer_names(module: nn.Module) -> list[str]:
    """Qualified names (as ``module.named_buffers()`` gives them) of the buffers that the
    submodules of ``module`` declare identical on every process, through a
    ``replicated_buffers()`` method.

    Example:
        >>> from eblearn.nn import FeatureQueue
        >>> model = nn.ModuleDict({"queue": FeatureQueue(4, 2, gather_distributed=True),
        ...                        "own": FeatureQueue(4, 2), "norm": nn.BatchNorm1d(2)})
        >>> replicated_buffer_names(model)
        ['queue.features', 'queue.pointer', 'queue.count']
    """
    names = []
    for prefix, child in module.named_modules():
        declared = getattr(child, "replicated_buffers", None)
        if callable(declared):
            names += [f"{prefix}.{name}" if prefix else name for name in declared()]
    return names


def skip_replicated_buffers(module: nn.Module) -> list[str]:
    """Adds :func:`replicated_buffer_names` to the names DDP leaves alone in ``module`` (not
    broadcast, not synchronized at construction); returns them.

    Call it before ``module`` is wrapped in ``DistributedDataParallel`` (the training module
    does so in its ``setup``, before Lightning wraps it); it changes nothing else, and nothing
    on one process.
    """
    names = replicated_buffer_names(module)
    ignored = list(getattr(module, "_ddp_params_and_buffers_to_ignore", []))
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        module, sorted(set(ignored) | set(names))
    )
    return names


def broadcast_replicated_buffers(module: nn.Module) -> None:
    """Copies rank 0's :func:`replicated_buffer_names` buffers to every process, in place.

    A collective: every process must call it; nothing happens on one process.
    """
    if world_size() == 1:
        return
    buffers = dict(module.named_buffers())
    for name in replicated_buffer_names(module):
        dist.broadcast(buffers[name], src=0)
