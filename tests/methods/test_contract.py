"""The contract every registered method honours (timm-style, over the whole registry)."""

from __future__ import annotations

import io

import pytest
import torch

from eblearn.data import AUGMENTATIONS, MultiViewAugment
from eblearn.methods import METHODS, Method, build_method
from eblearn.nn import ConvNet, TokenTransformer

SMALL_ARGS: dict[str, dict[str, object]] = {
    "vicreg": {"projector_dims": (32, 32)},
    "barlowtwins": {"projector_dims": (32, 32)},  # the paper's 8192 wide take seconds a step
    "wav2vec2": {"entries": 8, "code_dim": 16, "mask_span": 3, "num_distractors": 5},
    "cpc": {"steps": 3},
}
"""Small hyper-parameters per method so the contract runs fast; others use their defaults."""


VOCAB, SEQ_LEN = 12, 8
"""The token methods' small vocabulary and windows."""
AUDIO_BACKBONE_ARGS: dict[str, dict[str, object]] = {
    "wav2vec2": {"dim": 16, "depth": 1, "heads": 2, "channels": 8},
    "cpc": {"dim": 8, "channels": 8},
}
"""The speech methods' small waveform encoders (their default backbones, narrowed)."""
SAMPLES = 1600
"""Samples per waveform of the speech methods' batches (0.2 s at 8 kHz: 19 frames)."""


def _build(name: str, channels: int = 1) -> Method:
    if METHODS.get(name).modality == "tokens":
        backbone = TokenTransformer(VOCAB, SEQ_LEN, dim=16, depth=1, heads=2)
        return build_method(name, backbone, **SMALL_ARGS.get(name, {}))
    if METHODS.get(name).modality == "waveforms":
        from eblearn.nn.audio import build_audio_backbone
        from eblearn.train.config import WAVEFORM_BACKBONES_BY_METHOD

        backbone = build_audio_backbone(
            WAVEFORM_BACKBONES_BY_METHOD[name], **AUDIO_BACKBONE_ARGS[name]
        )
        return build_method(name, backbone, **SMALL_ARGS.get(name, {}))
    return build_method(name, ConvNet(channels, width=4), **SMALL_ARGS.get(name, {}))


def _views(method: Method, batch: int = 8, channels: int = 1) -> list[torch.Tensor]:
    """A batch in the method's modality: augmented images, windows of ordinary tokens, or
    waveforms with their lengths (as :class:`~eblearn.data.waveforms.WaveformViews` gives)."""
    if method.modality == "tokens":
        return [torch.randint(3, VOCAB, (batch, SEQ_LEN)) for _ in range(method.num_views)]
    if method.modality == "waveforms":
        lengths = torch.linspace(SAMPLES // 2, SAMPLES, batch).long()
        waveforms = torch.randn(batch, SAMPLES) * (torch.arange(SAMPLES) < lengths[:, None])
        return [waveforms, lengths]
    recipes = AUGMENTATIONS.get("digits")(16, channels)
    recipes = (recipes * method.num_views)[: method.num_views]
    augment = MultiViewAugment(recipes, (0.3,) * channels, (0.3,) * channels)
    return augment(torch.randint(0, 256, (batch, channels, 8, 8), dtype=torch.uint8))


@pytest.fixture(params=METHODS.names())
def name(request) -> str:
    return request.param


def test_a_step_runs_and_every_learnable_parameter_gets_a_gradient(name):
    method = _build(name)
    out = method(_views(method))
    assert {"loss", "features", "embeddings"} <= set(out)
    for key, value in out.items():
        assert torch.isfinite(value).all(), key
    assert out["features"].shape[1] == method.feature_dim
    assert not out["features"].requires_grad and not out["embeddings"].requires_grad
    out["loss"].backward()
    missing = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    method.on_step_end(0, 10)


def test_a_step_runs_under_bf16_autocast_with_a_float32_loss(name):
    # --precision bf16-mixed (chosen by auto where bf16 is native) runs every method so.
    method = _build(name)
    views = _views(method)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = method(views)
    assert out["loss"].dtype == torch.float32
    assert torch.isfinite(out["loss"]), out["loss"]
    out["loss"].backward()
    missing = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


def test_state_survives_save_and_load(name):
    method = _build(name)
    method(_views(method))  # one forward pass, so that any state (queues, stats) is filled
    method.on_step_end(0, 10)
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    restored = _build(name)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    method.eval(), restored.eval()
    views = _views(method)
    torch.manual_seed(1)
    expected = method(views)
    torch.manual_seed(1)
    actual = restored(views)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=key)


def test_every_method_declares_a_known_modality(name):
    assert METHODS.get(name).modality in ("images", "tokens", "waveforms")


def test_the_docstring_states_energy_inference_and_strategy(name):
    doc = (METHODS.get(name).__doc__ or "").lower()
    for word in ("energy", "inference", "strategy"):
        assert word in doc, f"{name}'s docstring does not state its {word}"
    assert "arxiv.org" in doc or "doi" in doc, f"{name}'s docstring cites no paper"


def test_unknown_method_and_hyper_parameter():
    with pytest.raises(ValueError, match=r"unknown method 'nope'; valid methods: .*vicreg"):
        build_method("nope", ConvNet(1, width=4))
    with pytest.raises(ValueError, match=r"no hyper-parameter.*projector; valid: projector_dims"):
        build_method("vicreg", ConvNet(1, width=4), projector=(8,))


def test_batch_of_one_is_refused_with_a_clear_message():
    method = _build("vicreg")
    with pytest.raises(ValueError, match="at least 2 samples"):
        method(_views(method, batch=1))
