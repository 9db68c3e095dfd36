import importlib.util

import pytest
import yaml

from eblearn.train import TrainConfig, resolve
from eblearn.train.config import RunConfig, resume_conflicts


def test_defaults_resolve_from_the_data_set():
    config = resolve(TrainConfig(), channels=1, native_size=8)
    assert config.image_size == 16 and config.backbone == "convnet"
    assert config.augmentation == "digits" and config.optimizer == "adamw"
    assert config.epochs == 60 and config.method_args == {"projector_dims": [512, 512, 512]}
    assert config.lr == pytest.approx(2e-3)
    color = resolve(TrainConfig(data="cifar10", batch_size=512), channels=3, native_size=32)
    assert color.augmentation == "simclr" and color.optimizer == "lars"
    assert color.lr == pytest.approx(0.6)  # base 0.3 × 512 / 256
    large = resolve(TrainConfig(data="stl10"), channels=3, native_size=96)
    assert large.backbone == "resnet18"


def test_explicit_values_win():
    config = resolve(
        TrainConfig(epochs=3, lr=0.1, method_args={"nu_param": 2.0}), channels=1, native_size=8
    )
    assert config.epochs == 3 and config.lr == 0.1
    assert config.method_args == {"projector_dims": [512, 512, 512], "nu_param": 2.0}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("method", "simclrr", "unknown method 'simclrr'; valid methods:"),
        ("backbone", "vgg", "unknown backbone 'vgg'"),
        ("augmentation", "fancy", "unknown augmentation 'fancy'"),
        ("optimizer", "adam", "unknown optimizer 'adam'; valid choices: adamw, sgd, lars"),
        ("precision", "64", "unknown precision '64'"),
        ("memory_format", "nhwc", "unknown memory_format 'nhwc'.*auto, channels_last, contiguous"),
        ("epochs", 0, "epochs must be >= 1"),
        ("batch_size", 0, "batch_size must be >= 1"),
        ("lr", -1.0, "lr must be > 0"),
        ("logger", "wandb", "unknown logger 'wandb'; valid choices: csv, tensorboard"),
    ],
)
def test_bad_values_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        resolve(TrainConfig(**{field: value}), channels=1, native_size=8)


def test_yaml_round_trip_and_unknown_keys(tmp_path):
    config = TrainConfig(epochs=5, method_args={"projector_dims": [8, 8]})
    config.to_yaml(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == config
    (tmp_path / "bad.yaml").write_text("epochs: 3\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown config key.*learning_rate; valid keys: method"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="does not exist"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        TrainConfig.from_yaml(tmp_path / "list.yaml")


def test_a_config_yaml_written_before_the_logger_option_resumes_with_csv(tmp_path):
    config = resolve(TrainConfig(logger="tensorboard"), channels=1, native_size=8)
    assert config.logger == "tensorboard"
    config.to_yaml(tmp_path / "new.yaml")
    assert RunConfig.from_yaml(tmp_path / "new.yaml") == config
    old = {k: v for k, v in config.to_dict().items() if k != "logger"}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    assert RunConfig.from_yaml(tmp_path / "old.yaml").logger == "csv"
    assert RunConfig.from_yaml(tmp_path / "old.yaml").as_request().logger == "csv"


def test_tensorboard_without_the_package_is_refused_naming_the_install(monkeypatch):
    find_spec = importlib.util.find_spec

    def without_tensorboard(name, *args, **kwargs):
        return None if name.split(".")[0] == "tensorboard" else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_tensorboard)
    assert resolve(TrainConfig(), channels=1, native_size=8).logger == "csv"
    with pytest.raises(ValueError, match=r"needs the tensorboard package.*pip install tensorboard"):
        resolve(TrainConfig(logger="tensorboard"), channels=1, native_size=8)


def test_augmentation_args_are_checked_and_kept_in_the_run_config(tmp_path):
    config = resolve(
        TrainConfig(data="cifar10", augmentation_args={"brightness": 0.8, "crop_scale": [0.2, 1]}),
        channels=3,
        native_size=32,
    )
    assert config.augmentation_args == {"brightness": 0.8, "crop_scale": [0.2, 1]}
    config.to_yaml(tmp_path / "config.yaml")
    assert RunConfig.from_yaml(tmp_path / "config.yaml") == config
    with pytest.raises(ValueError, match="unknown augmentation option"):
        resolve(TrainConfig(augmentation_args={"strength": 1}), channels=1, native_size=8)
    # a run folder written before the option resumes with the recipe as it was
    old = {k: v for k, v in config.to_dict().items() if k != "augmentation_args"}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    assert RunConfig.from_yaml(tmp_path / "old.yaml").augmentation_args == {}


@pytest.mark.parametrize(("modality", "kind"), [("tokens", "text"), ("waveforms", "speech")])
def test_augmentation_args_are_refused_outside_image_runs(modality, kind):
    config = TrainConfig(
        method="mlm" if modality == "tokens" else "cpc",
        data="shakespeare" if modality == "tokens" else "fsdd:x",
        augmentation_args={"brightness": 0.8},
    )
    with pytest.raises(ValueError, match=f"is {kind}; leave out --augmentation-arg"):
        resolve(config, channels=1, native_size=8, modality=modality)


def test_view_size_defaults_to_the_image_size_and_is_kept_in_the_run_config(tmp_path):
    same = resolve(TrainConfig(data="cifar10"), channels=3, native_size=32)
    assert same.image_size == same.view_size == 32
    config = resolve(TrainConfig(data="cifar10", view_size=24), channels=3, native_size=32)
    assert (config.image_size, config.view_size) == (32, 24)
    config.to_yaml(tmp_path / "config.yaml")
    assert RunConfig.from_yaml(tmp_path / "config.yaml") == config
    assert resolve(config.as_request(), channels=3, native_size=32) == config
    # a run folder written before the option trained its views at the image side
    old = {k: v for k, v in config.to_dict().items() if k != "view_size"}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    assert RunConfig.from_yaml(tmp_path / "old.yaml").view_size == 32
    with pytest.raises(ValueError, match="view_size must be >= 8 pixels, got 4"):
        resolve(TrainConfig(view_size=4), channels=1, native_size=8)
    with pytest.raises(ValueError, match="view_size must be >= 1, got 0"):
        resolve(TrainConfig(view_size=0), channels=1, native_size=8)


@pytest.mark.parametrize(("modality", "kind"), [("tokens", "text"), ("waveforms", "speech")])
def test_view_size_is_refused_outside_image_runs(modality, kind):
    config = TrainConfig(
        method="mlm" if modality == "tokens" else "cpc",
        data="shakespeare" if modality == "tokens" else "fsdd:x",
        view_size=24,
    )
    with pytest.raises(ValueError, match=f"is {kind}; leave out --view-size"):
        resolve(config, channels=1, native_size=8, modality=modality)
    assert (
        resolve(
            TrainConfig(method="mlm", data="shakespeare"),
            channels=1,
            native_size=8,
            modality="tokens",
        ).view_size
        == 0
    )


@pytest.mark.parametrize(("modality", "kind"), [("tokens", "text"), ("waveforms", "speech")])
def test_channels_last_is_refused_outside_image_runs(modality, kind):
    method, data = ("mlm", "shakespeare") if modality == "tokens" else ("cpc", "fsdd:x")
    with pytest.raises(ValueError, match=f"is {kind}; leave out --memory-format"):
        resolve(
            TrainConfig(method=method, data=data, memory_format="channels_last"),
            channels=1,
            native_size=8,
            modality=modality,
        )
    for layout in ("auto", "contiguous"):
        config = TrainConfig(method=method, data=data, memory_format=layout)
        assert resolve(config, 1, 8, modality=modality).memory_format == layout


def test_memory_format_is_auto_in_older_run_folders_and_auto_resumes_any(tmp_path):
    """A run folder older than memory_format trained channels_last exactly under bf16, which
    ``auto`` beside a given precision reproduces; ``auto`` on resume keeps what was chosen."""
    config = resolve(TrainConfig(memory_format="channels_last"), channels=1, native_size=8)
    assert config.memory_format == "channels_last"
    old = {k: v for k, v in config.to_dict().items() if k != "memory_format"}
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    assert RunConfig.from_yaml(tmp_path / "old.yaml").memory_format == "auto"
    assert resume_conflicts(config, {"memory_format": "auto"}) == []
    assert resume_conflicts(config, {"memory_format": "contiguous"}) == [
        "memory_format (saved 'channels_last', given 'contiguous')"
    ]
