"""Model-FLOP utilization: each training step's FLOPs per second against the machine's
measured matrix-multiply peak, per backbone, method, batch, precision and thread count.

* **Peak.** Square ``n × n`` matrix products in float32 and in bfloat16 for each ``n`` of
  ``--matmul-sizes`` (``2n³`` FLOPs each), and a 3×3 convolution 256→256 channels on 32²
  maps in ``channels_last`` for each batch of ``--conv-batches``: the median of
  ``--peak-repeats`` timed calls after one untimed one. The peak of a precision is the best
  of these (on an AMD CPU, oneDNN's convolutions can outrun the BLAS library's products, and
  a peak below what a step reaches would put MFU above 100%). A size whose call would take
  longer than ``--peak-cap`` seconds, by the last size's time, ends that sweep.
  On a CPU without native bf16 matrix arithmetic (no AVX512-BF16, no AMX) the bf16 "peak"
  is what torch's emulation reaches, and the table says so.
* **Step FLOPs.** ``torch.utils.flop_counter.FlopCounterMode`` around one real training
  step (forward of both views, the method's loss, backward, SGD step) of eblearn's method
  with its paper defaults (VICReg: projector 2048×3; SimCLR: 2048, 128) on ``convnet`` (the
  small ConvNet) or ``resnet18`` (CIFAR stem at 32 px). It counts matrix products and
  convolutions, forward and backward (normalizations, activations and the optimizer are not
  counted, as usual for MFU).
* **Step time.** The float32 step, contiguous and with model and views in ``channels_last``,
  and the bf16-autocast step (in ``channels_last`` for convolutional backbones) from
  ``bench_precision.make_steps``, timed in alternation: median of ``--repeats`` after
  ``--warmup`` untimed steps, wall-clock (CUDA synchronized).

MFU = step FLOPs / step seconds / peak FLOP/s of that precision (bf16 steps against the bf16
peak, float32 steps against the float32 peak); the last column puts every step against the
float32 peak. Where bf16 is emulated, its square-matmul "peak" can be lower than what a
step's bf16 convolutions reach (MFU above 100%): emulation computes in float32, so there the
float32 peak is the machine's real bound.

    python benchmarks/bench_mfu.py                                  # CPU, current threads
    python benchmarks/bench_mfu.py --threads 1,2 --batches 64 --append
    python benchmarks/bench_mfu.py --device cuda --matmul-sizes 4096,8192 --append
    python benchmarks/bench_mfu.py --smoke                          # seconds: checks the script
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, cpu_model, interleaved_runs, markdown_table, timed
from bench_precision import FLOAT32_CL, make_steps

from eblearn.methods import build_method
from eblearn.nn import Backbone
from eblearn.train.precision import BF16, FLOAT32, native_bf16

DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16}
SETTINGS = {
    FLOAT32: ("float32", "float32"),
    FLOAT32_CL: ("float32", "float32 + channels_last"),
    BF16: ("bf16", "bf16 autocast + channels_last"),
}
"""The steps timed, by ``make_steps`` setting: the peak each is held against, and its label
(float32 in both layouts, as ``--precision auto`` measures them since 2026-12-07)."""


def _sweep(
    make: Callable[[int], tuple[Callable[[], object], float]],
    sizes: list[int],
    repeats: int,
    sync: bool,
    cap: float,
) -> tuple[float, int]:
    """The best median FLOP/s of ``make(size)`` (a call and its FLOPs) over ``sizes``
    (ascending), and the size reaching it.

    The sweep stops before a size whose call would take more than ``cap`` seconds, going by
    the last size's time scaled by the FLOPs (an emulated bf16 product on a CPU runs at about
    one GFLOP/s: 2048² would take 20 s a call); the smallest size is always measured.
    """
    best, last = (0.0, 0), (0.0, 0.0)
    for size in sorted(sizes):
        call, flops = make(size)
        if last[1] and last[0] * flops / last[1] > cap:
            break
        timed(call, sync=sync)  # untimed: allocation, kernel choice
        seconds = statistics.median(timed(call, sync=sync) for _ in range(repeats))
        best, last = max(best, (flops / seconds, size)), (seconds, flops)
    return best


def matmul_peak(
    dtype: torch.dtype, sizes: list[int], repeats: int, device: torch.device, cap: float
) -> tuple[float, int]:
    """The best median FLOP/s of ``n × n`` products (``2n³`` FLOPs) over ``sizes``, and the
    ``n`` reaching it."""
    generator = torch.Generator().manual_seed(0)

    def make(n: int) -> tuple[Callable[[], object], float]:
        a, b = torch.randn(2, n, n, generator=generator).to(device=device, dtype=dtype)
        return functools.partial(torch.mm, a, b), 2.0 * n**3

    return _sweep(make, sizes, repeats, device.type == "cuda", cap)


def conv_peak(
    dtype: torch.dtype,
    batches: list[int],
    repeats: int,
    device: torch.device,
    cap: float,
    channels: int = 256,
    side: int = 32,
) -> tuple[float, int]:
    """The best median FLOP/s of a 3×3 convolution, ``channels`` to ``channels`` on
    ``side``² maps in ``channels_last`` layout (``2·batch·side²·channels²·9`` FLOPs), over
    ``batches``, and the batch reaching it: the kernels a ResNet step spends its time in,
    which on some CPUs run faster than the BLAS library's square products."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(channels, channels, 3, 3, generator=generator) / (3 * channels**0.5)
    weight = weight.to(device=device, dtype=dtype, memory_format=torch.channels_last)

    def make(batch: int) -> tuple[Callable[[], object], float]:
        x = torch.randn(batch, channels, side, side, generator=generator)
        x = x.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        call = functools.partial(torch.nn.functional.conv2d, x, weight, padding=1)
        return call, 2.0 * batch * side**2 * channels**2 * 9

    return _sweep(make, batches, repeats, device.type == "cuda", cap)


def step_flops(step) -> int:
    """FLOPs of one call of ``step`` (forward, backward and optimizer step), as counted by
    ``FlopCounterMode`` (matrix products and convolutions)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="convnet,resnet18")
    parser.add_argument("--methods", default="vicreg,simclr")
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--threads", default="", help="CPU thread counts, e.g. 1,2 (current)")
    parser.add_argument("--matmul-sizes", default="1024,2048,4096", help="n of the n×n products")
    parser.add_argument(
        "--conv-batches", default="8,32", help="batches of the 3×3 conv peak (8,32)"
    )
    parser.add_argument("--peak-repeats", type=int, default=5)
    parser.add_argument("--peak-cap", type=float, default=3.0, help="seconds (3): stop the sweep")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per precision (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per precision (1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="convnet, VICReg with a 64-wide projector, batch 8, 16 px, 128² products",
    )
    parser.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args()
    if args.smoke:
        args.backbones, args.methods, args.batches, args.image_size = "convnet", "vicreg", "8", 16
        args.matmul_sizes, args.peak_repeats, args.repeats, args.warmup = "128", 1, 1, 0
        args.conv_batches = "2"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    cuda = device.type == "cuda"
    native = native_bf16(device)
    if cuda:
        where = torch.cuda.get_device_name(device)
        thread_counts = [torch.get_num_threads()]
    else:
        where = cpu_model()
        thread_counts = [int(t) for t in args.threads.split(",") if t] or [torch.get_num_threads()]
    sizes = [int(n) for n in args.matmul_sizes.split(",")]
    conv_batches = [int(b) for b in args.conv_batches.split(",")]
    conv_shape = (32, 16) if args.smoke else (256, 32)  # channels, side
    heads: dict[str, object] = (
        {"projector_dims": (64, 64)} if args.smoke else {}
    )  # else the paper's defaults
    bf16_label = "bf16" if native else "bf16 (emulated: no native bf16)"
    peak_rows: list[list[object]] = []
    rows: list[list[object]] = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        machine = where if cuda else f"{where}, {threads} thread(s)"
        peaks = {}
        for name, dtype in DTYPES.items():
            label = bf16_label if name == "bf16" else "float32"
            matmul, n = matmul_peak(dtype, sizes, args.peak_repeats, device, args.peak_cap)
            conv, batch = conv_peak(
                dtype, conv_batches, args.peak_repeats, device, args.peak_cap, *conv_shape
            )
            peaks[name] = max(matmul, conv)
            for kernel, rate in (
                (f"{n}×{n} @ {n}×{n}", matmul),
                (
                    f"3×3 conv {conv_shape[0]}→{conv_shape[0]}, {conv_shape[1]}² px, batch {batch}",
                    conv,
                ),
            ):
                mark = " (peak)" if rate == peaks[name] else ""
                peak_rows.append([machine, label, kernel, f"{rate / 1e9:.1f}{mark}"])
                print(" | ".join(map(str, peak_rows[-1])), flush=True)
        for backbone in args.backbones.split(","):
            for method in args.methods.split(","):
                for batch in (int(b) for b in args.batches.split(",")):
                    torch.manual_seed(0)
                    steps, _ = make_steps(
                        backbone, batch, args.image_size, 0, device,
                        build=functools.partial(_build, method, heads),
                        settings=tuple(SETTINGS),
                    )  # fmt: skip
                    flops = step_flops(steps[FLOAT32])
                    seconds, _ = interleaved_runs(steps, args.repeats, warmup=args.warmup)
                    for key, (precision, label) in SETTINGS.items():
                        achieved = flops / seconds[key]
                        rows.append(
                            [
                                machine,
                                f"{backbone}, {args.image_size} px",
                                method,
                                f"{batch}",
                                label,
                                f"{flops / 1e9:.1f}",
                                f"{1000 * seconds[key]:.0f}",
                                f"{achieved / 1e9:.1f}",
                                f"{peaks[precision] / 1e9:.1f}",
                                f"{100 * achieved / peaks[precision]:.1f}%",
                                f"{100 * achieved / peaks['float32']:.1f}%",
                            ]
                        )
                        print(" | ".join(map(str, rows[-1])), flush=True)
    peak_table = markdown_table(["machine", "precision", "kernel", "GFLOP/s"], peak_rows)
    table = markdown_table(
        [
            "machine",
            "backbone",
            "method",
            "batch",
            "precision",
            "GFLOP/step",
            "ms/step",
            "GFLOP/s",
            "peak GFLOP/s",
            "MFU",
            "of float32 peak",
        ],
        rows,
    )
    note = (
        f"Device {device} ({where}), torch {torch.__version__}; native bf16: {native}"
        + (
            ""
            if native
            else " (the bf16 peak and steps run on emulated bf16: a bf16 MFU above 100% means "
            "torch's emulated bf16 matmul is slower than its bf16 convolutions; the last column, "
            "against the float32 peak, is the real bound)"
        )
        + ("; float32 products without TF32" if cuda and not _tf32() else "")
        + f". Peak: the best of {args.matmul_sizes} square products and 3×3 convolutions "
        f"(batches {args.conv_batches}), median of {args.peak_repeats}; "
        f"steps: median of {args.repeats} after {args.warmup} warm-up, wall-clock; "
        f"step FLOPs by FlopCounterMode (forward + backward)."
    )
    print(f"\n{note}\n\n{peak_table}\n\n{table}", flush=True)
    if args.append and args.smoke:
        print("--append is ignored with --smoke (smoke figures are not measurements)")
    elif args.append:
        append_section(
            "Model-FLOP utilization against the measured matmul peak",
            f"{note}\n\n{peak_table}\n\n{table}",
            device=device,
        )


def _build(method: str, heads: dict[str, object], backbone: Backbone) -> torch.nn.Module:
    return build_method(method, backbone, **heads)


def _tf32() -> bool:
    return bool(torch.backends.cuda.matmul.allow_tf32)


if __name__ == "__main__":
    main()
