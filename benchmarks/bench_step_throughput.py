"""Training-step throughput of each joint-embedding method: eblearn against the same method
assembled from lightly's heads and losses, on the same backbone, batch, views and device.

A step is forward + backward + optimizer step + the method's end-of-step work (momentum
update, queue push). The views are drawn once beforehand, so augmentation is not timed. The
implementations are timed in turn within each repetition (interleaved), in 3 rounds of
freshly built modules created in rotated order, and the table shows medians over all
repetitions. Time is this process's CPU time on one thread (``process_time``):
on a machine shared with other work, wall-clock time mostly measures the neighbours, while
CPU time measures the work done; images/s are batch ÷ CPU seconds per step.

* ``ratio`` = eblearn images/s ÷ lightly images/s (target ≥ 1.0);
* ``eblearn bf16``: eblearn's step in bf16 autocast with ``channels_last`` (``--bf16``, by
  default where the device has native bf16); ``auto picks`` is what ``--precision auto``
  keeps from eblearn's two medians and ``auto ÷ lightly`` its speed against lightly's default
  (float32), the issue's "eblearn auto vs eblearn float32 vs lightly";
* ``overhead`` = eblearn step time ÷ the backbone's own step time − 1, where the backbone's
  step is forward + backward of the backbone alone on the same views (plus the momentum
  backbone's forward for methods that have one) with the same optimizer (target < 10% on CPU).

    python benchmarks/bench_step_throughput.py                 # every method, CPU
    python benchmarks/bench_step_throughput.py --methods simclr,byol --reps 9 --append
    python benchmarks/bench_step_throughput.py --device cuda   # wall-clock, synchronized

Where lightly is not installed (the GPU machine), its columns read n/a and the script says so;
eblearn's overhead over the backbone alone is still measured. On ``--device cuda`` the time
is wall-clock with CUDA synchronized around each repetition (CPU time means nothing there).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from _joint import (
    EBLEARN_ONLY,
    LIGHTLY_METHODS,
    Recipe,
    eblearn_method,
    lightly_method,
    momentum_networks,
    views_recipe,
)
from _report import append_section
from torch import Tensor, nn

from eblearn.methods._views import encode_together
from eblearn.nn import ConvNet, build_backbone
from eblearn.train.precision import (
    BF16_MARGIN,
    native_bf16,
    pick,
    to_channels_last,
    uses_channels_last,
)

ROOT = Path(__file__).resolve().parent.parent


JOINT_FORWARD = ("swav", "deepclusterv2")
"""Methods whose eblearn version runs same-size views through the backbone as one batch."""


class BackboneOnly(nn.Module):
    """The backbone's share of a method's step: its forward and backward on every view (as
    one batch per view size where the method does so), and the momentum backbone's forward
    on ``momentum_views`` views."""

    def __init__(
        self, backbone: nn.Module, online_views: int, momentum_views: int, joint: bool
    ) -> None:
        super().__init__()
        self.encoder = backbone
        self.target = copy.deepcopy(backbone).requires_grad_(False) if momentum_views else None
        self.online_views, self.momentum_views = online_views, momentum_views
        self.joint = joint

    def forward(self, views: Sequence[Tensor]) -> dict[str, Tensor]:
        online = views[: self.online_views]
        features = (
            encode_together(self.encoder, online) if self.joint else map(self.encoder, online)
        )
        loss = sum(f.pow(2).mean() for f in features)
        if self.target is not None:
            with torch.no_grad():
                for v in views[len(views) - self.momentum_views :]:
                    self.target(v)
        return {"loss": loss}  # type: ignore[dict-item]

    def on_step_end(self, step: int, total_steps: int) -> None:
        pass


def lightly_installed() -> bool:
    """Whether lightly can be imported (the GPU machine has only torch and its kin)."""
    return importlib.util.find_spec("lightly") is not None


def step_timer(
    module: nn.Module,
    views: list[Tensor],
    device: torch.device | None = None,
    wall: bool = False,
    bf16: bool = False,
) -> Callable[[int], float]:
    """A function running ``n`` training steps of ``module`` and returning seconds per step:
    this process's CPU time on the CPU (wall-clock with ``wall``), synchronized wall-clock
    time on CUDA. With ``bf16``, as ``--precision bf16-mixed`` trains: bf16 autocast, and the
    model and views in ``channels_last`` layout where the model is convolutional."""
    device = device or torch.device("cpu")
    module.to(device)
    views = [v.to(device) for v in views]
    if bf16 and uses_channels_last("bf16-mixed", module):
        module.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
        views = to_channels_last(views)
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    cuda = device.type == "cuda"
    clock = time.perf_counter if cuda or wall else time.process_time
    optimizer = torch.optim.SGD(
        [p for p in module.parameters() if p.requires_grad], lr=1e-3, momentum=0.9
    )
    counter = [0]

    def run(n: int) -> float:
        if cuda:
            torch.cuda.synchronize(device)
        start = clock()
        for _ in range(n):
            with precision:
                loss = module(views)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            counter[0] += 1
            module.on_step_end(counter[0], 10_000)
        if cuda:
            torch.cuda.synchronize(device)
        return (clock() - start) / n

    return run


def build_timers(
    name: str,
    backbone: nn.Module,
    views: list[Tensor],
    recipe: Recipe,
    order: list[str],
    device: torch.device | None = None,
    wall: bool = False,
) -> dict[str, Callable[[int], float]]:
    """Fresh modules for each implementation, created in ``order``."""
    builders: dict[str, Callable[[], nn.Module]] = {
        "eblearn": lambda: eblearn_method(name, copy.deepcopy(backbone), recipe),
        "eblearn_bf16": lambda: eblearn_method(name, copy.deepcopy(backbone), recipe),
        "backbone": lambda: BackboneOnly(
            copy.deepcopy(backbone),
            1 if name == "mocov2" else len(views),  # MoCo v2: one query view per step
            momentum_networks(name),
            name in JOINT_FORWARD,
        ),
        "lightly": lambda: lightly_method(name, copy.deepcopy(backbone), recipe),
    }
    return {
        key: step_timer(builders[key](), views, device, wall, bf16=key == "eblearn_bf16")
        for key in order
    }


def make_backbone(name: str, width: int, size: int) -> nn.Module:
    """The measured backbone: eblearn's ConvNet of ``width``, or a registered one by name
    built for ``size``-px images as ``eblearn train`` builds it (ResNet-18 with the small-image
    stem up to 64 px; until 2026-12-04 this built the ImageNet stem, whose 32-px feature maps
    are 16× smaller, so earlier ResNet-18 rows time a lighter network)."""
    if name == "convnet":
        return ConvNet(3, width=width)
    return build_backbone(name, 3, size)


def measure(name: str, args: argparse.Namespace) -> dict[str, float | None]:
    """Median seconds per step of each implementation, over ``args.rounds`` rounds of fresh
    modules (created in a rotated order, so that no side keeps a lucky memory layout) and
    ``args.reps`` interleaved repetitions in all."""
    torch.manual_seed(0)
    backbone = make_backbone(args.backbone, args.width, args.size)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    views = views_recipe(name, args.size, 3)(images, generator=torch.Generator().manual_seed(0))
    recipe = Recipe(hidden=args.hidden, out=args.out)
    with_lightly = name in LIGHTLY_METHODS and not args.no_lightly and lightly_installed()
    keys = ["eblearn", "backbone"] + (["eblearn_bf16"] if args.bf16 else [])
    keys += ["lightly"] if with_lightly else []
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for round_ in range(args.rounds):
        order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
        timers = build_timers(
            name, backbone, views, recipe, order, torch.device(args.device), args.wall
        )
        for run in timers.values():
            run(1)  # warm-up
        for rep in range(max(1, args.reps // args.rounds)):
            for key in order if rep % 2 == 0 else list(reversed(order)):
                samples[key].append(timers[key](args.steps))
    seconds = {k: statistics.median(v) for k, v in samples.items()}
    result: dict[str, float | None] = {
        "eblearn": args.batch / seconds["eblearn"],
        "lightly": args.batch / seconds["lightly"] if "lightly" in seconds else None,
        "backbone": args.batch / seconds["backbone"],
        "overhead": seconds["eblearn"] / seconds["backbone"] - 1,
        "lightly_overhead": (
            seconds["lightly"] / seconds["backbone"] - 1 if "lightly" in seconds else None
        ),
    }
    result["ratio"] = result["eblearn"] / result["lightly"] if result["lightly"] else None
    result["eblearn_bf16"] = args.batch / seconds["eblearn_bf16"] if args.bf16 else None
    result["auto_bf16"] = None  # float32: auto does not probe without native bf16
    if args.bf16:  # what --precision auto keeps: bf16 only at >= BF16_MARGIN faster
        result["auto_bf16"] = pick(seconds["eblearn"], seconds["eblearn_bf16"]) == "bf16-mixed"
    auto = result["eblearn_bf16"] if result["auto_bf16"] else result["eblearn"]
    result["auto_ratio"] = auto / result["lightly"] if result["lightly"] and auto else None
    return result


def table(rows: dict[tuple[str, str, int, int], dict[str, float | None]]) -> str:
    def fmt(value: float | None, pattern: str) -> str:
        return "n/a" if value is None else pattern.format(value)

    lines = [
        "| method | backbone | batch | threads | eblearn img/s | lightly img/s | ratio "
        "| backbone-only img/s | eblearn overhead | lightly overhead | eblearn bf16 img/s "
        "| auto picks | auto ÷ lightly |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for (name, backbone, batch, threads), r in rows.items():
        picks = "n/a" if r["auto_bf16"] is None else "bf16" if r["auto_bf16"] else "float32"
        lines.append(
            f"| {name} | {backbone} | {batch} | {threads} | {fmt(r['eblearn'], '{:.0f}')} "
            f"| {fmt(r['lightly'], '{:.0f}')} | {fmt(r['ratio'], '{:.2f}')} "
            f"| {fmt(r['backbone'], '{:.0f}')} | {fmt(r['overhead'], '{:+.1%}')} "
            f"| {fmt(r['lightly_overhead'], '{:+.1%}')} | {fmt(r['eblearn_bf16'], '{:.0f}')} "
            f"| {picks} | {fmt(r['auto_ratio'], '{:.2f}')} |"
        )
    return "\n".join(lines)


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(LIGHTLY_METHODS + EBLEARN_ONLY))
    parser.add_argument("--backbones", default="convnet", help="convnet and/or resnet18, ...")
    parser.add_argument("--batch", type=int_list, default=[32], help="images per step: 32,64")
    parser.add_argument("--size", type=int, default=32, help="image side (32)")
    parser.add_argument("--width", type=int, default=32, help="ConvNet base width (32)")
    parser.add_argument("--hidden", type=int, default=512, help="head hidden size (512)")
    parser.add_argument("--out", type=int, default=128, help="embedding size (128)")
    parser.add_argument("--reps", type=int, default=21, help="interleaved repetitions (21)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of fresh modules (3)")
    parser.add_argument("--steps", type=int, default=2, help="steps per repetition (2)")
    parser.add_argument("--threads", type=int_list, default=[1], help="torch threads: 1,2")
    parser.add_argument("--wall", action="store_true", help="wall-clock, not CPU time")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cpu)")
    parser.add_argument("--no-lightly", action="store_true", help="skip lightly's rows")
    parser.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="also time eblearn in bf16 autocast + channels_last (auto: where the device has "
        "native bf16 matrix arithmetic, as --precision auto probes it)",
    )
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    args.bf16 = args.bf16 == "on" or (
        args.bf16 == "auto" and native_bf16(torch.device(args.device))
    )
    if not args.no_lightly and not lightly_installed():
        print("lightly is not installed here: its columns read n/a (eblearn vs backbone only)")
    rows = {}
    settings = argparse.Namespace(**vars(args))
    for threads in args.threads:
        torch.set_num_threads(threads)
        for backbone in [b.strip() for b in args.backbones.split(",") if b.strip()]:
            for batch in args.batch:
                for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
                    settings.backbone, settings.batch = backbone, batch
                    key = (name, backbone, batch, threads)
                    rows[key] = measure(name, settings)
                    print(f"{key}: {rows[key]}", flush=True)
    text = table(rows)
    print(text)
    if args.append:
        cuda = torch.device(args.device).type == "cuda"
        clock = (
            "wall-clock, CUDA synchronized"
            if cuda
            else "wall-clock time"
            if args.wall
            else "CPU time of the process, not wall-clock"
        )
        lightly = "" if lightly_installed() and not args.no_lightly else " lightly not run: n/a."
        precision = (
            " eblearn is also timed in bf16 autocast + channels_last; `auto picks` is what "
            f"`--precision auto` keeps from the two medians (bf16 at ≥ {BF16_MARGIN}× faster) "
            "and `auto ÷ lightly` its speed against lightly's float32 default."
            if args.bf16
            else " No native bf16 on this device: `--precision auto` is float32 here, the "
            "eblearn column."
        )
        append_section(
            f"Joint-embedding training-step throughput: eblearn vs lightly ({args.device})",
            f"Backbones {args.backbones} (ConvNet width {args.width}) on {args.size}-px views, "
            f"heads {args.hidden} wide, embeddings {args.out}; SGD; float32 unless "
            "said. Medians of "
            f"{args.reps} interleaved repetitions in {args.rounds} rounds of fresh modules of "
            f"{args.steps} steps; views drawn beforehand (augmentation not timed); {clock}."
            f"{lightly}{precision}\n\n{text}",
            device=args.device,
        )


if __name__ == "__main__":
    main()
