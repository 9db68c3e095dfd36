"""``eblearn train`` on text: the run folder, the evaluation table, resume, modality errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from eblearn.app.train import load_pretrained, pretrain, train_and_evaluate
from eblearn.cli import main
from eblearn.data.tokenizers import BPETokenizer, tokenizer_from_dict
from eblearn.train.config import TrainConfig

CORPUS = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\n\n"
    "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n"
) * 30
TINY = [
    "--method",
    "mlm",
    "--epochs",
    "2",
    "--seq-len",
    "16",
    "--batch-size",
    "32",
    "--backbone-arg",
    "dim=16",
    "--backbone-arg",
    "depth=1",
    "--backbone-arg",
    "heads=2",
    "--no-progress",
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def test_train_on_a_text_file_writes_the_run_and_prints_the_table(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", f"text:{corpus}", *TINY, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "masked tokens" in out and "nats/char" in out
    for name in ("mlm (transformer)", "unigram", "bigram", "trigram"):
        assert name in out
    for name in ("config.yaml", "checkpoints/last.ckpt", "log.csv", "encoder.pt"):
        assert (run / name).is_file(), name
    assert (run / "loss_curve.png").is_file() and (run / "tokenizer.json").is_file()
    results = json.loads((run / "results.json").read_text())
    assert results["modality"] == "tokens"
    assert [b["name"] for b in results["baselines"]] == ["unigram", "bigram", "trigram"]
    positions = {results["masked_tokens"]["positions"]} | {
        b["positions"] for b in results["baselines"]
    }
    assert len(positions) == 1  # every model scored at the same held-out positions
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seq_len"] == 16 and config["image_size"] == 0
    assert config["backbone"] == "transformer" and config["augmentation"] == "tokens"
    tokenizer = tokenizer_from_dict(json.loads((run / "tokenizer.json").read_text()))
    assert tokenizer.decode(tokenizer.encode("Romeo")) == "Romeo"
    # eval reads the run back and scores it the same way
    assert main(["eval", str(run)]) == 0
    again = json.loads((run / "eval.json").read_text())
    assert again["masked_tokens"] == results["masked_tokens"]


class Crash(RuntimeError):
    """A failure after the first epoch's checkpoint is written."""


class StopAfterFirstEpoch(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:  # epoch 0's checkpoint is written
            raise Crash


def _config(corpus: Path, run: Path) -> TrainConfig:
    return TrainConfig(
        method="mlm",
        data=f"text:{corpus}",
        epochs=2,
        seq_len=16,
        batch_size=32,
        backbone_args={"dim": 16, "depth": 1, "heads": 2},
        run_dir=str(run),
        progress_bar=False,
    )


def test_resume_replays_the_interrupted_run_exactly(corpus, tmp_path):
    pretrain(_config(corpus, tmp_path / "straight"))
    with pytest.raises(Crash):
        pretrain(_config(corpus, tmp_path / "cut"), callbacks=[StopAfterFirstEpoch()])
    assert (tmp_path / "cut" / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "cut" / "encoder.pt").exists()
    pretrain(_config(corpus, tmp_path / "cut"), resume=True)
    a = torch.load(tmp_path / "straight" / "encoder.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "encoder.pt", weights_only=True)
    for key in a:
        torch.testing.assert_close(b[key], a[key], msg=key)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--data", "digits", "--method", "mlm"],
            "method 'mlm' trains on tokens but data 'digits' holds images; for images use "
            "--method one of barlowtwins",
        ),
        (
            ["--data", "shakespeare", "--method", "vicreg"],
            "method 'vicreg' trains on images but data 'shakespeare' holds tokens; for tokens "
            "use --method one of collobert-weston, mlm",
        ),
        (["--data", "shakespeare", "--method", "mlm", "--image-size", "32"], "--seq-len"),
        (["--data", "digits", "--seq-len", "32"], "leave out --seq-len"),
        (["--data", "shakespeare", "--method", "mlm", "--backbone", "convnet"], "read tokens"),
        (["--data", "shakespeare", "--method", "mlm", "--augmentation", "simclr"], "for images"),
        (["--data", "digits", "--tokenizer", "bpe"], "leave out --tokenizer"),
        (["--data", "shakespeare", "--method", "mlm", "--vocab-size", "99"], "--tokenizer bpe"),
        (
            ["--data", "shakespeare", "--method", "mlm", "--tokenizer", "bpe", "--vocab-size", "9"],
            "use at least",
        ),
    ],
)
def test_a_modality_mismatch_is_refused_before_anything_is_written(
    arguments, message, tmp_path, capsys
):
    run = tmp_path / "run"
    assert main(["train", *arguments, "--run-dir", str(run)]) == 2
    assert message in capsys.readouterr().err
    assert not run.exists()


def test_listings_name_the_modality(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("mlm ") and "[tokens]" in line for line in out.splitlines())
    assert any(line.startswith("vicreg ") and "[images]" in line for line in out.splitlines())
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "shakespeare" in out and "text:PATH" in out
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "transformer" in out and out.splitlines()[-1].startswith("timm:NAME ")


def test_collobert_weston_trains_on_words_and_prints_its_ranking(corpus, tmp_path, capsys):
    run = tmp_path / "cw"
    arguments = ["--method", "collobert-weston", "--epochs", "1", "--batch-size", "8"]
    arguments += ["--backbone-arg", "dim=4", "--backbone-arg", "hidden=8", "--no-progress"]
    assert main(["train", "--data", f"text:{corpus}", *arguments, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "ranks the true window first in" in out and "chance 50%" in out
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["backbone"] == "window" and config["seq_len"] == 5
    assert json.loads((run / "tokenizer.json").read_text())["kind"] == "word"
    results = json.loads((run / "results.json").read_text())
    assert 0.0 <= results["ranking"]["accuracy"] <= 1.0 and "neighbors" in results


def test_a_bpe_run_saves_its_tokenizer_and_reloads_it_rather_than_refitting(
    corpus, tmp_path, capsys
):
    run = tmp_path / "bpe"
    bpe = ["--tokenizer", "bpe", "--vocab-size", "60"]
    assert main(["train", "--data", f"text:{corpus}", *TINY, *bpe, "--run-dir", str(run)]) == 0
    assert "nats/token" in capsys.readouterr().out
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["tokenizer"], config["vocab_size"]) == ("bpe", 60)
    saved = tokenizer_from_dict(json.loads((run / "tokenizer.json").read_text()))
    assert isinstance(saved, BPETokenizer) and saved.vocab_size == 60
    assert saved == BPETokenizer.fit(CORPUS[: round(len(CORPUS) * 0.9)], 60)
    # the corpus changes after training: a refit would learn other merges, the run must not
    corpus.write_text(CORPUS.replace("Romeo", "Tybalt"), encoding="utf-8")
    reloaded = load_pretrained(run).data.tokenizer
    assert reloaded == saved
    text = "But soft, Romeo"
    assert torch.equal(reloaded.encode(text), saved.encode(text))
    assert reloaded.decode(reloaded.encode(text)) == text


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "emulated-bf16"])
def test_a_bf16_runs_speaker_probe_extracts_in_bf16_only_where_native(
    corpus, tmp_path, monkeypatch, native
):
    """The speaker probe of a run trained in bf16 extracts its features under bf16 autocast
    where the CPU has native bf16 (faked here), in float32 where bf16 is emulated."""
    from eblearn.evaluate import speakers
    from eblearn.evaluate.inference import FLOAT32, Inference
    from eblearn.train import precision as precision_module

    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: native)
    seen: list[Inference] = []
    encode = speakers.encode_windows

    def recording(encoder, windows, batch_size=256, inference=FLOAT32):
        seen.append(inference)
        return encode(encoder, windows, batch_size, inference)

    monkeypatch.setattr(speakers, "encode_windows", recording)
    config = dataclasses.replace(
        _config(corpus, tmp_path / "run"), epochs=1, precision="bf16-mixed"
    )
    train_and_evaluate(config)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["precision"] == "bf16-mixed"
    assert seen == [Inference(torch.bfloat16) if native else FLOAT32]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0.0 <= results["speaker_probe"]["encoder"] <= 1.0
