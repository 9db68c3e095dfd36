"""Training on a streamed data set: the same run as in memory, bad files named or refused."""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from PIL import Image

from eblearn.app import pretrain
from eblearn.data import load_dataset

from .conftest import tiny_config

TINY = {"backbone_args": {"width": 4}, "method_args": {"projector_dims": [16, 16]}}


def image_folder(folder, n=24, side=8):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for k in range(n):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{k:03d}.png")
    return folder


def stream_config(run_dir, **overrides):
    values = {"epochs": 2, "batch_size": 8, "warmup_epochs": 0.5, "image_size": 16}
    values.update(overrides)
    return tiny_config(run_dir, **values)


def weights(method):
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def test_a_streamed_run_trains_the_same_weights_as_the_in_memory_run(tmp_path):
    folder = image_folder(tmp_path / "images")
    spec = f"imagefolder:{folder}"
    memory = pretrain(stream_config(tmp_path / "memory", data=spec, epochs=1))
    streamed = pretrain(stream_config(tmp_path / "stream", data=spec, stream=True, epochs=1))
    assert streamed.data.stream is not None and memory.data.stream is None
    expected, actual = weights(memory.method), weights(streamed.method)
    for name in expected:  # same pixels, same order, same augmentations: same numbers
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
    saved = (tmp_path / "stream" / "config.yaml").read_text()
    assert "stream: true" in saved


def test_a_file_broken_during_training_is_named_once_or_stops_a_strict_run(tmp_path):
    folder = image_folder(tmp_path / "images", n=16)
    data = load_dataset(f"imagefolder:{folder}", stream=True)
    (folder / "005.png").write_bytes(b"truncated")  # after the data set was listed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(stream_config(tmp_path / "lenient"), data=data)  # 2 epochs: met twice
    named = [str(w.message) for w in caught if "005.png" in str(w.message)]
    assert len(named) == 1, named
    assert re.search(
        r"skipped 1 of 16 image files that cannot be read: '005.png' \(not an", named[0]
    )
    with pytest.raises(
        ValueError, match=r"1 of 16 image files cannot be read: '005.png'.*--strict"
    ):
        pretrain(stream_config(tmp_path / "strict", strict=True), data=data)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--data", "digits"],
            r"--stream .* imagefolder:PATH, filelist:PATH, tar:PATH, not 'digits'",
        ),
        (["--data", "imagefolder:/no/such/folder"], r"imagefolder path '/no/such/folder' does"),
    ],
)
def test_stream_on_the_command_line_is_validated_before_the_folder_exists(
    tmp_path, capsys, extra, message
):
    from eblearn.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--stream", *extra, "--run-dir", str(run_dir)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not run_dir.exists()


def test_stream_is_a_config_key_and_older_run_folders_read_as_in_memory(tmp_path):
    from eblearn.app.train import skipped_probes
    from eblearn.train.config import RunConfig, TrainConfig, resolve

    with pytest.raises(ValueError, match=r"stream must be true or false, got 'yes'"):
        TrainConfig.from_dict({"stream": "yes"})
    resolved = resolve(TrainConfig(data="imagefolder:x", stream=True), 3, 32, str(tmp_path))
    values = resolved.to_dict()
    assert values["stream"] is True
    del values["stream"]  # a config.yaml written before the key existed
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    assert RunConfig.from_yaml(tmp_path / "config.yaml").stream is False
    line = skipped_probes(resolved, tmp_path)
    assert "imagefolder:x is streamed (read unlabeled); to probe" in line


class StopAtSecondEpoch(Callback):
    """Fails as the second epoch starts, after the first epoch's checkpoint was written."""

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == 1:
            raise RuntimeError("stopped on purpose")


def test_a_streamed_run_resumes_into_the_weights_of_an_uninterrupted_one(tmp_path):
    folder = image_folder(tmp_path / "images")
    config = {"data": f"imagefolder:{folder}", "stream": True}
    straight = pretrain(stream_config(tmp_path / "straight", **config))
    with pytest.raises(RuntimeError, match="stopped on purpose"):
        pretrain(stream_config(tmp_path / "cut", **config), callbacks=[StopAtSecondEpoch()])
    resumed = pretrain(stream_config(tmp_path / "cut", **config), resume=True)
    expected, actual = weights(straight.method), weights(resumed.method)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("stream", [False, True])
def test_the_engine_gives_each_rank_its_shard(tmp_path, stream):
    from eblearn.train.config import TrainConfig, resolve
    from eblearn.train.module import PretrainModule
    from eblearn.train.runs import build_components

    folder = image_folder(tmp_path / "images", n=22)
    data = load_dataset(f"imagefolder:{folder}", stream=stream)
    request = TrainConfig(data=f"imagefolder:{folder}", batch_size=4, stream=stream, **TINY)
    config = resolve(request, data.channels, data.image_size)
    method, augment, _ = build_components(config, data)
    source = data.stream if stream else data.pretrain_images
    read = []
    for rank in (0, 1):  # what Lightning's trainer tells the module on each process
        module = PretrainModule(method, augment, config, source, torch.zeros(22).long(), 0, 2)
        module._trainer = SimpleNamespace(
            world_size=2,
            global_rank=rank,
            strategy=SimpleNamespace(root_device=torch.device("cpu")),
        )
        loader = module.train_dataloader()
        for batch in loader:
            indices = batch.indices if stream else batch
            assert len(indices) == 4
            read += indices.tolist()
    assert len(read) == len(set(read)) == 16  # 22 images, global batch 8: 2 steps per rank


def test_commands_after_training_normalize_with_the_streamed_sample(tmp_path, monkeypatch):
    import eblearn.data.files as files
    from eblearn.app.export import load_training_data
    from eblearn.train.config import TrainConfig, resolve

    monkeypatch.setattr(files, "STREAM_SAMPLE", 4)  # a sample smaller than the folder
    folder = image_folder(tmp_path / "images", n=12)
    spec = f"imagefolder:{folder}"
    request = TrainConfig(data=spec, stream=True, image_size=16)
    config = resolve(request, 3, 16, str(tmp_path / "run"))
    trained_with = load_dataset(spec, image_size=16, stream=True)
    read_again = load_training_data(config, None)
    assert read_again.mean == trained_with.mean and read_again.std == trained_with.std
    assert load_dataset(spec, image_size=16).mean != trained_with.mean  # all 12: other stats


def test_a_streamed_tar_run_trains_the_same_weights_as_the_in_memory_tar_run(tmp_path):
    from tests.data.test_tar_shards import write_shards

    write_shards(tmp_path / "shards", shards=3, per_shard=8, label=None)
    spec = f"tar:{tmp_path / 'shards'}"
    memory = pretrain(stream_config(tmp_path / "memory", data=spec, epochs=1))
    streamed = pretrain(stream_config(tmp_path / "stream", data=spec, stream=True, epochs=1))
    assert streamed.data.stream is not None and memory.data.stream is None
    expected, actual = weights(memory.method), weights(streamed.method)
    for name in expected:  # the same pixels in the same order: the same numbers
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
