"""``eblearn export`` and :func:`load_encoder`: a run's encoder, out of eblearn.

A training run folder keeps its backbone's weights in ``encoder.pt`` (written at the end of
training; an unfinished run's ``checkpoints/last.ckpt`` serves instead). :func:`load_backbone`
rebuilds the backbone from ``config.yaml`` and loads them, reading nothing else;
:func:`load_encoder` adds the evaluation transform (resize, then normalize with the training
data's mean and std, saved in the run folder by :mod:`eblearn.app.data_stats`) for use in
Python; :func:`export_encoder` writes the backbone alone in a
format that loads without eblearn:

    state-dict   ``torch.save`` of the state dict of :meth:`Backbone.standalone`: a ResNet's
                 loads with ``strict=True`` into ``torchvision.models.resnetNN()`` with
                 ``fc = nn.Identity()`` (and, for the CIFAR stem, a 3×3 stride-1 ``conv1`` and
                 ``maxpool = nn.Identity()``; see :func:`torchvision_recipe`), a RegNet's
                 into ``torchvision.models.regnet_*()`` likewise (the small-image stem is a
                 stride-1 ``stem[0]``), a ``timm:NAME`` backbone's into
                 ``timm.create_model(NAME, num_classes=0, **options)``
    safetensors  the same tensors as a ``.safetensors`` file (extra ``eblearn[export]``)
    torchscript  a ``torch.jit.trace``; ``torch.jit.load`` alone runs it
    onnx         an ONNX graph (input ``images``, output ``features``, dynamic batch axis),
                 checked under onnxruntime against torch before it is written (extra
                 ``eblearn[export]``)

Every exported model of an image run maps *normalized* images ``(B, C, S, S)`` (``S`` the
run's image size) to features ``(B, D)``; :attr:`Encoder.transform` is the normalization
eblearn applied. A text run's maps token windows ``(B, T)`` (``int64`` ids of the run's
``tokenizer.json``, ``[PAD]`` = 0 after the text; ``T`` up to the run's ``seq_len``, exactly
it for ONNX) to features ``(B, D)`` (:class:`TextEncoder` tokenizes for you); a speech run's
maps waveforms ``(B, L)`` (float samples in [-1, 1) at the data's rate) to features
``(B, D)``, the context averaged over all frames (:class:`SpeechEncoder`). The ONNX input is
named ``images``, ``tokens`` or ``waveforms`` accordingly, with a dynamic batch axis; its
windows hold exactly ``seq_len`` tokens, its waveforms exactly ``seq_len`` samples (the
run's crop; pad or cut to it), as the graph keeps the traced lengths.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eblearn._io import atomic_write_bytes, load_tensors
from eblearn.app.data_stats import read_statistics
from eblearn.app.options import HelpFormatter
from eblearn.app.run_folder import Mode, RunFolder
from eblearn.app.train import (
    ENCODER_FILE,
    LAST_CHECKPOINT,
    read_run_config,
    read_run_tokenizer,
    train_folder,
)
from eblearn.data.registry import IMAGES, modality_of
from eblearn.data.tokenizers import NUM_SPECIAL, PAD, Tokenizer
from eblearn.evaluate.inference import Inference
from eblearn.nn.backbones import Backbone, ConvNet, RegNet, ResNet, build_backbone
from eblearn.nn.timm_backbones import TimmBackbone
from eblearn.train.config import RunConfig

FORMATS: dict[str, str] = {
    "state-dict": ".pt",
    "safetensors": ".safetensors",
    "torchscript": ".torchscript.pt",
    "onnx": ".onnx",
}
"""Export formats and the suffix of their default file name."""

EXTRAS: dict[str, tuple[str, ...]] = {
    "safetensors": ("safetensors",),
    "onnx": ("onnx", "onnxruntime"),
}
"""The optional packages (extra ``eblearn[export]``) each format needs."""

EXPORT_DIR = "export"
ONNX_TOLERANCE = 1e-4
"""Largest difference allowed between an exported graph's features (onnxruntime, a loaded
TorchScript trace) and torch's, times max(1, |f|)."""
ONNX_OPSET = 17
INPUT_NAMES = {"images": "images", "tokens": "tokens", "waveforms": "waveforms"}
"""The ONNX graph's input, by modality."""


def require_packages(names: Sequence[str], needed_for: str, extra: str) -> None:
    """Raises ``ImportError`` naming the extra if any of ``names`` cannot be imported.

    Example:
        >>> require_packages(["math"], "nothing", "none")
    """
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"{needed_for} needs the optional package(s) {', '.join(missing)}, which are not "
            f"installed: pip install 'eblearn[{extra}]'"
        )


# --- loading a run's backbone ---------------------------------------------------------------


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.exists():
        raise ValueError(f"run folder {str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise ValueError(f"{str(run_dir)!r} is a file, not a run folder")


def encoder_weights(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Tensor], Path]:
    """The backbone's state dict of a run and the file it came from.

    ``encoder.pt`` when the run finished; else the ``method.encoder.`` entries of
    ``checkpoints/last.ckpt`` (a run that was interrupted after its first epoch). Both are
    loaded with ``weights_only=True``.

    Raises:
        ValueError: If the folder holds neither file, or the file is unreadable or holds
            something other than tensors.
    """
    from eblearn.train.checkpoint import load_checkpoint

    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    source = run_dir / ENCODER_FILE
    if source.is_file():
        state = load_tensors(source)
    elif (run_dir / LAST_CHECKPOINT).is_file():
        source = run_dir / LAST_CHECKPOINT
        prefix = "method.encoder."
        saved = load_checkpoint(source)["state_dict"]
        state = {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(
                f"checkpoint {str(source)!r} holds no encoder weights (no {prefix!r} entries)"
            )
    else:
        raise ValueError(
            f"run folder {str(run_dir)!r} holds no trained encoder: neither {ENCODER_FILE} "
            f"nor {LAST_CHECKPOINT} (a run saves the checkpoint at the end of its first epoch)"
        )
    wrong = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if wrong:
        raise ValueError(
            f"{str(source)!r} is not a state dict: {wrong[0]!r} holds a "
            f"{type(state[wrong[0]]).__name__}, not a tensor"
        )
    return state, source


def _channels_of(state: dict[str, Tensor], source: Path) -> int:
    """The input channels of the first convolution (the first 4-D weight) in ``state``."""
    for value in state.values():
        if value.ndim == 4:
            return int(value.shape[1])
    raise ValueError(
        f"{str(source)!r} holds no convolution weight (no 4-D tensor), so its input channels "
        "are unknown; it is not the state dict of an eblearn image backbone"
    )


def _vocab_size_of(run_dir: Path, state: dict[str, Tensor], source: Path) -> int:
    """A text run's vocabulary: its ``tokenizer.json``'s, else the rows of the token table."""
    tokenizer = read_run_tokenizer(run_dir)
    if tokenizer is not None:
        return tokenizer.vocab_size
    table = state.get("token_embedding.weight")
    if table is None or table.ndim != 2:
        raise ValueError(
            f"{str(source)!r} holds no token table ('token_embedding.weight') and the run has "
            "no tokenizer.json, so its vocabulary is unknown"
        )
    return int(table.shape[0])


def _build_run_backbone(
    run_dir: Path, config: RunConfig, state: dict[str, Tensor], source: Path
) -> Backbone:
    """The untrained backbone ``config.yaml`` describes, for the run's modality."""
    modality = modality_of(config.data)
    try:
        if modality == "tokens":
            from eblearn.nn.sequence import build_token_backbone

            vocab_size = _vocab_size_of(run_dir, state, source)
            return build_token_backbone(
                config.backbone, vocab_size, config.seq_len, **config.backbone_args
            )
        if modality == "waveforms":
            from eblearn.nn.audio import build_audio_backbone

            return build_audio_backbone(config.backbone, **config.backbone_args)
        channels = _channels_of(state, source)
        return build_backbone(config.backbone, channels, config.image_size, **config.backbone_args)
    except (TypeError, RuntimeError) as error:
        where = f" at {config.image_size} px" if modality == IMAGES else ""
        raise ValueError(
            f"backbone {config.backbone!r} cannot be built with options "
            f"{config.backbone_args}{where}: {error}"
        ) from None


def load_backbone(run_dir: str | os.PathLike[str]) -> tuple[Backbone, RunConfig]:
    """A run's backbone with its trained weights, in eval mode on the CPU, and its config.

    Reads only ``config.yaml``, the weights (see :func:`encoder_weights`) and, for a text
    run, ``tokenizer.json`` (its vocabulary size): not the data. Image, text and speech runs
    alike.

    Raises:
        ValueError: If the folder is not a training run folder, its configuration is
            malformed, or its weights are missing, unreadable or do not fit the backbone.
    """
    run_dir = Path(run_dir)
    _check_run_dir(run_dir)
    config = read_run_config(run_dir)
    state, source = encoder_weights(run_dir)
    backbone = _build_run_backbone(run_dir, config, state, source)
    try:
        backbone.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{str(source)!r} does not fit the {config.backbone!r} backbone that "
            f"{str(run_dir / 'config.yaml')!r} describes: {_load_error(error)}"
        ) from None
    return backbone.eval(), config


def _load_error(error: RuntimeError, most: int = 300) -> str:
    """The first specific line of ``load_state_dict``'s error (its first line only says
    "Error(s) in loading state_dict"), shortened to ``most`` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = lines[1] if len(lines) > 1 else (lines[0] if lines else repr(error))
    return line if len(line) <= most else line[: most - 3] + "..."


class _TrainedPrecision:
    """What every loaded encoder shares: it encodes in the precision and layout its run
    trained in, where its device runs them natively."""

    module: Backbone
    config: RunConfig

    def inference(self, device: torch.device) -> Inference:
        """The precision and layout the run trained in, where ``device`` runs them natively
        (:func:`eblearn.train.precision.inference_setting`): bf16 features agree with
        float32 ones to bf16 rounding."""
        from eblearn.train.precision import inference_setting

        config = self.config
        return inference_setting(config.precision, config.memory_format, self.module, device)

    @property
    def device(self) -> torch.device:
        """Where :attr:`module` is."""
        return next(self.module.parameters()).device


@dataclass
class Encoder(_TrainedPrecision):
    """A run's trained backbone with the transform its features were evaluated with.

    Calling it maps images to features: ``encoder(images)`` applies :attr:`transform`, then
    :attr:`module`, without gradients, in the precision and layout the run trained in where
    the module's device runs them natively (:meth:`inference`).

    Attributes:
        module: The backbone (an ``nn.Module`` in eval mode) mapping normalized images
            ``(B, C, S, S)`` to features ``(B, D)``.
        transform: Resizes ``uint8`` images ``(B, C, H, W)`` (or floats in [0, 1]) to ``S``
            and normalizes them with the training data's per-channel mean and std.
        config: The run's resolved configuration.
        run_dir: The run folder.
    """

    module: Backbone
    transform: nn.Module
    config: RunConfig
    run_dir: Path

    @property
    def feature_dim(self) -> int:
        """Size D of the features."""
        return int(self.module.feature_dim)

    @property
    def in_channels(self) -> int:
        """Channels C of the images the encoder takes."""
        return int(self.module.in_channels)

    @property
    def image_size(self) -> int:
        """Side S the transform resizes images to."""
        return int(self.config.image_size)

    def __call__(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """Features ``(N, D)`` (float32, on the CPU) of images ``(N, C, H, W)``."""
        from eblearn.evaluate.protocol import extract_features

        device = self.device
        return extract_features(
            self.module,
            images,
            self.transform.to(device),
            batch_size,
            device=device,
            inference=self.inference(device),
        )


@dataclass
class TextEncoder(_TrainedPrecision):
    """A text run's trained encoder with its tokenizer.

    Calling it maps texts to features: each text's first ``seq_len`` tokens (``[PAD]`` after
    a shorter one), or windows of ids ``(N, T)`` as they are, through :attr:`module` without
    gradients, in the precision the run trained in where the module's device runs it
    natively (:meth:`inference`); the features come back float32 on the CPU.

    Attributes:
        module: The token backbone (eval mode): windows ``(B, T)`` to features ``(B, D)``.
        tokenizer: The run's saved tokenizer (``tokenizer.json``).
        config: The run's resolved configuration.
        run_dir: The run folder.
    """

    module: Backbone
    tokenizer: Tokenizer
    config: RunConfig
    run_dir: Path

    @property
    def feature_dim(self) -> int:
        """Size D of the features."""
        return int(self.module.feature_dim)

    @property
    def seq_len(self) -> int:
        """Tokens per window T."""
        return int(self.config.seq_len)

    def windows(self, texts: Sequence[str]) -> Tensor:
        """The first ``seq_len`` token ids of each text, ``[PAD]`` after: ``(N, seq_len)``."""
        windows = torch.full((len(texts), self.seq_len), PAD, dtype=torch.int64)
        for i, text in enumerate(texts):
            ids = self.tokenizer.encode(text)[: self.seq_len]
            windows[i, : len(ids)] = ids
        return windows

    def __call__(self, texts: str | Sequence[str] | Tensor, batch_size: int = 256) -> Tensor:
        """Features ``(N, D)`` of texts (a string counts as one), or of windows ``(N, T)``."""
        from eblearn.evaluate.speakers import encode_windows

        if isinstance(texts, str):
            texts = [texts]
        windows = texts if isinstance(texts, Tensor) else self.windows(texts)
        return encode_windows(self.module, windows, batch_size, self.inference(self.device))


@dataclass
class SpeechEncoder(_TrainedPrecision):
    """A speech run's trained encoder.

    Calling it maps waveforms ``(N, L)`` (float samples in [-1, 1), zeros after each
    recording's ``lengths[n]`` real samples when given) to pooled features ``(N, D)``, in
    the precision the run trained in where the module's device runs it natively
    (:meth:`inference`).

    Attributes:
        module: The waveform encoder (eval mode).
        config: The run's resolved configuration.
        run_dir: The run folder.
    """

    module: Backbone
    config: RunConfig
    run_dir: Path

    @property
    def feature_dim(self) -> int:
        """Size D of the features."""
        return int(self.module.feature_dim)

    def __call__(
        self, waveforms: Tensor, lengths: Tensor | None = None, batch_size: int = 64
    ) -> Tensor:
        """Features ``(N, D)``, float32 on the CPU, of ``waveforms`` ``(N, L)``."""
        from eblearn.evaluate.speech import encode_recordings

        if waveforms.ndim != 2:
            raise ValueError(f"waveforms must have shape (N, L), got {tuple(waveforms.shape)}")
        if lengths is None:
            lengths = torch.full((len(waveforms),), waveforms.shape[1], dtype=torch.int64)
        inference = self.inference(self.device)
        return encode_recordings(self.module, waveforms.float(), lengths, batch_size, inference)


def load_encoder(
    run_dir: str | os.PathLike[str],
    *,
    data: Any = None,
    data_root: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> Any:
    """Loads a run's trained encoder and its evaluation transform, for use in Python.

    An image run's :class:`Encoder` normalizes with the mean and std of the run's training
    data, read from the run folder (:mod:`eblearn.app.data_stats`); a run folder without
    them (an older run) loads that data set again to recompute them (from ``data_root``,
    default the run's), unless ``data``, the run's
    :class:`~eblearn.data.images.DatasetSplits`, is given. A text run gives a
    :class:`TextEncoder` (with the run's saved tokenizer), a speech run a
    :class:`SpeechEncoder`; neither reads its data.

    Args:
        run_dir: A folder written by ``eblearn train``.
        data: The run's training data, if already loaded.
        data_root: Where the run's downloadable data set lives (default: as at training).
        device: Where to put the backbone.

    Returns:
        An :class:`Encoder`: ``.module`` (the backbone, eval mode), ``.transform``, and
        ``encoder(images)`` for features; a :class:`TextEncoder` (``encoder(texts)``) or a
        :class:`SpeechEncoder` (``encoder(waveforms)``) for text and speech runs.

    Raises:
        ValueError: If the folder is not a training run, its weights do not load, or its
            training data (for the normalization) cannot be loaded.

    Example:
        >>> encoder = load_encoder("runs/vicreg-digits")  # doctest: +SKIP
        >>> features = encoder(images_uint8)  # (N, D)  # doctest: +SKIP
    """
    from eblearn.data.augment import EvalTransform

    backbone, config = load_backbone(run_dir)
    modality = modality_of(config.data)
    if modality == "tokens":
        tokenizer = read_run_tokenizer(run_dir)
        if tokenizer is None:
            raise ValueError(
                f"text run {str(run_dir)!r} has no tokenizer.json, so its texts cannot be "
                "encoded as in training"
            )
        return TextEncoder(backbone.to(device), tokenizer, config, Path(run_dir))
    if modality == "waveforms":
        return SpeechEncoder(backbone.to(device), config, Path(run_dir))
    if data is None:
        data = read_statistics(run_dir) or load_training_data(config, data_root)
    transform = EvalTransform(config.image_size, data.mean, data.std)
    return Encoder(backbone.to(device), transform.to(device), config, Path(run_dir))


def load_training_data(
    config: RunConfig,
    data_root: str | os.PathLike[str] | None,
    download: bool = False,
    strict: bool = False,
) -> Any:
    """The run's training data set (for its mean and std), with a message saying why.

    A streamed run's data is streamed again: its statistics come from the same sample, and
    only that sample is decoded. Needed only by a run folder without saved statistics (an
    older run, see :mod:`eblearn.app.data_stats`), whose images are read at the run's image
    size.

    It is read as the run was trained: unreadable image files are skipped (with a warning)
    unless the run was trained ``strict``, or ``strict`` is given here.
    """
    from eblearn.data.registry import load_dataset

    root = data_root if data_root is not None else config.data_root
    try:
        return load_dataset(
            config.data,
            root,
            config.download or download,
            config.image_size,
            strict=strict or config.strict,
            stream=config.stream,  # a streamed run's statistics come from its sample
        )
    except ValueError as error:
        raise ValueError(
            f"the encoder normalizes images with the mean and std of its training data "
            f"{config.data!r}, which could not be loaded: {error}"
        ) from None


# --- export ---------------------------------------------------------------------------------


def torchvision_recipe(backbone: Backbone, format: str = "state-dict") -> str:
    """Python lines that load an exported backbone without eblearn (``PATH`` its file).

    Example:
        >>> print(torchvision_recipe(ResNet(18, cifar_stem=True)))
        import torch
        import torchvision
        model = torchvision.models.resnet18()
        model.fc = torch.nn.Identity()
        model.conv1 = torch.nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
        model.load_state_dict(torch.load(PATH), strict=True)
    """
    if format == "torchscript":
        return "import torch\nmodel = torch.jit.load(PATH)"
    if format == "onnx":
        name, shape = _onnx_input(backbone)
        return (
            "import onnxruntime\nsession = onnxruntime.InferenceSession(PATH)\n"
            f"features = session.run(None, {{'{name}': {name}}})[0]  # {name}: {shape}"
        )
    if format == "state-dict":
        header, load = ["import torch"], "torch.load(PATH)"
    else:
        header = ["import torch", "from safetensors.torch import load_file"]
        load = "load_file(PATH)"
    c = backbone.in_channels
    if isinstance(backbone, ResNet):
        lines = [
            *header,
            "import torchvision",
            f"model = torchvision.models.resnet{backbone.depth}()",
            "model.fc = torch.nn.Identity()",
        ]
        if backbone.cifar_stem:
            lines += [
                f"model.conv1 = torch.nn.Conv2d({c}, 64, 3, stride=1, padding=1, bias=False)",
                "model.maxpool = torch.nn.Identity()",
            ]
        elif c != 3:
            lines.append(
                f"model.conv1 = torch.nn.Conv2d({c}, 64, 7, stride=2, padding=3, bias=False)"
            )
    elif isinstance(backbone, RegNet):
        lines = [
            *header,
            "import torchvision",
            f"model = torchvision.models.{backbone.arch}()",
            "model.fc = torch.nn.Identity()",
        ]
        if backbone.cifar_stem or c != 3:
            stride = 1 if backbone.cifar_stem else 2
            lines.append(
                f"model.stem[0] = torch.nn.Conv2d({c}, {backbone.stem_width}, 3, "
                f"stride={stride}, padding=1, bias=False)"
            )
    elif isinstance(backbone, TimmBackbone):
        options = "".join(f", {k}={v!r}" for k, v in backbone.options.items())
        lines = [
            *header,
            "import timm",
            f"model = timm.create_model({backbone.model!r}, num_classes=0{options})",
        ]
    elif isinstance(backbone, ConvNet):
        w = backbone.feature_dim // 4
        lines = [
            *header,
            "from torch import nn",
            "def block(i, o):",
            "    conv = nn.Conv2d(i, o, 3, padding=1, bias=False)",
            "    return nn.Sequential(conv, nn.BatchNorm2d(o), nn.ReLU(inplace=True))",
            f"model = nn.Sequential(block({c}, {w}), block({w}, {w}), nn.MaxPool2d(2),",
            f"    block({w}, {2 * w}), block({2 * w}, {2 * w}), nn.MaxPool2d(2),",
            f"    block({2 * w}, {4 * w}), nn.AdaptiveAvgPool2d(1), nn.Flatten())",
        ]
    else:
        name = type(backbone).__name__
        return "\n".join([*header, f"state = {load}  # the state dict of {name}"])
    lines.append(f"model.load_state_dict({load}, strict=True)")
    return "\n".join(lines)


def _modality_of(backbone: Backbone) -> str:
    return str(getattr(backbone, "modality", IMAGES))


def _onnx_input(backbone: Backbone) -> tuple[str, str]:
    """The ONNX input's name and a description of its type and shape."""
    modality = _modality_of(backbone)
    described = {
        "tokens": "int64 token ids (B, T)",
        "waveforms": "float32 samples in [-1, 1) (B, L)",
    }
    return INPUT_NAMES[modality], described.get(modality, "float32 (B, C, S, S)")


def _example_input(backbone: Backbone, config: RunConfig, batch: int = 2) -> Tensor:
    """A seeded input of the run's shape: normalized images about N(0, 1), token ids of
    ordinary tokens, or waveforms of a tenth of full scale."""
    generator = torch.Generator().manual_seed(batch)
    modality = _modality_of(backbone)
    if modality == "tokens":
        vocab_size = int(getattr(backbone, "vocab_size", 0))
        shape = (batch, config.seq_len)
        return torch.randint(NUM_SPECIAL, vocab_size, shape, generator=generator)
    if modality == "waveforms":
        return 0.1 * torch.randn(batch, config.seq_len, generator=generator)
    size = config.image_size
    return torch.randn(batch, backbone.in_channels, size, size, generator=generator)


def state_dict_bytes(module: nn.Module) -> bytes:
    """``torch.save`` of the module's state dict (each tensor copied, contiguous)."""
    state = {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def safetensors_bytes(module: nn.Module, metadata: dict[str, str]) -> bytes:
    """The module's state dict as safetensors bytes, with string ``metadata``."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}
    return bytes(save(state, metadata=metadata))


def torchscript_bytes(module: nn.Module, example: Tensor, checked: Tensor) -> bytes:
    """A ``torch.jit.trace`` of the module (eval mode) on ``example``, saved to bytes.

    torch's own check re-runs the trace without gradients, where a Transformer layer takes
    its fused inference path and the graphs differ; so the trace is checked here instead:
    the saved module, loaded back, must give the eager features of ``checked`` (another
    batch) to :data:`ONNX_TOLERANCE`.

    Raises:
        RuntimeError: If the loaded trace's features differ from the eager module's.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer notes (the check is below)
        traced = torch.jit.trace(module.eval(), example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        loaded = torch.jit.load(io.BytesIO(buffer.getvalue()))
    with torch.no_grad():
        ours, reference = loaded(checked), module(checked)
    difference = float((ours - reference).abs().max())
    scale = max(1.0, float(reference.abs().max()))
    if not difference <= ONNX_TOLERANCE * scale:
        raise RuntimeError(
            f"the TorchScript trace's features differ from torch's by {difference:.2e}; "
            "nothing was written"
        )
    return buffer.getvalue()


def onnx_bytes(module: nn.Module, example: Tensor, input_name: str = "images") -> bytes:
    """The module (eval mode) as an ONNX graph: input ``input_name``, output ``features``,
    dynamic batch axis (opset :data:`ONNX_OPSET`, TorchScript-based exporter; the other axes
    keep the example's sizes)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="eblearn-onnx-") as folder:
        target = Path(folder) / "backbone.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(
                module.eval(),
                (example,),
                str(target),
                input_names=[input_name],
                output_names=["features"],
                dynamic_axes={input_name: {0: "batch"}, "features": {0: "batch"}},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        return target.read_bytes()


def onnx_difference(
    model: bytes, module: nn.Module, images: Tensor, input_name: str = "images"
) -> float:
    """Largest ``|onnxruntime - torch|`` over the features of ``images`` (the model's input,
    named ``input_name``)."""
    import onnx
    import onnxruntime

    onnx.checker.check_model(onnx.load_from_string(model))
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    ours = session.run(None, {input_name: images.numpy()})[0]
    with torch.no_grad():
        reference = module.eval()(images).numpy()
    return float(abs(ours - reference).max())


def safetensors_metadata(backbone: Backbone, config: RunConfig) -> dict[str, str]:
    """What a safetensors file says about its backbone: the modality and input sizes."""
    modality = _modality_of(backbone)
    metadata = {
        "format": "pt",
        "eblearn_backbone": config.backbone,
        "modality": modality,
        "feature_dim": str(backbone.feature_dim),
    }
    if modality == "tokens":
        metadata["vocab_size"] = str(getattr(backbone, "vocab_size", 0))
        metadata["seq_len"] = str(config.seq_len)
    elif modality == "waveforms":
        metadata["crop_samples"] = str(config.seq_len)
    else:
        metadata["in_channels"] = str(backbone.in_channels)
        metadata["image_size"] = str(config.image_size)
    return metadata


@dataclass
class ExportPlan:
    """A validated export: the backbone loaded, the output checked, nothing written yet."""

    backbone: Backbone
    config: RunConfig
    format: str
    out: Path
    folder: RunFolder | None
    """The run folder to claim when writing into it (the default ``--out``), else ``None``."""
    mode: Mode


@dataclass
class ExportResult:
    """What :func:`export_encoder` wrote.

    Attributes:
        path: The file.
        format: Its format.
        recipe: Python lines that load it without eblearn.
        onnx_difference: For ONNX, the largest feature difference onnxruntime vs torch.
    """

    path: Path
    format: str
    recipe: str
    onnx_difference: float | None = None


def check_output(path: Path, overwrite: bool, suffixes: Sequence[str] = ()) -> None:
    """Raises ``ValueError`` if ``path`` cannot be written (reading the disk only).

    Refused: a suffix not in ``suffixes`` (when given), a folder, an existing file without
    ``overwrite``, and a parent that is a file or cannot be written.
    """
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(
            f"--out {str(path)!r} must end in {' or '.join(suffixes)}, got "
            f"{path.suffix or 'no suffix'!r}"
        )
    if path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a folder; name a file")
    if path.exists() and not overwrite:
        raise ValueError(
            f"--out {str(path)!r} already exists; pass --overwrite to replace it, or choose "
            "another file"
        )
    existing = path.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to {str(existing)!r} (permission denied)")


def prepare_export(
    run_dir: str | os.PathLike[str],
    format: str = "state-dict",
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> ExportPlan:
    """Validates an export completely, reading the disk only.

    Raises:
        ValueError: On an unknown format, a run folder that is not a training run or whose
            weights do not load, or an output that exists (without ``overwrite``) or cannot
            be written.
        ImportError: If the format's optional packages are missing (naming the extra).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; valid: {', '.join(FORMATS)}")
    if format in EXTRAS:
        require_packages(EXTRAS[format], f"--format {format}", "export")
    backbone, config = load_backbone(run_dir)
    folder: RunFolder | None = None
    mode = Mode.ADD
    if out is None:
        folder = train_folder(run_dir)
        mode = Mode.ADD if folder.manifest() is not None else Mode.RESUME  # RESUME adopts
        folder.check(mode)
        path = folder.path / EXPORT_DIR / f"backbone{FORMATS[format]}"
    else:
        path = Path(out)
    check_output(path, overwrite)
    return ExportPlan(backbone, config, format, path, folder, mode)


def export_encoder(
    run_dir: str | os.PathLike[str],
    format: str = "state-dict",
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Writes a run's backbone alone in ``format`` (see the module docstring), atomically.

    Args:
        run_dir: A folder written by ``eblearn train``.
        format: ``state-dict``, ``safetensors``, ``torchscript`` or ``onnx``.
        out: The file (default: ``RUN/export/backbone<suffix>``, registered in the run
            folder's manifest).
        overwrite: Replace an existing file.

    Raises:
        ValueError, ImportError: As :func:`prepare_export` (nothing written).
        RuntimeError: If the ONNX graph's features differ from torch's by more than
            :data:`ONNX_TOLERANCE` (nothing written).
    """
    plan = prepare_export(run_dir, format, out, overwrite)
    module = plan.backbone.standalone().eval()
    example = _example_input(plan.backbone, plan.config)
    difference = None
    if format == "state-dict":
        data = state_dict_bytes(module)
    elif format == "safetensors":
        data = safetensors_bytes(module, safetensors_metadata(plan.backbone, plan.config))
    elif format == "torchscript":
        data = torchscript_bytes(module, example, _example_input(plan.backbone, plan.config, 3))
    else:
        name = INPUT_NAMES[_modality_of(plan.backbone)]
        data = onnx_bytes(module, example, name)
        checked = _example_input(plan.backbone, plan.config, batch=3)
        difference = onnx_difference(data, module, checked, name)
        with torch.no_grad():
            scale = max(1.0, float(module(checked).abs().max()))
        if not difference <= ONNX_TOLERANCE * scale:
            raise RuntimeError(
                f"the ONNX graph's features differ from torch's by {difference:.2e} (more than "
                f"{ONNX_TOLERANCE:g} × {scale:.3g}); nothing was written"
            )
    if plan.folder is not None:
        with plan.folder.claimed(plan.mode, command=f"eblearn export --format {format}"):
            name = str(plan.out.relative_to(plan.folder.path))
            atomic_write_bytes(data, plan.folder.file(name))
    else:
        atomic_write_bytes(data, plan.out)
    return ExportResult(plan.out, format, torchvision_recipe(plan.backbone, format), difference)


# --- command line ---------------------------------------------------------------------------

EXPORT_EPILOG = """\
examples:
  eblearn export runs/vicreg-cifar10 --format state-dict      # RUN/export/backbone.pt
  eblearn export runs/vicreg-cifar10 --format onnx --out encoder.onnx

Every format holds the backbone alone and maps normalized images (B, C, S, S) at the run's
image size S to features (B, D); in Python, eblearn.load_encoder(RUN).transform is the
normalization. A ResNet's or RegNet's state dict loads with strict=True into torchvision's
model with fc = nn.Identity(), a timm:NAME backbone's into timm.create_model(NAME,
num_classes=0) (the command prints the lines). A text run's backbone maps token windows
(B, T) to features, a speech run's waveforms (B, L); their ONNX inputs are named tokens and
waveforms. safetensors and onnx need pip install 'eblearn[export]'.
"""


def add_export_parser(subparsers: Any) -> None:
    """Adds ``eblearn export``."""
    parser = subparsers.add_parser(
        "export",
        help="write a run's encoder alone (state dict, safetensors, TorchScript, ONNX)",
        description="Write the backbone of a training run alone, in a format that loads "
        "without eblearn. Validated before anything is written; the file is written "
        "atomically.",
        epilog=EXPORT_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by eblearn train")
    parser.add_argument("--format", choices=list(FORMATS), default="state-dict", help="format")
    parser.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="file to write (default: RUN_DIR/export/backbone.<suffix of the format>)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.set_defaults(handler=_export_command)


def _export_command(args: argparse.Namespace) -> int:
    result = export_encoder(args.run_dir, args.format, args.out, args.overwrite)
    print(f"written: {result.path} ({result.format})")
    if result.onnx_difference is not None:
        print(f"onnxruntime vs torch: largest feature difference {result.onnx_difference:.1e}")
    print("load it without eblearn:")
    print(
        "\n".join(
            "  " + line
            for line in result.recipe.replace("PATH", repr(str(result.path))).splitlines()
        )
    )
    return 0
