"""``eblearn export`` and ``eblearn.load_encoder`` for text (mlm) and speech (wav2vec2) runs.

Run folders are laid out by hand as ``eblearn train`` writes them, from untrained methods:
each exported file must give the eager backbone's features, checked on inputs other than
the ones it was traced with (another batch size, padded windows, padded recordings).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from eblearn.app.export import SpeechEncoder, TextEncoder, export_encoder, load_encoder
from eblearn.app.run_folder import Mode
from eblearn.app.train import ENCODER_FILE, LAST_CHECKPOINT, train_folder
from eblearn.cli import main
from eblearn.data.speech import write_synthetic_fsdd
from eblearn.data.text import load_text
from eblearn.data.tokenizers import PAD, BPETokenizer, tokenizer_from_dict
from eblearn.data.waveforms import load_speech
from eblearn.nn.audio import build_audio_backbone
from eblearn.nn.sequence import build_token_backbone
from eblearn.train.checkpoint import save_checkpoint
from eblearn.train.config import TrainConfig, resolve
from eblearn.train.runs import build_components

CORPUS = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40
TEXT_BACKBONE = {"dim": 16, "depth": 1, "heads": 2}
AUDIO_BACKBONE = {"dim": 16, "depth": 1, "heads": 2, "channels": 8}
SEQ_LEN, CROP = 16, 1600


def make_run(run_dir: Path, request: TrainConfig, data) -> Path:
    """A finished run of an untrained method, in the layout eblearn train writes."""
    config = resolve(request, 0, 0, str(run_dir), modality=data.modality)
    torch.manual_seed(1)
    method, _, _ = build_components(config, data)
    folder = train_folder(run_dir)
    with folder.claimed(Mode.NEW, command="test"):
        folder.write_yaml("config.yaml", config.to_dict())
        if hasattr(data, "tokenizer"):
            folder.write_json("tokenizer.json", data.tokenizer.to_dict())
        state = {f"method.{k}": v for k, v in method.state_dict().items()}
        save_checkpoint({"state_dict": state, "epoch": 0}, folder.file(LAST_CHECKPOINT))
        save_checkpoint(method.encoder.state_dict(), folder.file(ENCODER_FILE))
    return run_dir


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    corpus = root / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    spec = f"text:{corpus}"
    data = load_text(spec, SEQ_LEN, "bpe", 40)
    request = TrainConfig(
        data=spec,
        method="mlm",
        seq_len=SEQ_LEN,
        tokenizer="bpe",
        vocab_size=40,
        backbone_args=TEXT_BACKBONE,
    )
    return make_run(root / "mlm", request, data)


@pytest.fixture(scope="module")
def wav2vec2_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    spec = f"fsdd:{write_synthetic_fsdd(root / 'fsdd.npz', num_speakers=2, num_takes=6)}"
    request = TrainConfig(data=spec, method="wav2vec2", seq_len=CROP, backbone_args=AUDIO_BACKBONE)
    return make_run(root / "wav2vec2", request, load_speech(spec, CROP))


def token_backbone(run: Path):
    """The mlm run's backbone rebuilt by hand from its saved weights."""
    vocab = tokenizer_from_dict(json.loads((run / "tokenizer.json").read_text())).vocab_size
    net = build_token_backbone("transformer", vocab, SEQ_LEN, **TEXT_BACKBONE)
    net.load_state_dict(torch.load(run / ENCODER_FILE, weights_only=True))
    return net.eval()


def audio_backbone(run: Path):
    net = build_audio_backbone("conv-transformer", **AUDIO_BACKBONE)
    net.load_state_dict(torch.load(run / ENCODER_FILE, weights_only=True))
    return net.eval()


def padded_windows(batch: int) -> torch.Tensor:
    """Token windows with [PAD] after a few tokens in every other row."""
    windows = torch.randint(3, 40, (batch, SEQ_LEN), generator=torch.Generator().manual_seed(7))
    windows[::2, 5:] = PAD
    return windows


def waveforms(batch: int) -> torch.Tensor:
    return 0.2 * torch.randn(batch, CROP, generator=torch.Generator().manual_seed(batch))


CASES = [
    ("mlm_run", token_backbone, padded_windows, "tokens"),
    ("wav2vec2_run", audio_backbone, waveforms, "waveforms"),
]


@pytest.mark.parametrize(("run", "rebuild", "inputs", "name"), CASES)
def test_state_dict_and_safetensors_hold_the_trained_backbone(
    run, rebuild, inputs, name, request, tmp_path
):
    from safetensors.torch import load_file, safe_open

    run_dir = request.getfixturevalue(run)
    saved = torch.load(run_dir / ENCODER_FILE, weights_only=True)
    state = torch.load(export_encoder(run_dir, "state-dict", tmp_path / "b.pt").path)
    assert state.keys() == saved.keys()
    for key in saved:
        assert torch.equal(state[key], saved[key]), key
    path = export_encoder(run_dir, "safetensors", tmp_path / "b.safetensors").path
    tensors = load_file(path)
    assert all(torch.equal(tensors[k], saved[k]) for k in saved)
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["modality"] == name


@pytest.mark.parametrize(("run", "rebuild", "inputs", "name"), CASES)
def test_torchscript_loads_alone_and_gives_the_eager_features(
    run, rebuild, inputs, name, request, tmp_path
):
    run_dir = request.getfixturevalue(run)
    path = export_encoder(run_dir, "torchscript", tmp_path / "b.torchscript.pt").path
    traced = torch.jit.load(io.BytesIO(path.read_bytes()))
    net = rebuild(run_dir)
    for batch in (1, 4):
        x = inputs(batch)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), net(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("run", "rebuild", "inputs", "name"), CASES)
def test_onnx_gives_the_torch_features_under_onnxruntime(
    run, rebuild, inputs, name, request, tmp_path, capsys
):
    import onnxruntime

    run_dir = request.getfixturevalue(run)
    out = tmp_path / "b.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "largest feature difference" in printed and f"{{'{name}': {name}}}" in printed
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == name
    net = rebuild(run_dir)
    for batch in (1, 5):  # the batch axis is dynamic
        x = inputs(batch)
        ours = session.run(None, {name: x.numpy()})[0]
        with torch.no_grad():
            reference = net(x).numpy()
        assert ours.shape == reference.shape == (batch, 16)
        assert np.abs(ours - reference).max() <= 1e-4


def test_load_encoder_of_a_text_run_tokenizes_with_the_saved_tokenizer(mlm_run):
    encoder = load_encoder(mlm_run)
    assert isinstance(encoder, TextEncoder) and isinstance(encoder.tokenizer, BPETokenizer)
    assert not encoder.module.training and encoder.feature_dim == 16
    net = token_backbone(mlm_run)
    texts = ["But soft", "what light through yonder window breaks? " * 3]
    features = encoder(texts)
    with torch.no_grad():
        for row, text in zip(features, texts):
            ids = encoder.tokenizer.encode(text)[:SEQ_LEN]  # the text alone, no padding
            torch.testing.assert_close(row, net(ids[None])[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoder("But soft"), features[:1])
    windows = padded_windows(3)
    torch.testing.assert_close(encoder(windows), net(windows).detach())


def test_load_encoder_of_a_speech_run_pools_over_the_real_samples(wav2vec2_run):
    encoder = load_encoder(wav2vec2_run)
    assert isinstance(encoder, SpeechEncoder) and not encoder.module.training
    net = audio_backbone(wav2vec2_run)
    x = waveforms(3)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), net(x), atol=1e-5, rtol=1e-5)
        # a recording zero-padded to twice its length, with its length: the same features
        padded = torch.cat([x, torch.zeros_like(x)], 1)
        lengths = torch.full((3,), CROP)
        torch.testing.assert_close(encoder(padded, lengths), net(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"waveforms must have shape \(N, L\)"):
        encoder(x[0])


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "emulated-bf16"])
@pytest.mark.parametrize("modality", ["tokens", "waveforms"])
def test_a_bf16_runs_encoder_encodes_in_bf16_only_where_native(
    tmp_path, monkeypatch, request, modality, native
):
    """A text or speech run trained in bf16: ``load_encoder`` encodes under bf16 autocast
    where the CPU has native bf16 (faked here), in float32 where it is emulated; the
    features are float32 and agree with the float32 encoder's to bf16 rounding."""
    from eblearn.evaluate.inference import FLOAT32, Inference
    from eblearn.train import precision as precision_module

    monkeypatch.setattr(precision_module, "native_bf16", lambda device, cpuinfo=None: native)
    float32_run = request.getfixturevalue("mlm_run" if modality == "tokens" else "wav2vec2_run")
    config = yaml.safe_load((float32_run / "config.yaml").read_text())
    run = tmp_path / "bf16"
    shutil.copytree(float32_run, run)
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "precision": "bf16-mixed"}))
    encoder, reference = load_encoder(run), load_encoder(float32_run)
    expected = Inference(torch.bfloat16) if native else FLOAT32
    assert encoder.inference(torch.device("cpu")) == expected
    assert reference.inference(torch.device("cpu")) == FLOAT32
    autocast: list[bool] = []
    encoder.module.register_forward_pre_hook(
        lambda module, args: autocast.append(torch.is_autocast_enabled("cpu"))
    )
    inputs = padded_windows(3) if modality == "tokens" else waveforms(3)
    features = encoder(inputs)
    assert autocast == [native] and features.dtype == torch.float32
    torch.testing.assert_close(features, reference(inputs), atol=5e-2, rtol=5e-2)
    assert not encoder.module.training
