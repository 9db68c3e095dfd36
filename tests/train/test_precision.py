"""``--precision auto``: bf16, and the memory layout, only where measured faster; cached,
recorded.

The decision logic runs on fake step times and a fake clock (no timed assertions); one tiny
real run trains in bf16 autocast on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from eblearn.app import pretrain
from eblearn.app.evaluation import probe_features
from eblearn.data import DatasetSplits
from eblearn.evaluate import FLOAT32, Inference
from eblearn.evaluate import distributed as distributed_module
from eblearn.methods import build_method
from eblearn.nn.backbones import build_backbone
from eblearn.train import precision as precision_module
from eblearn.train.config import RunConfig, resolve, resume_conflicts
from eblearn.train.precision import (
    BF16_MARGIN,
    LAYOUT_MARGIN,
    PrecisionChoice,
    cache_key,
    cache_path,
    choose_precision,
    cpu_flags,
    cpu_model,
    inference_setting,
    median_step_time,
    native_bf16,
    pick,
    pick_setting,
    uses_channels_last,
)
from eblearn.train.runs import build_components

from .conftest import tiny_config, tiny_digits

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16
"""


class FakeTimer:
    """Step seconds per setting (precision, channels_last); records the settings timed.
    float32 in ``channels_last`` takes as long as contiguous unless given."""

    def __init__(self, float32: float, bf16: float, float32_channels_last: float | None = None):
        self.times = {
            ("32", False): float32,
            ("32", True): float32 if float32_channels_last is None else float32_channels_last,
            ("bf16-mixed", True): bf16,
            ("bf16-mixed", False): bf16,
        }
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, precision: str, channels_last: bool) -> float:
        self.calls.append((precision, channels_last))
        return self.times[precision, channels_last]


ALL_SETTINGS = [("32", False), ("32", True), ("bf16-mixed", True)]
"""What the probe times for the ConvNet on a device with native bf16."""


def _never(precision: str, channels_last: bool) -> float:
    raise AssertionError(f"the probe ran ({precision}, {channels_last}) where it should not")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "precision.json"


@pytest.fixture(scope="module")
def parts():
    data = tiny_digits()
    config = resolve(tiny_config(Path("unused"), accelerator="cpu"), data.channels, data.image_size)
    method, augment, _ = build_components(config, data)
    return config, method, augment, data.pretrain_images


def _choose(parts, timer=_never, native=True, cache_file=None, **changes):
    config, method, augment, images = parts
    config = RunConfig(**{**config.to_dict(), **changes})
    return choose_precision(
        config, method, augment, images, timer=timer, native=native, cache_file=cache_file
    )


# --- the decision ---------------------------------------------------------------------------


def test_pick_keeps_bf16_only_with_the_margin():
    assert BF16_MARGIN == 1.15
    assert pick(1.5, 1.0) == "bf16-mixed"
    assert pick(1.15, 1.0) == "bf16-mixed"
    assert pick(1.14, 1.0) == "32"
    assert pick(1.05, 1.0) == "32"
    assert pick(0.6, 1.0) == "32"  # the small ConvNet: bf16 slower


def test_pick_setting_takes_channels_last_float32_only_with_the_layout_margin():
    assert LAYOUT_MARGIN == 1.05
    contiguous, channels_last = ("32", False), ("32", True)
    assert pick_setting({contiguous: 1.05, channels_last: 1.0}) == channels_last
    assert pick_setting({contiguous: 1.04, channels_last: 1.0}) == contiguous
    assert pick_setting({contiguous: 1.0}) == contiguous
    assert pick_setting({channels_last: 1.0}) == channels_last


def test_pick_setting_weighs_bf16_against_the_faster_float32():
    bf16 = ("bf16-mixed", True)
    # 1.2x faster than contiguous float32, but only 1.0x than channels_last float32
    assert pick_setting({("32", False): 1.2, ("32", True): 1.0, bf16: 1.0}) == ("32", True)
    assert pick_setting({("32", False): 1.2, ("32", True): 1.2, bf16: 1.0}) == bf16


def test_auto_picks_bf16_when_measured_1_5x_faster(parts, cache):
    timer = FakeTimer(float32=0.3, bf16=0.2)
    config, choice = _choose(parts, timer, cache_file=cache)
    assert config.precision == "bf16-mixed"
    assert timer.calls == ALL_SETTINGS
    assert choice.source == "measured"
    assert choice.channels_last  # the ConvNet is convolutional
    assert config.memory_format == "channels_last"
    assert choice.speedup == pytest.approx(1.5)
    record = choice.as_dict()
    assert record["precision"] == "bf16-mixed" and record["speedup"] == 1.5
    assert record["float32_step_s"] == 0.3 and record["bf16_step_s"] == 0.2
    assert record["float32_channels_last_step_s"] == 0.3
    assert record["torch"] == torch.__version__


def test_auto_keeps_float32_when_bf16_is_only_1_05x_faster(parts, cache):
    config, choice = _choose(parts, FakeTimer(float32=0.105, bf16=0.1), cache_file=cache)
    assert (config.precision, config.memory_format) == ("32", "contiguous")
    assert (choice.source, choice.channels_last) == ("measured", False)


def test_no_native_bf16_measures_the_float32_layouts(parts, cache):
    """A CPU without bf16 (Ice Lake's float32 convolutions ran 1.25-1.5x faster in
    channels_last): both layouts are timed, bf16 is not."""
    timer = FakeTimer(float32=0.3, bf16=0.01, float32_channels_last=0.2)
    config, choice = _choose(parts, timer, native=False, cache_file=cache)
    assert timer.calls == [("32", False), ("32", True)]
    assert (config.precision, config.memory_format) == ("32", "channels_last")
    assert (choice.source, choice.bf16_step_s, choice.speedup) == ("measured", None, None)
    assert choice.as_dict()["float32_channels_last_step_s"] == 0.2


def test_nothing_to_choose_is_float32_without_a_probe(parts, cache):
    """No native bf16 and an encoder without convolutions (a text model's): one candidate."""
    config, _, augment, images = parts
    method = torch.nn.Module()
    method.encoder = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4))
    parts = (config, method, augment, images)
    config, choice = _choose(parts, _never, native=False, cache_file=cache)
    assert (config.precision, config.memory_format) == ("32", "contiguous")
    assert choice == PrecisionChoice("32", False, "no native bf16", machine=choice.machine)
    assert not cache.exists()


@pytest.mark.parametrize(
    ("memory_format", "timed"),
    [
        ("channels_last", [("32", True), ("bf16-mixed", True)]),
        ("contiguous", [("32", False), ("bf16-mixed", False)]),
    ],
)
def test_a_given_layout_is_the_only_one_timed(parts, cache, memory_format, timed):
    timer = FakeTimer(float32=0.3, bf16=0.2)
    config, _choice = _choose(parts, timer, cache_file=cache, memory_format=memory_format)
    assert timer.calls == timed
    assert (config.precision, config.memory_format) == ("bf16-mixed", memory_format)


@pytest.mark.parametrize(
    ("requested", "memory_format", "channels_last"),
    [
        ("32", "auto", False),
        ("bf16-mixed", "auto", True),
        ("16-mixed", "auto", False),
        ("32", "channels_last", True),
        ("bf16-mixed", "contiguous", False),
    ],
)
def test_an_explicit_precision_bypasses_the_probe(
    parts, cache, requested, memory_format, channels_last
):
    config, choice = _choose(
        parts, _never, cache_file=cache, precision=requested, memory_format=memory_format
    )
    assert config.precision == requested
    assert choice.source == "requested"
    assert choice.channels_last == channels_last
    assert config.memory_format == ("channels_last" if channels_last else "contiguous")
    assert not cache.exists()


def test_probe_failure_falls_back_to_float32(parts, cache):
    def failing(precision: str, channels_last: bool) -> float:
        if precision == "bf16-mixed":
            raise RuntimeError("\"upsample\" not implemented for 'BFloat16'\nmore detail")
        return 0.1

    config, choice = _choose(parts, failing, cache_file=cache)
    assert (config.precision, config.memory_format) == ("32", "contiguous")
    assert choice.source == "probe failed: \"upsample\" not implemented for 'BFloat16'"


# --- the cache ------------------------------------------------------------------------------


def test_cache_round_trip_then_a_new_key_probes_again(parts, cache):
    timer = FakeTimer(float32=0.3, bf16=0.2)
    _choose(parts, timer, cache_file=cache)
    content = json.loads(cache.read_text())
    assert content["version"] == 2
    [(key, entry)] = content["entries"].items()
    assert json.loads(key)["batch_size"] == 64
    assert entry == {
        "precision": "bf16-mixed",
        "channels_last": True,
        "step_s": {"32": 0.3, "32+channels_last": 0.3, "bf16-mixed+channels_last": 0.2},
    }

    config, choice = _choose(parts, _never, cache_file=cache)  # same key: no probe
    assert (config.precision, config.memory_format, choice.source) == (
        "bf16-mixed",
        "channels_last",
        "cache",
    )
    assert (choice.float32_step_s, choice.bf16_step_s) == (0.3, 0.2)

    for changes in (
        {"batch_size": 32},
        {"image_size": 32},
        {"backbone_args": {"width": 8}},
        {"memory_format": "channels_last"},
    ):
        other = FakeTimer(float32=0.1, bf16=0.1)
        config, choice = _choose(parts, other, cache_file=cache, **changes)
        assert (config.precision, choice.source) == ("32", "measured"), changes
        assert other.calls, changes
    assert len(json.loads(cache.read_text())["entries"]) == 5


def test_cache_key_separates_machines_methods_and_devices(parts):
    config = parts[0]
    key = cache_key(config, "cpu A")
    assert cache_key(config, "cpu B") != key
    for changes in ({"method": "simclr"}, {"devices": 2}, {"batch_size": 128}, {"view_size": 12}):
        assert cache_key(RunConfig(**{**config.to_dict(), **changes}), "cpu A") != key
    assert cache_key(RunConfig(**{**config.to_dict(), "epochs": 99}), "cpu A") == key


def test_cpus_of_one_model_with_other_matrix_flags_are_other_machines():
    def cpuinfo(flags: str) -> str:
        return f"model name\t: AMD EPYC\nflags\t\t: fpu sse2 {flags}\n"

    cpu = torch.device("cpu")
    with_bf16 = precision_module.machine_name(cpu, cpuinfo("avx2 avx512f avx512_bf16"))
    without = precision_module.machine_name(cpu, cpuinfo("avx2 avx512f"))
    assert with_bf16 != without
    assert with_bf16.startswith("AMD EPYC (") and with_bf16.endswith("avx2 avx512_bf16 avx512f)")
    assert precision_module.machine_name(cpu, cpuinfo("sse4_2")).endswith("no matrix flags)")
    # flags that do not change matrix speed do not split the cache
    assert precision_module.machine_name(cpu, cpuinfo("avx2 avx512f ht")) == without


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b'{"version": 1, "entries": [1, 2]',
        b"[1, 2, 3]",
        b'{"version": 99, "entries": {}}',
        b'{"version": 1, "entries": "x"}',
    ],
)
def test_a_corrupt_cache_is_ignored_and_rewritten(parts, cache, content):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content)
    timer = FakeTimer(float32=0.3, bf16=0.2)
    config, choice = _choose(parts, timer, cache_file=cache)
    assert (config.precision, choice.source) == ("bf16-mixed", "measured")
    assert len(json.loads(cache.read_text())["entries"]) == 1


def test_a_malformed_cache_entry_is_measured_again(parts, cache):
    key = cache_key(parts[0], precision_module.machine_name(torch.device("cpu")))
    cache.parent.mkdir(parents=True)
    entry = {"precision": "fp8", "channels_last": True, "step_s": {"fp8+channels_last": 1}}
    cache.write_text(json.dumps({"version": 2, "entries": {key: entry}}))
    timer = FakeTimer(float32=0.3, bf16=0.2)
    _, choice = _choose(parts, timer, cache_file=cache)
    assert choice.source == "measured" and timer.calls == ALL_SETTINGS


def test_a_cache_of_an_older_version_is_measured_again(parts, cache):
    """Version 1 entries held float32 and bf16 times only: no float32 channels_last."""
    key = cache_key(parts[0], precision_module.machine_name(torch.device("cpu")))
    cache.parent.mkdir(parents=True)
    entry = {"precision": "32", "float32_step_s": 0.3, "bf16_step_s": 0.5}
    cache.write_text(json.dumps({"version": 1, "entries": {key: entry}}))
    timer = FakeTimer(float32=0.3, bf16=0.5, float32_channels_last=0.2)
    config, choice = _choose(parts, timer, cache_file=cache)
    assert (choice.source, config.memory_format) == ("measured", "channels_last")


def test_cache_path_follows_eblearn_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("EBLEARN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_path() == tmp_path / "xdg" / "eblearn" / "precision.json"
    monkeypatch.setenv("EBLEARN_CACHE", str(tmp_path / "mine"))
    assert cache_path() == tmp_path / "mine" / "precision.json"
    monkeypatch.delenv("EBLEARN_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_path() == tmp_path / "home" / ".cache" / "eblearn" / "precision.json"


# --- the machine and the probe --------------------------------------------------------------


def test_cpu_flags_and_model_from_cpuinfo(monkeypatch):
    assert {"amx_bf16", "avx512_bf16"} <= cpu_flags(CPUINFO)
    assert cpu_model(CPUINFO) == "Intel(R) Xeon(R) Platinum 8480+"
    assert native_bf16(torch.device("cpu"), CPUINFO)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    zen3 = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu avx avx2 fma\n"
    assert not native_bf16(torch.device("cpu"), zen3)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert native_bf16(torch.device("cpu"), zen3)  # torch's own probe, where flags are hidden
    assert not native_bf16(torch.device("meta"), CPUINFO)


class FakeClock:
    """A clock that each step advances by its scripted duration."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations, self.steps = 0.0, list(durations), 0

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.durations[self.steps]
        self.steps += 1


def test_median_step_time_skips_warm_up_and_takes_the_median():
    clock = FakeClock([5.0, 1.0, 0.5, 0.75, 0.25])
    assert median_step_time(clock.step, warmup=2, steps=3, clock=clock) == 0.5
    assert clock.steps == 5


def test_median_step_time_is_bounded_on_slow_steps():
    clock = FakeClock([12.0, 11.0, 10.0, 10.0, 10.0])
    assert median_step_time(clock.step, warmup=2, steps=3, budget_s=20.0, clock=clock) == 11.0
    assert clock.steps == 2  # one warm-up (half the budget gone), one timed step


def test_real_probe_leaves_the_method_and_random_state_untouched(parts):
    config, method, augment, images = parts
    config = RunConfig(**{**config.to_dict(), "batch_size": 8})
    before = {k: v.clone() for k, v in method.state_dict().items()}
    rng = torch.random.get_rng_state()
    timer = precision_module.probe_timer(method, augment, images[:20], config, warmup=0, steps=1)
    assert timer("32", False) > 0
    assert timer("32", True) > 0
    assert torch.equal(torch.random.get_rng_state(), rng)
    for name, value in method.state_dict().items():
        assert torch.equal(value, before[name]), name  # BatchNorm statistics included


def test_channels_last_is_asked_for_or_goes_with_bf16_on_convolutional_encoders_only():
    conv = build_method("vicreg", build_backbone("convnet", 1, 16, width=4), projector_dims=[8])
    assert uses_channels_last("bf16-mixed", conv)
    assert not uses_channels_last("32", conv)
    assert not uses_channels_last("16-mixed", conv)
    assert uses_channels_last("32", conv, "channels_last")
    assert not uses_channels_last("bf16-mixed", conv, "contiguous")
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 4))
    assert not uses_channels_last("bf16-mixed", mlp)
    assert not uses_channels_last("32", mlp, "channels_last")


@pytest.mark.parametrize(
    ("precision", "memory_format", "native", "device", "expected"),
    [
        ("bf16-mixed", "channels_last", True, "cpu", (torch.bfloat16, True)),
        ("bf16-mixed", "auto", True, "cpu", (torch.bfloat16, True)),  # an older run folder
        ("bf16-mixed", "channels_last", False, "cpu", (None, True)),  # evaluated elsewhere
        ("bf16-mixed", "contiguous", True, "cpu", (torch.bfloat16, False)),
        ("bf16-mixed", "channels_last", True, None, (None, True)),  # MPS: float32
        ("32", "channels_last", True, "cpu", (None, True)),
        ("32", "contiguous", True, "cpu", (None, False)),
        ("32", "auto", True, "cpu", (None, False)),
        ("auto", "auto", True, "cpu", (None, False)),
        ("16-mixed", "contiguous", False, "cuda", (torch.float16, False)),
        ("16-mixed", "contiguous", False, "cpu", (None, False)),
    ],
)
def test_features_are_extracted_as_the_run_trained_where_native(
    monkeypatch, precision, memory_format, native, device, expected
):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: native)
    conv = build_method("vicreg", build_backbone("convnet", 3, 16, width=4), projector_dims=[8])
    device = None if device is None else torch.device(device)
    setting = inference_setting(precision, memory_format, conv.encoder, device)
    assert (setting.autocast_dtype, setting.channels_last) == expected


def test_a_non_convolutional_encoder_never_extracts_in_channels_last(monkeypatch):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: True)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 4))
    setting = inference_setting("bf16-mixed", "channels_last", mlp, torch.device("cpu"))
    assert (setting.autocast_dtype, setting.channels_last) == (torch.bfloat16, False)


# --- numerics and a real run ----------------------------------------------------------------


def test_method_loss_under_bf16_autocast_is_within_bf16_tolerance_of_float32():
    torch.manual_seed(0)
    backbone = build_backbone("convnet", 1, 16, width=8)
    method = build_method("vicreg", backbone, projector_dims=[64, 64]).eval()  # fixed BN
    views = [torch.randn(32, 1, 16, 16), torch.randn(32, 1, 16, 16)]
    reference = method(views)["loss"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = method([v.contiguous(memory_format=torch.channels_last) for v in views])["loss"]
    assert ours.dtype == torch.float32
    ours, reference = float(ours.detach()), float(reference.detach())
    relative = abs(ours - reference) / abs(reference)
    assert 0 < relative < 2e-2  # bf16 backbone and heads; not identical, but close


class RecordLayout(Callback):
    """Records the conv weights' layout and the autocast state during training."""

    def __init__(self) -> None:
        self.channels_last: list[bool] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        conv = next(m for m in module.method.encoder.modules() if isinstance(m, torch.nn.Conv2d))
        self.channels_last.append(conv.weight.is_contiguous(memory_format=torch.channels_last))


def test_auto_run_records_bf16_and_trains_a_finite_epoch(tmp_path, monkeypatch):
    """auto on a (faked) bf16-capable CPU measured 1.5× faster: the run trains in bf16 +
    channels_last, config.yaml says bf16-mixed, precision.json holds the measurement."""
    monkeypatch.setenv("EBLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: True)
    monkeypatch.setattr(
        precision_module, "probe_timer", lambda *args: FakeTimer(float32=0.3, bf16=0.2)
    )
    extractions = _record_extractions(monkeypatch)
    layout = RecordLayout()
    run_dir = tmp_path / "run"
    pretrained = pretrain(
        tiny_config(run_dir, epochs=1, warmup_epochs=0, accelerator="cpu", batch_size=32),
        data=_small_digits(),
        callbacks=[layout],
    )
    assert pretrained.config.precision == "bf16-mixed"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["precision"] == "bf16-mixed"
    record = json.loads((run_dir / "precision.json").read_text())
    assert record["source"] == "measured" and record["speedup"] == 1.5
    assert record["channels_last"] is True
    assert layout.channels_last and all(layout.channels_last)
    conv = next(m for m in pretrained.method.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()  # handed back in the default layout
    history = [
        float(row["train/loss_step"])
        for row in _csv_rows(run_dir / "log.csv")
        if row.get("train/loss_step")
    ]
    assert history and all(torch.isfinite(torch.tensor(history)))
    # the evaluation extracts its features as the run trained (train, test)
    train, test = probe_features(pretrained)
    assert extractions == [Inference(torch.bfloat16, channels_last=True)] * 2
    assert train.dtype == test.dtype == torch.float32


def test_float32_trains_in_channels_last_when_asked(tmp_path, monkeypatch):
    extractions = _record_extractions(monkeypatch)
    layout = RecordLayout()
    config = tiny_config(
        tmp_path / "run",
        epochs=1,
        accelerator="cpu",
        batch_size=32,
        precision="32",
        memory_format="channels_last",
        eval_every=1,
    )
    pretrained = pretrain(config, data=_small_digits(), callbacks=[layout])
    probe_features(pretrained)
    # the kNN curve's point and the evaluation (bank and queries each) in its layout
    assert extractions == [Inference(channels_last=True)] * 4
    assert (pretrained.config.precision, pretrained.config.memory_format) == (
        "32",
        "channels_last",
    )
    assert layout.channels_last and all(layout.channels_last)
    conv = next(m for m in pretrained.method.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()  # handed back in the default layout


def _record_extractions(monkeypatch) -> list[Inference]:
    """The ``inference`` of every feature extraction of a run (the kNN curve's, the final
    evaluation's), recorded as they pass through the extraction the evaluation shares."""
    seen: list[Inference] = []
    extract = distributed_module.extract_features

    def recording(*args, **kwargs):
        seen.append(args[5] if len(args) > 5 else kwargs.get("inference", FLOAT32))
        return extract(*args, **kwargs)

    monkeypatch.setattr(distributed_module, "extract_features", recording)
    return seen


def _small_digits() -> DatasetSplits:
    """96 training images: 3 steps of 32."""
    digits = tiny_digits()
    return DatasetSplits("digits", digits.train.subset(torch.arange(96)), digits.test)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as file:
        return list(csv.DictReader(file))


def test_resume_accepts_auto_against_the_precision_auto_chose(parts):
    saved = RunConfig(**{**parts[0].to_dict(), "precision": "bf16-mixed"})
    assert resume_conflicts(saved, {"precision": "auto"}) == []
    assert resume_conflicts(saved, {"precision": "32"}) == [
        "precision (saved 'bf16-mixed', given '32')"
    ]
