"""Bytes each process exchanges per training step, per method: measured, then extrapolated.

Every method trains one step in ``P`` gloo processes (CPU) under PyTorch's
``DistributedDataParallel``, built as ``eblearn train`` builds it (losses that use batch
statistics gather them from every process). What each process hands to a collective is
counted where it happens:

* **gradients**: DDP's gradient all-reduce, through a DDP communication hook that counts each
  bucket before all-reducing it (the model's trainable parameters, whatever the method);
* **buffers**: DDP's broadcast of the module buffers from rank 0 before each forward
  (``broadcast_buffers``, Lightning's default: batch-norm statistics; stores that gather every
  process's embeddings, such as MoCo's queue, are left out as ``eblearn train`` leaves them
  out, :mod:`eblearn.train.replicated`);
* **method**: the collectives inside the method and its step-end hook, by wrapping
  ``torch.distributed``'s ``all_gather``, ``all_reduce``, ``scatter``, ... (gathered
  embeddings of batch-wide losses and, on gloo, the scatters that send their gradients back;
  MoCo's gathered keys pushed into its queue; SwAV's Sinkhorn sums).

The script measures on ``P`` = 2 and 4 processes, fits each kind's bytes as ``a + b·P`` (a
gathered batch grows with ``P``, a gradient does not) and extrapolates to 8-512 GPUs. Bytes
are *payload*: the size of the tensors a collective returns (an all-gather's result holds
every process's part); on the wire a ring all-reduce moves about twice its payload per
process and an all-gather ``(P-1)/P`` of it. Sizes scale with the batch, the projector and
the backbone given; the defaults are the small heads eblearn uses on digits.

    python benchmarks/bench_comm_volume.py                      # table only
    python benchmarks/bench_comm_volume.py --append             # also BENCHMARKS.md
    python benchmarks/bench_comm_volume.py --methods vicreg,byol --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _report import append_section, markdown_table
from torch.nn.parallel import DistributedDataParallel

from eblearn.train.replicated import skip_replicated_buffers

METHODS = ("vicreg", "simclr", "barlowtwins", "mocov2", "swav", "byol")
PROCESS_COUNTS = (2, 4)
"""Measured on these numbers of processes (the fit needs two)."""
EXTRAPOLATED = (8, 64, 512)
COLLECTIVES = (
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "all_to_all",
    "all_to_all_single",
    "broadcast",
    "scatter",
    "gather",
)
"""``torch.distributed`` functions counted inside the method."""
KINDS = ("gradients", "buffers", "method")
ALL_REDUCE = dist.all_reduce
"""The unwrapped all-reduce, for DDP's gradients (counted by the hook, not as the method's)."""


def tensor_bytes(tensors: Any) -> int:
    """Bytes of a tensor or of a list of tensors."""
    if isinstance(tensors, torch.Tensor):
        return tensors.numel() * tensors.element_size()
    return sum(tensor_bytes(t) for t in tensors)


class Counter:
    """Bytes per kind of exchange, switched on only during the measured step."""

    def __init__(self) -> None:
        self.bytes: dict[str, int] = defaultdict(int)
        self.active = False

    def add(self, kind: str, size: int) -> None:
        if self.active:
            self.bytes[kind] += size


def count_collectives(counter: Counter) -> None:
    """Wraps ``torch.distributed``'s collectives to count the bytes of their results."""
    for name in COLLECTIVES:
        original = getattr(dist, name, None)
        if original is None:
            continue

        def wrapped(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            counter.add("method", tensor_bytes(args[0]))  # the output (or in-place) tensor(s)
            return _original(*args, **kwargs)

        setattr(dist, name, wrapped)


def counting_hook(counter: Counter) -> Callable[..., Any]:
    """A DDP communication hook: counts the bucket, then all-reduces its mean as DDP does."""

    def hook(state, bucket):  # type: ignore[no-untyped-def]  # DDP checks the annotations
        buffer = bucket.buffer()
        counter.add("gradients", tensor_bytes(buffer))
        buffer.div_(dist.get_world_size())
        work = ALL_REDUCE(buffer, async_op=True)
        return work.get_future().then(lambda future: future.value()[0])  # type: ignore[union-attr]

    return hook


def build(method: str, args: argparse.Namespace) -> torch.nn.Module:
    """The method as ``eblearn train`` builds it for several processes."""
    from eblearn.methods.base import METHODS as REGISTRY
    from eblearn.methods.base import build_method
    from eblearn.nn.backbones import build_backbone
    from eblearn.train.config import SMALL_HEADS

    backbone = build_backbone(args.backbone, 3, args.image_size, **dict(args.backbone_arg))
    method_args = dict(SMALL_HEADS.get(method, {}))
    if REGISTRY.get(method).batch_statistics:
        method_args["gather_distributed"] = True
    return build_method(method, backbone, **method_args)


def count_buffer_broadcasts(counter: Counter) -> None:
    """Wraps DDP's broadcast of the module buffers (rank 0's, before each forward)."""
    original = DistributedDataParallel._distributed_broadcast_coalesced

    def broadcast(self: Any, tensors: list[torch.Tensor], *rest: Any) -> Any:
        counter.add("buffers", tensor_bytes(tensors))
        return original(self, tensors, *rest)

    DistributedDataParallel._distributed_broadcast_coalesced = broadcast  # type: ignore[method-assign]


def measure_methods(
    methods: list[str], args: argparse.Namespace, counter: Counter
) -> dict[str, dict[str, int]]:
    """Bytes per kind of one training step of each method, in the running process group.

    The counters must be installed (:func:`count_collectives`, :func:`count_buffer_broadcasts`).
    """
    results: dict[str, dict[str, int]] = {}
    for method in methods:
        torch.manual_seed(0)
        model = build(method, args)
        skip_replicated_buffers(model)  # as the training module does before Lightning wraps it
        ddp = DistributedDataParallel(model, broadcast_buffers=True)
        ddp.register_comm_hook(None, counting_hook(counter))
        views = [torch.randn(args.batch_size, 3, args.image_size, args.image_size)] * 2
        counter.bytes.clear()
        counter.active = True
        ddp(views)["loss"].backward()
        model.on_step_end(0, 100)  # queue pushes (MoCo's gathered keys), momentum updates
        counter.active = False
        results[method] = dict(counter.bytes)
    return results


def measure(rank: int, world_size: int, port: int, args: argparse.Namespace, out: str) -> None:
    """One step of every method on this rank; rank 0 writes the bytes per method and kind."""
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    warnings.simplefilter("ignore", FutureWarning)  # torch's deprecations, once per process
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    counter = Counter()
    count_buffer_broadcasts(counter)
    count_collectives(counter)
    results = measure_methods(args.methods, args, counter)
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fit_line(points: dict[int, int]) -> tuple[float, float]:
    """``(a, b)`` of ``bytes = a + b·P`` through the two measured process counts."""
    (p1, y1), (p2, y2) = sorted(points.items())
    slope = (y2 - y1) / (p2 - p1)
    return y1 - slope * p1, slope


def human(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS), type=lambda s: s.split(","))
    parser.add_argument("--backbone", default="convnet")
    parser.add_argument(
        "--backbone-arg",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=")),
        help="KEY=INT, e.g. width=32",
    )
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64, help="images per process")
    parser.add_argument("--append", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    args.backbone_arg = [(k, int(v)) for k, v in args.backbone_arg]
    measured: dict[int, dict[str, dict[str, int]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes in PROCESS_COUNTS:
            out = str(Path(folder) / f"{processes}.pt")
            mp.spawn(measure, args=(processes, free_port(), args, out), nprocs=processes)
            measured[processes] = torch.load(out, weights_only=False)
    header = ["method", *[f"{k} (P=2)" for k in KINDS], "total P=2", "total P=4"]
    header += [f"total P={p} (extrapolated)" for p in EXTRAPOLATED]
    rows = []
    for method in args.methods:
        per_kind = {
            kind: {p: measured[p][method].get(kind, 0) for p in PROCESS_COUNTS} for kind in KINDS
        }
        lines = {kind: fit_line(points) for kind, points in per_kind.items()}
        row: list[object] = [method, *[human(per_kind[k][2]) for k in KINDS]]
        row += [human(sum(per_kind[k][p] for k in KINDS)) for p in PROCESS_COUNTS]
        row += [human(sum(a + b * p for a, b in lines.values())) for p in EXTRAPOLATED]
        rows.append(row)
    table = markdown_table(header, rows)
    backbone = f"{args.backbone} {dict(args.backbone_arg) or ''}".strip()
    body = (
        f"Payload bytes per process per training step (tensors handed to collectives), "
        f"{backbone} at {args.image_size} px, {args.batch_size} images per process, two "
        f"views, the small heads of the digits recipe; measured on gloo with 2 and 4 "
        f"processes, fitted as a + b·P, extrapolated. A ring all-reduce moves about twice its "
        f"payload per process on the wire.\n\n{table}"
    )
    print(body)
    if args.append:
        append_section("Communication volume per step, per method", body)


if __name__ == "__main__":
    main()
