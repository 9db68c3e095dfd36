"""How a frozen encoder runs while it extracts features: arithmetic precision and layout.

A run resolves the precision and memory layout it trains in by measurement
(:mod:`eblearn.train.precision`); its encoder is then fastest in the same setting when it
only encodes, for the probes, the kNN curve of ``--eval-every``, ``eval``, ``embed`` and
``neighbors``. An :class:`Inference` carries that setting to
:func:`~eblearn.evaluate.protocol.extract_features`:

- ``channels_last``: each batch of images is handed to the encoder in NHWC layout. The
  arithmetic is the same; only the order of the convolutions' sums changes (features agree
  with the contiguous ones to float32 rounding). oneDNN and cuDNN pick their NHWC kernels
  when the input or the weights are in that layout, so a contiguous encoder needs no copy.
- ``autocast_dtype``: the forward pass runs under ``torch.autocast`` in bf16 (or fp16 on a
  GPU), as training did; the features are returned in float32. They agree with float32
  features to bf16 rounding (about 3 significant digits), which moves a kNN or linear-probe
  accuracy by a few hundredths of a point at most (measured in BENCHMARKS.md).

The default, :data:`FLOAT32`, is float32 in the contiguous layout: what every extraction did
before runs chose a setting.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Inference:
    """The precision and layout of a frozen encoder's forward passes.

    Attributes:
        autocast_dtype: ``torch.bfloat16`` or ``torch.float16`` to run under
            ``torch.autocast`` in that type, ``None`` for float32.
        channels_last: Whether 4-D image batches reach the encoder in ``channels_last``
            layout.
    """

    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.autocast_dtype not in (None, torch.bfloat16, torch.float16):
            raise ValueError(
                f"autocast_dtype must be None (float32), torch.bfloat16 or torch.float16, "
                f"got {self.autocast_dtype}"
            )

    def layout(self, images: Tensor) -> Tensor:
        """``images`` in the layout the encoder takes (only 4-D batches change)."""
        if self.channels_last and images.ndim == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def precision(self, device: torch.device) -> AbstractContextManager[object]:
        """The context the encoder's forward pass runs in on ``device``."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)

    @property
    def name(self) -> str:
        """``"float32"``, ``"bf16+channels_last"``, ...: how reports name the setting."""
        precision = {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        name = precision[self.autocast_dtype]
        return f"{name}+channels_last" if self.channels_last else name


FLOAT32 = Inference()
"""float32, contiguous layout: the setting that depends on nothing."""
