"""``eblearn train`` on speech: the run folder, the probe table, resume, modality errors, and
``--download`` (from a local copy: never the network)."""

from __future__ import annotations

import dataclasses
import io
import json
import wave
import zipfile
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import yaml

from eblearn.app import speech_eval
from eblearn.app.train import pretrain, train_and_evaluate
from eblearn.cli import main
from eblearn.data import waveforms
from eblearn.data.speech import load_fsdd, write_synthetic_fsdd
from eblearn.data.waveforms import download_fsdd, load_speech, pack_crops, unpack_crops
from eblearn.evaluate.linear import LinearProbe
from eblearn.train.config import TrainConfig

BACKBONE = {"dim": 16, "depth": 1, "heads": 2, "channels": 8}
TINY = [
    "--method",
    "wav2vec2",
    "--epochs",
    "1",
    "--seq-len",
    "1600",
    "--batch-size",
    "8",
    *[a for k, v in BACKBONE.items() for a in ("--backbone-arg", f"{k}={v}")],
    "--no-progress",
]


@pytest.fixture
def fsdd(tmp_path: Path) -> Path:
    """2 speakers × 10 digits × 6 takes: 20 training takes (take 5), 100 test takes."""
    return write_synthetic_fsdd(tmp_path / "fsdd.npz", num_speakers=2, num_takes=6)


def test_train_on_fsdd_writes_the_run_and_prints_the_probe_table(
    fsdd, tmp_path, capsys, monkeypatch
):
    # two draws of one C (not three of three): the table, not the probe, is tested here
    monkeypatch.setattr(speech_eval, "REPEATS", 2)
    monkeypatch.setattr(speech_eval, "PROBE", lambda: LinearProbe((1.0,), max_iter=50))
    run = tmp_path / "run"
    assert main(["train", "--data", f"fsdd:{fsdd}", *TINY, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "wav2vec2 (conv-transformer)" in out and "log-mel + logistic" in out
    for setting in ("1 per cell (20 labels)", "all per cell (20 labels)", "held-out speaker"):
        assert setting in out, setting
    for name in ("config.yaml", "checkpoints/last.ckpt", "log.csv", "encoder.pt"):
        assert (run / name).is_file(), name
    results = json.loads((run / "results.json").read_text())
    assert results["modality"] == "waveforms" and results["test_size"] == 100
    assert [r["setting"] for r in results["probe"]] == [
        r["setting"] for r in results["log_mel_baseline"]
    ]
    assert results["probe"][0]["fits"] == 2 and 0.0 <= results["probe"][0]["accuracy"] <= 1.0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seq_len"] == 1600 and config["image_size"] == 0
    assert config["backbone"] == "conv-transformer" and config["augmentation"] == "speech"
    # eval reads the run back and probes it the same way
    assert main(["eval", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["probe"] == results["probe"]


def test_packed_crops_round_trip_and_hold_the_center_of_long_takes(fsdd):
    data = load_speech(f"fsdd:{fsdd}", crop_length=1600)
    waves, lengths = unpack_crops(data.pretrain_inputs)
    assert waves.shape == (20, 1600) and torch.equal(lengths, data.train.lengths.clamp(max=1600))
    for i in range(len(data.train)):  # a naive center crop of each recording
        full = data.train.waveform(i)
        start = max(0, (len(full) - 1600) // 2)
        kept = full[start : start + 1600]
        torch.testing.assert_close(waves[i, : len(kept)], kept)
        assert bool((waves[i, len(kept) :] == 0).all())
    x, n = torch.randn(3, 5), torch.tensor([5, 1, 3])
    back = unpack_crops(pack_crops(x, n))
    assert torch.equal(back[0], x) and torch.equal(back[1], n)


class Crash(RuntimeError):
    """A failure after the first epoch's checkpoint is written."""


class StopAfterFirstEpoch(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise Crash


def _config(fsdd: Path, run: Path, method: str) -> TrainConfig:
    return TrainConfig(
        method=method,
        data=f"fsdd:{fsdd}",
        epochs=2,
        seq_len=1600,
        batch_size=10,
        backbone_args=BACKBONE if method == "wav2vec2" else {"dim": 8, "channels": 8},
        run_dir=str(run),
        progress_bar=False,
    )


@pytest.mark.parametrize("method", ["wav2vec2"])  # the one with state: its quantizer's schedule
def test_resume_replays_the_interrupted_run_exactly(fsdd, tmp_path, method):
    pretrain(_config(fsdd, tmp_path / "straight", method))
    with pytest.raises(Crash):
        pretrain(_config(fsdd, tmp_path / "cut", method), callbacks=[StopAfterFirstEpoch()])
    assert not (tmp_path / "cut" / "encoder.pt").exists()
    pretrain(_config(fsdd, tmp_path / "cut", method), resume=True)
    a = torch.load(tmp_path / "straight" / "encoder.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "encoder.pt", weights_only=True)
    for key in a:
        torch.testing.assert_close(b[key], a[key], msg=key)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--data", "digits", "--method", "wav2vec2"],
            "method 'wav2vec2' trains on waveforms but data 'digits' holds images; for images "
            "use --method one of barlowtwins",
        ),
        (
            ["--data", "fsdd:{fsdd}", "--method", "mlm"],
            "method 'mlm' trains on tokens but data 'fsdd:{fsdd}' holds waveforms; for "
            "waveforms use --method one of cpc, wav2vec2; 'mlm' needs --data one of shakespeare",
        ),
        (
            ["--data", "shakespeare", "--method", "cpc"],
            "'cpc' needs --data one of fsdd:PATH",
        ),
        (["--data", "fsdd:{fsdd}", "--method", "cpc", "--image-size", "32"], "--seq-len"),
        (["--data", "fsdd:{fsdd}", "--method", "cpc", "--backbone", "convnet"], "read waveforms"),
        (["--data", "fsdd:{fsdd}", "--method", "cpc", "--augmentation", "simclr"], "speech, none"),
        (["--data", "fsdd:{fsdd}.missing", "--method", "cpc"], "add --download"),
        (["--data", "fsdd", "--method", "cpc"], "needs a path: use 'fsdd:PATH'"),
    ],
)
def test_a_mismatch_is_refused_before_anything_is_written(
    arguments, message, fsdd, tmp_path, capsys
):
    run = tmp_path / "run"
    arguments = [a.format(fsdd=fsdd) for a in arguments]
    assert main(["train", *arguments, "--run-dir", str(run)]) == 2
    assert message.format(fsdd=fsdd) in capsys.readouterr().err
    assert not run.exists()


def test_listings_name_the_speech_entries(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("wav2vec2 ", "cpc "):
        assert any(line.startswith(name) and "[waveforms]" in line for line in lines), name
    assert main(["datasets"]) == 0
    assert any(
        line.startswith("fsdd:PATH ") and "[waveforms]" in line
        for line in capsys.readouterr().out.splitlines()
    )


def _archive(fsdd: Path, tmp_path: Path) -> Path:
    """The recordings of ``fsdd`` as the public repository lays them out, zipped."""
    recordings = load_fsdd(fsdd)
    names = ["alice", "bob"]
    path = tmp_path / "master.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("free-spoken-digit-dataset-master/README.md", "FSDD")
        for i in range(len(recordings)):
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(recordings.sample_rate)
                start, end = int(recordings.offsets[i]), int(recordings.offsets[i + 1])
                out.writeframes(recordings.audio[start:end].numpy().astype("<i2").tobytes())
            label, speaker = int(recordings.labels[i]), names[int(recordings.speakers[i])]
            member = f"recordings/{label}_{speaker}_{int(recordings.takes[i])}.wav"
            archive.writestr(f"free-spoken-digit-dataset-master/{member}", buffer.getvalue())
    return path


def test_download_builds_the_npz_from_the_repository_archive(fsdd, tmp_path):
    original = load_fsdd(fsdd)
    built = load_fsdd(
        download_fsdd(tmp_path / "sub" / "built.npz", _archive(fsdd, tmp_path).as_uri())
    )
    assert len(built) == len(original) and built.sample_rate == original.sample_rate
    assert set(built.speaker_names) == {"alice", "bob"}

    def by_key(r, names):
        return {
            (int(r.labels[i]), names[int(r.speakers[i])], int(r.takes[i])): r.waveform(i)
            for i in range(len(r))
        }

    want = by_key(original, ["alice", "bob"])
    got = by_key(built, list(built.speaker_names))
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_download_through_the_cli_and_offline_refusal(fsdd, tmp_path, monkeypatch, capsys):
    target = tmp_path / "downloaded.npz"
    monkeypatch.setattr(waveforms, "FSDD_ARCHIVE_URL", (tmp_path / "absent.zip").as_uri())
    arguments = ["train", "--data", f"fsdd:{target}", *TINY, "--download"]
    assert main([*arguments, "--run-dir", str(tmp_path / "offline")]) == 2
    err = capsys.readouterr().err
    assert "could not download the Free Spoken Digit Dataset" in err and "copy an FSDD" in err
    assert not target.exists() and not (tmp_path / "offline").exists()
    monkeypatch.setattr(waveforms, "FSDD_ARCHIVE_URL", _archive(fsdd, tmp_path).as_uri())
    splits = load_speech(f"fsdd:{target}", 1600, download=True)
    assert target.is_file() and len(splits.train) == 20 and len(splits.test) == 100
    np.testing.assert_array_equal(np.sort(splits.test.takes.numpy()), np.repeat(np.arange(5), 20))


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "emulated-bf16"])
def test_a_bf16_runs_probes_extract_in_bf16_only_where_native(fsdd, tmp_path, monkeypatch, native):
    """The probes of a speech run trained in bf16 extract the encoder's features (train and
    test recordings) under bf16 autocast where the CPU has native bf16 (faked here), in
    float32 where bf16 is emulated."""
    from eblearn.evaluate.inference import FLOAT32, Inference
    from eblearn.train import precision as precision_module

    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: native)
    monkeypatch.setattr(speech_eval, "REPEATS", 1)
    monkeypatch.setattr(speech_eval, "PROBE", lambda: LinearProbe((1.0,), max_iter=20))
    seen: list[Inference] = []
    encode = speech_eval.encode_recordings

    def recording(encoder, waveforms, lengths, batch_size=64, inference=FLOAT32):
        seen.append(inference)
        return encode(encoder, waveforms, lengths, batch_size, inference)

    monkeypatch.setattr(speech_eval, "encode_recordings", recording)
    config = dataclasses.replace(
        _config(fsdd, tmp_path / "run", "wav2vec2"), epochs=1, precision="bf16-mixed"
    )
    train_and_evaluate(config)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["precision"] == "bf16-mixed"
    assert seen == [Inference(torch.bfloat16) if native else FLOAT32] * 2
