"""``--compile``: the run's encoders compiled by ``torch.compile`` while it trains.

``torch.compile`` (TorchDynamo captures the Python forward as graphs, TorchInductor fuses
them into generated C++/OpenMP kernels on a CPU and Triton kernels on a GPU; Ansel et al.,
"PyTorch 2", ASPLOS 2024) can shorten a step, but it is not free: the first step of each
new input shape, and of each mode (training, evaluation), pays the compilation, seconds to
minutes. Under ``--time-budget`` that time is part of the budget, like any other: the
budget's clock runs from the start of the job, and its step time is measured after the
first step (:mod:`eblearn.train.budget`), so the compilation is counted once and the
schedule is laid over the compiled step time.

What is compiled: the encoder and its copies of the same class (momentum and target
encoders), in place with :meth:`torch.nn.Module.compile`, so that parameter names, state
dicts and checkpoints are those of an uncompiled run and a run can be resumed with or
without ``--compile``. The heads and losses stay eager: they are small, and the losses'
float32 reductions under bf16 autocast (:mod:`eblearn.train.precision`) stay as written.
After training the compiled call is dropped (:func:`uncompile`), so the method handed back,
saved, evaluated and exported is the plain module.
"""

from __future__ import annotations

import shutil
import sys

import torch
from torch import nn

COMPILED_CALL = "_compiled_call_impl"
"""The instance attribute :meth:`torch.nn.Module.compile` sets (and pickling drops)."""


def check_compile(on_gpu: bool) -> None:
    """Checks that ``torch.compile`` can work here, before anything is written.

    Raises:
        ValueError: If TorchDynamo does not support this Python, or if a CPU run has no C++
            compiler for TorchInductor's kernels; the message says what to do instead.
    """
    from torch._dynamo import is_dynamo_supported

    if not is_dynamo_supported():
        raise ValueError(
            f"--compile needs torch.compile, which torch {torch.__version__} does not support "
            f"on Python {sys.version.split()[0]} here; leave out --compile"
        )
    if not on_gpu and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        raise ValueError(
            "--compile on the CPU needs a C++ compiler for TorchInductor's kernels (c++, "
            "g++ or clang++ on PATH), and none was found; install one (e.g. "
            "`apt install g++`) or leave out --compile"
        )


def encoders(method: nn.Module) -> list[nn.Module]:
    """The method's encoder and its direct siblings of the same class (momentum or target
    encoders), in registration order."""
    encoder = getattr(method, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"{type(method).__name__} has no encoder to compile")
    return [m for m in method.children() if type(m) is type(encoder)]


def compile_encoders(method: nn.Module, backend: str = "inductor") -> list[nn.Module]:
    """Compiles :func:`encoders` in place (:meth:`torch.nn.Module.compile`) with ``backend``
    (TorchInductor for training; the tests also use ``aot_eager``, which traces forward and
    backward the same way without generating kernels) and returns them."""
    compiled = encoders(method)
    for module in compiled:
        module.compile(backend=backend)
    return compiled


def uncompile(modules: list[nn.Module]) -> None:
    """Drops the compiled call of each module: it runs its plain ``forward`` again."""
    for module in modules:
        module.__dict__.pop(COMPILED_CALL, None)


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module``'s calls go through ``torch.compile``."""
    return module.__dict__.get(COMPILED_CALL) is not None
