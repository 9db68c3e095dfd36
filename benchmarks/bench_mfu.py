"""Model-FLOP utilization: each training step's FLOPs per second against the machine's
measured matrix-multiply peak, per backbone, method, batch, precision and thread count.

* **Peak.** Square ``n × n`` matrix products in float32 and in bfloat16 for each ``n`` of
  ``--matmul-sizes``: ``2n³`` FLOPs each, the median of ``--peak-repeats`` timed products
  after one untimed one; the peak of a precision is the best of its sizes (a size whose
  single product takes longer than ``--peak-cap`` seconds ends the sweep for that precision).
  On a CPU without native bf16 matrix arithmetic (no AVX512-BF16, no AMX) the bf16 "peak"
  is what torch's emulation reaches, and the table says so.
* **Step FLOPs.** ``torch.utils.flop_counter.FlopCounterMode`` around one real training
  step (forward of both views, the method's loss, backward, SGD step) of eblearn's method
  with its paper defaults (VICReg: projector 2048×3; SimCLR: 2048, 128) on ``convnet`` (the
  small ConvNet) or ``resnet18`` (CIFAR stem at 32 px). It counts matrix products and
  convolutions, forward and backward (normalizations, activations and the optimizer are not
  counted, as usual for MFU).
* **Step time.** The float32 step and the bf16-autocast step (model and views in
  ``channels_last`` for convolutional backbones) from ``bench_precision.make_steps``, timed
  in alternation: median of ``--repeats`` after ``--warmup`` untimed steps, wall-clock
  (CUDA synchronized).

MFU = step FLOPs / step seconds / peak FLOP/s of that precision (bf16 steps against the bf16
peak, float32 steps against the float32 peak).

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
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, cpu_model, interleaved_runs, markdown_table, timed
from bench_precision import make_steps

from eblearn.methods import build_method
from eblearn.nn import Backbone
from eblearn.train.precision import native_bf16

DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(
    dtype: torch.dtype, sizes: list[int], repeats: int, device: torch.device, cap: float
) -> tuple[float, int]:
    """The best median FLOP/s of ``n × n`` products over ``sizes``, and the ``n`` reaching it.

    The sweep stops after a size whose untimed product took more than ``cap`` seconds.
    """
    sync = device.type == "cuda"
    best = (0.0, 0)
    generator = torch.Generator().manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
        b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
        product = functools.partial(torch.mm, a, b)
        first = timed(product, sync=sync)
        seconds = statistics.median(timed(product, sync=sync) for _ in range(repeats))
        best = max(best, (2 * n**3 / seconds, n))
        del a, b
        if first > cap:
            break
    return best


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
            peak, n = matmul_peak(dtype, sizes, args.peak_repeats, device, args.peak_cap)
            peaks[name] = peak
            label = bf16_label if name == "bf16" else "float32"
            peak_rows.append([machine, label, f"{n}", f"{peak / 1e9:.1f}"])
            print(" | ".join(map(str, peak_rows[-1])), flush=True)
        for backbone in args.backbones.split(","):
            for method in args.methods.split(","):
                for batch in (int(b) for b in args.batches.split(",")):
                    torch.manual_seed(0)
                    steps, _ = make_steps(
                        backbone, batch, args.image_size, 0, device,
                        build=functools.partial(_build, method, heads),
                    )  # fmt: skip
                    flops = step_flops(steps["32"])
                    seconds, _ = interleaved_runs(steps, args.repeats, warmup=args.warmup)
                    for precision, key in (("float32", "32"), ("bf16", "bf16-mixed")):
                        label = "float32" if key == "32" else "bf16 autocast + channels_last"
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
                            ]
                        )
                        print(" | ".join(map(str, rows[-1])), flush=True)
    peak_table = markdown_table(
        ["machine", "precision", "best n", "matmul peak GFLOP/s (2n³ / median s)"], peak_rows
    )
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
        ],
        rows,
    )
    note = (
        f"Device {device} ({where}), torch {torch.__version__}; native bf16: {native}"
        + ("" if native else " (the bf16 peak and steps run on emulated bf16)")
        + ("; float32 products without TF32" if cuda and not _tf32() else "")
        + f". Peak: {args.matmul_sizes} square products, median of {args.peak_repeats}; "
        f"steps: median of {args.repeats} after {args.warmup} warm-up, wall-clock; "
        f"step FLOPs by FlopCounterMode (forward + backward)."
    )
    print(f"\n{note}\n\n{peak_table}\n\n{table}", flush=True)
    if args.append:
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
