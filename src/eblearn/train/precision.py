"""The precision and memory layout of a run, chosen by measurement.

``--precision auto`` trains in bf16 autocast only where that is measurably faster for this
machine, backbone, method, batch and image size, and in float32 everywhere else; with
``memory_format`` ``auto`` (the default) a convolutional encoder's layout, ``channels_last``
or contiguous, is measured with it:

1. Where the device has no native bf16 matrix arithmetic (CPUs without AVX512-BF16 or AMX,
   GPUs before Ampere) bf16 is emulated and slower: only float32 is a candidate. Apple's MPS
   is not probed (float32, contiguous).
2. A short probe times the run's own method on a batch of its own views: forward and
   backward, ``PROBE_WARMUP`` warm-up then ``PROBE_STEPS`` timed steps (fewer when a step is
   slow, see ``PROBE_BUDGET_S``), for each candidate: float32 contiguous, float32
   ``channels_last`` (convolutional encoders), and bf16 autocast, in ``channels_last`` for a
   convolutional encoder. float32 takes ``channels_last`` if it is at least
   ``LAYOUT_MARGIN`` times faster, and bf16 is kept only if its median step is at least
   ``BF16_MARGIN`` times faster than the float32 so chosen. With a single candidate (a
   non-convolutional encoder without native bf16) there is nothing to probe.
3. The decision is cached per machine (CPU model, threads and matrix flags, or GPU name),
   torch version, backbone and its options, method, batch size, image size, memory format
   asked for and device count in ``precision.json`` under
   ``$EBLEARN_CACHE``, else ``$XDG_CACHE_HOME/eblearn``, else ``~/.cache/eblearn``; a second
   run with the same key does not probe again.
4. A run on several machines (``num_nodes > 1``) does not probe: each machine resolves
   ``auto`` on its own, and their measurements could disagree, so it trains in float32
   unless ``--precision bf16-mixed`` is given.

Measured on a 2-core CPU with AMX (see BENCHMARKS.md and ``benchmarks/bench_precision.py``):
a VICReg step on ResNet-18 (batch 64, 32 px) is about 10× faster in bf16 + ``channels_last``,
while the small ConvNet is slower in bf16 (about 0.6×), hence a measurement rather than a rule.
On a 2-core Ice Lake Xeon (AVX-512, no bf16), float32 ``channels_last`` steps were 1.25× (ResNet-18,
batch 64) to 1.53× (ConvNet, batch 256) faster than contiguous ones.

The chosen precision and layout replace ``auto`` in the run's configuration (``32`` or
``bf16-mixed``; ``channels_last`` or ``contiguous``), so ``config.yaml`` says what ran and a
resume reuses it; :class:`PrecisionChoice` holds the measurement. The losses keep their
reductions in float32 under autocast (:mod:`eblearn.losses._float32`). Feature extraction
for the probes follows the run (:func:`inference_setting`): its layout, and bf16 where the
device has it natively.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eblearn._io import write_json
from eblearn.evaluate.inference import Inference
from eblearn.train.config import RunConfig

PROBE_WARMUP = 2
"""Untimed steps before the timed ones (kernel selection, allocator, oneDNN primitives)."""
PROBE_STEPS = 3
"""Timed steps per precision; the median is kept."""
PROBE_BUDGET_S = 20.0
"""Seconds per precision after which the probe stops: a slow step (a large backbone in
float32 on a CPU) is warmed up once and timed once or twice, so the probe stays bounded."""
BF16_MARGIN = 1.15
"""bf16 is chosen only if its step is at least this many times faster than float32's."""
LAYOUT_MARGIN = 1.05
"""float32 takes ``channels_last`` only if its step is at least this many times faster than
a contiguous one (the layout changes no arithmetic; the margin keeps timing noise out)."""
CACHE_ENV = "EBLEARN_CACHE"
CACHE_FILE = "precision.json"
CACHE_VERSION = 2
"""2: entries hold the step time of every setting probed (float32 ``channels_last`` too)."""
SEVERAL_MACHINES = "several machines: not measured (give --precision bf16-mixed to use bf16)"
"""Why a run on several machines trains in float32 under ``auto``: every machine resolves
``auto`` by itself, and measured step times could lead them to different precisions."""
BF16 = "bf16-mixed"
FLOAT32 = "32"
CHANNELS_LAST = "channels_last"
CONTIGUOUS = "contiguous"
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""``/proc/cpuinfo`` flags of native bf16 matrix arithmetic on x86 CPUs."""

Setting = tuple[str, bool]
"""What a probe times: a precision (``"32"`` or ``"bf16-mixed"``) and whether the model and
views are in ``channels_last`` layout."""
StepTimer = Callable[[str, bool], float]
"""Maps a setting (precision, channels_last) to the median seconds of a training step."""


def setting_name(setting: Setting) -> str:
    """``"32"``, ``"32+channels_last"``, ``"bf16-mixed+channels_last"``, ...: a cache key."""
    precision, channels_last = setting
    return f"{precision}+{CHANNELS_LAST}" if channels_last else precision


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trains in, and why.

    Attributes:
        precision: ``32``, ``bf16-mixed`` or ``16-mixed``: what ``RunConfig.precision`` holds.
        channels_last: Whether the model and the views are in ``channels_last`` layout.
        source: ``requested`` (not ``auto``), ``no native bf16`` (nothing to probe),
            ``several machines: ...``, ``measured``, ``cache`` or ``probe failed: <error>``.
        float32_step_s: Median seconds of a contiguous float32 step (``None`` if not timed).
        bf16_step_s: Median seconds of a bf16 step (in ``channels_last`` for a convolutional
            encoder); ``None`` if not timed.
        machine: The CPU model or GPU name the decision was made on.
        float32_channels_last_step_s: Median seconds of a float32 ``channels_last`` step;
            ``None`` if not timed.
    """

    precision: str
    channels_last: bool
    source: str
    float32_step_s: float | None = None
    bf16_step_s: float | None = None
    machine: str = ""
    float32_channels_last_step_s: float | None = None

    @property
    def memory_format(self) -> str:
        """``channels_last`` or ``contiguous``: what ``RunConfig.memory_format`` holds."""
        return CHANNELS_LAST if self.channels_last else CONTIGUOUS

    @property
    def speedup(self) -> float | None:
        """The faster float32 step's time over the bf16 step's (> 1: bf16 is faster)."""
        float32 = [t for t in (self.float32_step_s, self.float32_channels_last_step_s) if t]
        if not float32 or not self.bf16_step_s:
            return None
        return min(float32) / self.bf16_step_s

    def as_dict(self) -> dict[str, Any]:
        """What a run folder's ``precision.json`` holds."""
        speedup = self.speedup
        return {
            **dataclasses.asdict(self),
            "speedup": None if speedup is None else round(speedup, 3),
            "torch": torch.__version__,
        }


# --- the machine ----------------------------------------------------------------------------


def training_device(config: RunConfig) -> torch.device | None:
    """The device rank 0 trains on: ``cuda:0``, ``cpu``, or ``None`` for MPS (not probed)."""
    if config.accelerator in ("gpu", "cuda") or (
        config.accelerator == "auto" and torch.cuda.is_available()
    ):
        return torch.device("cuda", 0) if torch.cuda.is_available() else None
    if config.accelerator == "mps" or (
        config.accelerator == "auto" and torch.backends.mps.is_available()
    ):
        return None
    return torch.device("cpu")


def _cpuinfo(path: str = "/proc/cpuinfo") -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty off Linux)."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def native_bf16(device: torch.device, cpuinfo: str | None = None) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively (not by emulation).

    CUDA: :func:`torch.cuda.is_bf16_supported` without emulation (Ampere and later). CPU: the
    ``amx_bf16`` or ``avx512_bf16`` flag in ``/proc/cpuinfo``, else torch's own probe of
    AVX512-BF16 and AMX where this torch has one; False elsewhere.
    """
    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # older torch: no including_emulation
            return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    if set(CPU_BF16_FLAGS) & cpu_flags(cpuinfo):
        return True
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        probe = getattr(torch.cpu, name, None)
        if probe is not None and bool(probe()):
            return True
    return False


MATRIX_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")
"""CPU flags that change how fast a training step's matrix products run: a CPU's cached
decision is keyed on those it has, since one model name can cover chips that differ in them
(a cluster's nodes sharing a home folder, a cloud instance family)."""


def machine_name(device: torch.device, cpuinfo: str | None = None) -> str:
    """The GPU's name; on CPUs the model, thread count and :data:`MATRIX_FLAGS` present, e.g.
    ``"AMD EPYC (2 threads; avx2 avx512_bf16 avx512f)"``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    flags = " ".join(sorted(set(MATRIX_FLAGS) & cpu_flags(cpuinfo))) or "no matrix flags"
    return f"{cpu_model(cpuinfo)} ({torch.get_num_threads()} threads; {flags})"


# --- memory layout --------------------------------------------------------------------------


def is_convolutional(module: nn.Module) -> bool:
    """Whether ``module`` holds 2-D convolutions (``channels_last`` applies to it)."""
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def uses_channels_last(precision: str, method: nn.Module, memory_format: str = "auto") -> bool:
    """Whether a run in ``precision`` and ``memory_format`` keeps ``method`` and its views in
    ``channels_last``: only a convolutional encoder, when asked for, or under ``auto`` with
    bf16 (oneDNN's and cuDNN's fast bf16 convolutions take NHWC)."""
    if not is_convolutional(getattr(method, "encoder", method)):
        return False
    if memory_format == "auto":
        return precision == BF16
    return memory_format == CHANNELS_LAST


def to_channels_last(views: Sequence[Tensor]) -> list[Tensor]:
    """The 4-D views in ``channels_last`` layout (other views unchanged)."""
    return [v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for v in views]


def inference_setting(
    precision: str,
    memory_format: str,
    encoder: nn.Module,
    device: torch.device | None,
    cpuinfo: str | None = None,
) -> Inference:
    """How ``encoder`` extracts features on ``device`` after a run resolved to ``precision``
    and ``memory_format`` (:class:`~eblearn.evaluate.inference.Inference`): the setting it
    trained in, where the device runs it natively.

    - Layout: ``channels_last`` exactly when training used it
      (:func:`uses_channels_last`): a convolutional encoder's setting that the probe measured
      faster, on any device (it changes no arithmetic).
    - Precision: bf16 autocast for a ``bf16-mixed`` run only where ``device`` has native bf16
      matrix arithmetic (:func:`native_bf16`): a bf16 run evaluated on a CPU without it
      (emulated bf16 is slower than float32) extracts in float32. fp16 autocast for a
      ``16-mixed`` run on a CUDA device only. Everything else (``32``, ``auto``, MPS given as
      ``None``) is float32.
    """
    channels_last = uses_channels_last(precision, encoder, memory_format)
    dtype = None
    if device is not None and precision == BF16 and native_bf16(device, cpuinfo):
        dtype = torch.bfloat16
    elif device is not None and precision == "16-mixed" and device.type == "cuda":
        dtype = torch.float16
    return Inference(autocast_dtype=dtype, channels_last=channels_last)


# --- the decision ---------------------------------------------------------------------------


def pick(float32_step_s: float, bf16_step_s: float, margin: float = BF16_MARGIN) -> str:
    """``bf16-mixed`` if bf16's step is at least ``margin`` times faster, else ``32``.

    Example:
        >>> pick(0.30, 0.20)  # bf16 1.5× faster
        'bf16-mixed'
        >>> pick(0.21, 0.20)  # 1.05×: not worth the rounding
        '32'
    """
    return BF16 if float32_step_s >= margin * bf16_step_s else FLOAT32


def pick_setting(step_s: dict[Setting, float]) -> Setting:
    """The setting to train in, from the step times of those probed: float32 in
    ``channels_last`` if at least :data:`LAYOUT_MARGIN` times faster than contiguous (else
    the float32 setting timed), then bf16 if :func:`pick` prefers it to that float32.

    Example:
        >>> pick_setting({("32", False): 1.2, ("32", True): 0.8})  # no native bf16
        ('32', True)
        >>> pick_setting({("32", False): 1.0, ("32", True): 0.8, ("bf16-mixed", True): 0.5})
        ('bf16-mixed', True)
    """
    float32 = sorted(s for s in step_s if s[0] == FLOAT32)  # contiguous first
    best = float32[0]
    if len(float32) == 2 and step_s[best] >= LAYOUT_MARGIN * step_s[float32[1]]:
        best = float32[1]
    for setting in step_s:
        if setting[0] == BF16 and pick(step_s[best], step_s[setting]) == BF16:
            return setting
    return best


def candidate_settings(convolutional: bool, native: bool, memory_format: str) -> list[Setting]:
    """What a probe times: float32 in the layouts ``memory_format`` allows (both under
    ``auto`` for a convolutional encoder), and bf16 where it is native, in ``channels_last``
    for a convolutional encoder unless ``contiguous`` was asked for."""
    if not convolutional:
        layouts = [False]
    elif memory_format == "auto":
        layouts = [False, True]
    else:
        layouts = [memory_format == CHANNELS_LAST]
    settings = [(FLOAT32, layout) for layout in layouts]
    if native:
        settings.append((BF16, convolutional and memory_format != CONTIGUOUS))
    return settings


def cache_path() -> Path:
    """``$EBLEARN_CACHE/precision.json``, else under ``$XDG_CACHE_HOME/eblearn`` or
    ``~/.cache/eblearn``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / CACHE_FILE
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eblearn" / CACHE_FILE


def cache_key(config: RunConfig, machine: str) -> str:
    """What the step times depend on, as one string."""
    return json.dumps(
        {
            "machine": machine,
            "torch": torch.__version__,
            "backbone": config.backbone,
            "backbone_args": config.backbone_args,
            "method": config.method,
            "method_args": config.method_args,
            "batch_size": config.batch_size,
            "image_size": config.image_size,
            "view_size": config.view_size,
            "memory_format": config.memory_format,
            "devices": config.devices,
        },
        sort_keys=True,
        default=str,
    )


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """The cached decisions; a missing, unreadable or malformed file is an empty cache."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(content, dict) or content.get("version") != CACHE_VERSION:
        return {}
    entries = content.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if _valid_entry(v)}


def _valid_entry(entry: Any) -> bool:
    """A decision (precision, layout) with the positive step times it was made from."""
    if not isinstance(entry, dict) or not isinstance(entry.get("step_s"), dict):
        return False
    chosen = setting_name((entry.get("precision"), entry.get("channels_last")))  # type: ignore[arg-type]
    times = entry["step_s"]
    return (
        entry.get("precision") in (FLOAT32, BF16)
        and isinstance(entry.get("channels_last"), bool)
        and chosen in times
        and all(isinstance(t, int | float) and t > 0 for t in times.values())
    )


def write_cache(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Writes the decisions atomically; a cache that cannot be written is skipped."""
    with suppress(OSError):
        write_json({"version": CACHE_VERSION, "entries": entries}, path)


def choose_precision(
    config: RunConfig,
    method: nn.Module,
    augment: Callable[[Tensor], Sequence[Tensor]],
    images: Tensor,
    *,
    timer: StepTimer | None = None,
    native: bool | None = None,
    cache_file: Path | None = None,
) -> tuple[RunConfig, PrecisionChoice]:
    """Resolves ``config.precision`` and ``config.memory_format``: ``auto`` precision becomes
    ``32`` or ``bf16-mixed`` and, with it, an ``auto`` layout ``channels_last`` or
    ``contiguous`` (see the module docstring); a given precision is kept, and an ``auto``
    layout beside it follows :func:`uses_channels_last`.

    Args:
        config: The resolved configuration (``precision`` may be ``auto``).
        method: The method to train (not modified: the probe trains a copy).
        augment: Turns ``uint8`` images into the method's views.
        images: The pretraining images ``(N, C, H, W)``; the probe's batch is drawn from them.
        timer: Measures a step per setting (default: :func:`probe_timer` on ``method``).
        native: Whether bf16 is native here (default: :func:`native_bf16` of the device).
        cache_file: The decisions cache (default: :func:`cache_path`).

    Returns:
        The configuration with the chosen precision and layout, and the choice with its
        measurement.
    """
    if config.precision != "auto":
        channels_last = uses_channels_last(config.precision, method, config.memory_format)
        choice = PrecisionChoice(config.precision, channels_last, "requested")
        return _resolved(config, choice), choice
    device = training_device(config)
    machine = machine_name(device) if device is not None else config.accelerator
    convolutional = device is not None and is_convolutional(getattr(method, "encoder", method))
    if device is not None and native is None:
        native = native_bf16(device)
    settings = candidate_settings(convolutional, bool(native), config.memory_format)
    if len(settings) == 1:  # nothing to choose between
        choice = PrecisionChoice(*settings[0], "no native bf16", machine=machine)
        return _resolved(config, choice), choice
    if config.num_nodes > 1:  # each machine would measure, and might choose, on its own
        choice = PrecisionChoice(*settings[0], SEVERAL_MACHINES, machine=machine)
        return _resolved(config, choice), choice
    path = cache_file if cache_file is not None else cache_path()
    key = cache_key(config, machine)
    entries = read_cache(path)
    if key in entries:
        entry = entries[key]
        source, precision, channels_last = "cache", entry["precision"], entry["channels_last"]
        times = {
            s: float(entry["step_s"][setting_name(s)])
            for s in settings
            if setting_name(s) in entry["step_s"]
        }
    else:
        measure = timer if timer is not None else probe_timer(method, augment, images, config)
        try:
            times = {setting: measure(*setting) for setting in settings}
        except (RuntimeError, ValueError, NotImplementedError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            choice = PrecisionChoice(FLOAT32, False, f"probe failed: {reason}", machine=machine)
            return _resolved(config, choice), choice
        source = "measured"
        precision, channels_last = pick_setting(times)
        entries[key] = {
            "precision": precision,
            "channels_last": channels_last,
            "step_s": {setting_name(s): t for s, t in times.items()},
        }
        write_cache(path, read_cache(path) | {key: entries[key]})  # keep concurrent writers'
    bf16 = [t for (p, _), t in times.items() if p == BF16]
    choice = PrecisionChoice(
        precision,
        channels_last,
        source,
        float32_step_s=times.get((FLOAT32, False)),
        bf16_step_s=bf16[0] if bf16 else None,
        machine=machine,
        float32_channels_last_step_s=times.get((FLOAT32, True)),
    )
    return _resolved(config, choice), choice


def _resolved(config: RunConfig, choice: PrecisionChoice) -> RunConfig:
    """``config`` with the precision and the memory layout of ``choice``."""
    return dataclasses.replace(
        config, precision=choice.precision, memory_format=choice.memory_format
    )


# --- the probe ------------------------------------------------------------------------------


def median_step_time(
    step: Callable[[], None],
    *,
    warmup: int = PROBE_WARMUP,
    steps: int = PROBE_STEPS,
    budget_s: float = PROBE_BUDGET_S,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The median seconds of ``step`` over up to ``steps`` timed calls after ``warmup`` ones.

    Warm-up stops early once it has used half of ``budget_s``, and timing once the whole
    budget is spent (at least one step is always timed), so a slow step costs at most about
    ``budget_s`` plus two steps.
    """
    elapsed = 0.0
    for _ in range(warmup):
        start = clock()
        step()
        elapsed += clock() - start
        if elapsed > budget_s / 2:
            break
    times: list[float] = []
    while len(times) < max(1, steps):
        start = clock()
        step()
        times.append(clock() - start)
        elapsed += times[-1]
        if elapsed > budget_s:
            break
    return statistics.median(times)


def probe_timer(
    method: nn.Module,
    augment: Callable[[Tensor], Sequence[Tensor]],
    images: Tensor,
    config: RunConfig,
    *,
    warmup: int = PROBE_WARMUP,
    steps: int = PROBE_STEPS,
) -> StepTimer:
    """Times forward + backward of a copy of ``method`` on one batch of the run's views.

    The batch has ``config.batch_size`` images (repeated if the data holds fewer), augmented
    once in float32 on the training device; a setting runs the copy in its precision (bf16:
    under autocast) and layout. Random state, ``method`` and its buffers are left as they
    were.
    """
    device = training_device(config) or torch.device("cpu")

    def measure(precision: str, channels_last: bool) -> float:
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            step = _probe_step(method, augment, images, config, device, precision, channels_last)
            return median_step_time(step, warmup=warmup, steps=steps)

    return measure


def _probe_step(
    method: nn.Module,
    augment: Callable[[Tensor], Sequence[Tensor]],
    images: Tensor,
    config: RunConfig,
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> Callable[[], None]:
    """One training step (forward, backward) of a copy of ``method`` in ``precision`` and,
    with ``channels_last``, that layout, on one batch of views (see :func:`probe_timer`)."""
    model = copy.deepcopy(method).to(device).train()
    prepare = getattr(model, "prepare", None)
    if prepare is not None:
        prepare(len(images))
    indices = torch.arange(config.batch_size) % len(images)
    with torch.no_grad():
        views = list(augment(images[indices].to(device)))
    indices = indices.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
        views = to_channels_last(views)
    with_indices = bool(getattr(model, "uses_indices", False))
    bf16 = precision == BF16

    def step() -> None:
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        with autocast:
            out = model(views, indices=indices) if with_indices else model(views)
        out["loss"].backward()
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step
