"""Feature extraction in a run's precision and layout (eblearn.evaluate.inference)."""

from __future__ import annotations

import pytest
import torch

from eblearn.evaluate import FLOAT32, Inference, extract_features
from eblearn.nn.backbones import build_backbone


class RecordInputs(torch.nn.Module):
    """Wraps an encoder; records each batch's layout and the autocast state it ran under."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.channels_last: list[bool] = []
        self.autocast: list[torch.dtype | None] = []
        self.output_dtypes: list[torch.dtype] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.channels_last.append(
            images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
        )
        enabled = torch.is_autocast_enabled("cpu")
        self.autocast.append(torch.get_autocast_dtype("cpu") if enabled else None)
        features = self.encoder(images)
        self.output_dtypes.append(features.dtype)
        return features


@pytest.fixture(scope="module")
def encoder_and_images():
    torch.manual_seed(0)
    encoder = build_backbone("convnet", 3, 16, width=8)
    with torch.no_grad():  # BatchNorm statistics away from (0, 1) so eval mode matters
        for module in encoder.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    images = torch.randint(0, 256, (37, 3, 16, 16), dtype=torch.uint8)
    return encoder, images


def _scale(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(255.0).sub(0.5)


def test_the_default_is_float32_contiguous(encoder_and_images):
    encoder, images = encoder_and_images
    recorder = RecordInputs(encoder)
    features = extract_features(recorder, images, _scale, batch_size=16)
    assert features.shape == (37, encoder.feature_dim) and features.dtype == torch.float32
    assert recorder.channels_last == [False, False, False]
    assert recorder.autocast == [None, None, None]
    assert Inference() == FLOAT32 and FLOAT32.name == "float32"


def test_channels_last_reaches_the_encoder_and_changes_only_rounding(encoder_and_images):
    encoder, images = encoder_and_images
    reference = extract_features(encoder, images, _scale, batch_size=16)
    recorder = RecordInputs(encoder)
    inference = Inference(channels_last=True)
    features = extract_features(recorder, images, _scale, batch_size=16, inference=inference)
    assert recorder.channels_last == [True, True, True]
    assert recorder.autocast == [None, None, None]
    torch.testing.assert_close(features, reference, rtol=1e-5, atol=1e-5)
    assert inference.name == "float32+channels_last"


def test_bf16_runs_under_autocast_and_returns_float32_close_to_float32(encoder_and_images):
    encoder, images = encoder_and_images
    reference = extract_features(encoder, images, _scale, batch_size=16)
    recorder = RecordInputs(encoder)
    inference = Inference(autocast_dtype=torch.bfloat16, channels_last=True)
    features = extract_features(recorder, images, _scale, batch_size=16, inference=inference)
    assert recorder.autocast == [torch.bfloat16] * 3
    assert recorder.output_dtypes == [torch.bfloat16] * 3  # the encoder really ran in bf16
    assert features.dtype == torch.float32
    relative = (features - reference).norm() / reference.norm()
    assert 0 < relative < 2e-2  # bf16 rounding: close, not identical
    assert inference.name == "bf16+channels_last"


def test_the_encoders_mode_is_restored(encoder_and_images):
    encoder, images = encoder_and_images
    encoder.train()
    inference = Inference(autocast_dtype=torch.bfloat16, channels_last=True)
    extract_features(encoder, images[:4], _scale, inference=inference)
    assert encoder.training
    encoder.eval()
    extract_features(encoder, images[:4], _scale, inference=inference)
    assert not encoder.training


def test_only_16_bit_autocast_types_are_accepted():
    with pytest.raises(ValueError, match="autocast_dtype must be None"):
        Inference(autocast_dtype=torch.float64)
    assert Inference(autocast_dtype=torch.float16).name == "fp16"


# --- token windows and recordings: the same setting, without a layout ------------------------


def _token_encoder():
    from eblearn.nn.sequence import build_token_backbone

    torch.manual_seed(0)
    return build_token_backbone("transformer", 30, 12, dim=16, depth=1, heads=2)


def _speech_encoder_and_recordings():
    from eblearn.nn.audio import small_audio_encoder

    torch.manual_seed(0)
    encoder = small_audio_encoder(dim=16, depth=1, heads=2, channels=8)
    waveforms = 0.2 * torch.randn(9, 1600, generator=torch.Generator().manual_seed(1))
    return encoder, waveforms, torch.tensor([1600, 1200, 800] * 3)


def _linear_maps(encoder: torch.nn.Module) -> list[torch.nn.Module]:
    return [module for module in encoder.modules() if isinstance(module, torch.nn.Linear)]


def _token_case():
    from eblearn.evaluate.speakers import encode_windows

    encoder = _token_encoder()
    windows = torch.randint(3, 30, (37, 12), generator=torch.Generator().manual_seed(1))

    def encode(inference: Inference) -> torch.Tensor:
        features = encode_windows(encoder, windows, 16, inference)
        assert features.shape == (len(windows), encoder.feature_dim)
        return features

    return encoder, encode, [encoder]


def _speech_case():
    from eblearn.evaluate.speech import encode_recordings

    encoder, waveforms, lengths = _speech_encoder_and_recordings()

    def encode(inference: Inference) -> torch.Tensor:
        features = encode_recordings(encoder, waveforms, lengths, 4, inference)
        assert features.shape == (len(waveforms), encoder.feature_dim)
        return features

    return encoder, encode, [encoder]


def _token_layers_case():
    from eblearn.evaluate.speakers import layer_features

    encoder = _token_encoder()
    windows = torch.randint(3, 30, (37, 2, 12), generator=torch.Generator().manual_seed(1))

    def encode(inference: Inference) -> torch.Tensor:
        return layer_features(encoder, windows, "all", 16, inference)

    return encoder, encode, _linear_maps(encoder)


def _speech_layers_case():
    from eblearn.evaluate.speech import encode_layers

    encoder, waveforms, lengths = _speech_encoder_and_recordings()

    def encode(inference: Inference) -> torch.Tensor:
        layers = encode_layers(encoder, waveforms, lengths, "mean+std", 4, inference)
        assert all(x.dtype == torch.float32 for x in layers.values())
        return torch.cat(list(layers.values()), 1)

    return encoder, encode, _linear_maps(encoder)


@pytest.mark.parametrize(
    "case",
    [_token_case, _speech_case, _token_layers_case, _speech_layers_case],
    ids=["encode_windows", "encode_recordings", "layer_features", "encode_layers"],
)
def test_sequence_encoders_extract_in_bf16_when_asked_and_return_float32(case):
    """Token windows and recordings, final or layer-wise features: the watched modules (the
    encoder, or every linear map of it) run under the setting's autocast, the features come
    back float32 and close to (not equal to) the float32 ones, and the mode is restored."""
    encoder, encode, watched = case()
    autocast: list[torch.dtype | None] = []
    for module in watched:
        module.register_forward_pre_hook(
            lambda module, args: autocast.append(
                torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
            )
        )
    encoder.train()
    reference = encode(FLOAT32)
    calls = len(autocast)
    assert calls > 0 and set(autocast) == {None} and encoder.training
    features = encode(Inference(autocast_dtype=torch.bfloat16))
    assert autocast[calls:] == [torch.bfloat16] * calls and encoder.training
    assert features.dtype == reference.dtype == torch.float32
    assert features.shape == reference.shape
    relative = (features - reference).norm() / reference.norm()
    assert 0 < relative < 3e-2  # bf16 rounding: close, not identical
