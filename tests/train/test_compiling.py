"""``--compile``: the encoders train compiled by ``torch.compile``; names, checkpoints and the
returned method stay those of a plain run."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from torch._dynamo.utils import counters

from eblearn.app import pretrain
from eblearn.cli import main
from eblearn.methods import BYOL, VICReg
from eblearn.nn import ConvNet
from eblearn.train import compiling
from eblearn.train.compiling import (
    check_compile,
    compile_encoders,
    encoders,
    is_compiled,
    uncompile,
)
from eblearn.train.config import RunConfig, resolve, resume_conflicts
from eblearn.train.history import read_history
from tests.test_cli import TINY

from .conftest import tiny_config, tiny_digits


def vicreg() -> VICReg:
    torch.manual_seed(0)
    return VICReg(ConvNet(1, width=4), projector_dims=[16, 16])


def test_the_encoders_are_the_encoder_and_its_momentum_copies() -> None:
    byol = BYOL(ConvNet(1, width=4), projector_dims=[16, 8], predictor_dims=[16, 8])
    assert encoders(byol) == [byol.encoder, byol.target_encoder]
    method = vicreg()
    assert encoders(method) == [method.encoder]  # the projector is not compiled


def test_compiled_encoders_keep_names_outputs_and_gradients_and_uncompile() -> None:
    eager, compiled = vicreg(), vicreg()
    compiled.load_state_dict(eager.state_dict())
    names = list(compiled.state_dict())
    modules = compile_encoders(compiled, backend="aot_eager")
    assert modules == [compiled.encoder] and is_compiled(compiled.encoder)
    assert list(compiled.state_dict()) == names  # checkpoints read either way
    assert "_compiled_call_impl" not in copy.deepcopy(compiled.encoder).__dict__
    views = [torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(i)) for i in (1, 2)]
    losses = [method(views)["loss"] for method in (eager, compiled)]
    torch.testing.assert_close(losses[1], losses[0])
    for loss in losses:
        loss.backward()
    for (name, a), b in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, msg=name)
    uncompile(modules)
    assert not is_compiled(compiled.encoder)


def test_check_compile_needs_a_cxx_compiler_on_the_cpu_only(monkeypatch) -> None:
    monkeypatch.setattr(compiling.shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match=r"C\+\+ compiler .* or leave out --compile"):
        check_compile(on_gpu=False)
    check_compile(on_gpu=True)  # Triton generates the GPU's kernels


def test_train_with_compile_and_no_compiler_is_refused_before_writing(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(compiling.shutil, "which", lambda name: None)
    run_dir = tmp_path / "run"
    assert main(["train", *TINY, "--compile", "--run-dir", str(run_dir)]) == 2
    assert "needs a C++ compiler" in capsys.readouterr().err
    assert not run_dir.exists()


def test_a_resume_may_turn_compile_on_or_off() -> None:
    saved: RunConfig = resolve(tiny_config("run"), 1, 8, "run")
    assert not saved.compile
    assert resume_conflicts(saved, {"compile": True}) == []


def test_pretrain_with_compile_trains_what_an_eager_run_trains(tmp_path) -> None:
    """TorchInductor's generated kernels (a C++ compiler on this CPU) against eager kernels:
    the same first losses, the same parameter names, and a plain method handed back."""
    runs = {}
    for flag in (False, True):
        counters.clear()
        config = tiny_config(
            tmp_path / str(flag), epochs=1, warmup_epochs=0, compile=flag, online_probe=False
        )
        runs[flag] = pretrain(config, data=tiny_digits())
        assert bool(counters["stats"]["unique_graphs"]) == flag  # dynamo traced, or not
    eager, compiled = runs[False], runs[True]
    assert yaml.safe_load((compiled.run_dir / "config.yaml").read_text())["compile"] is True
    assert not is_compiled(compiled.method.encoder)
    assert list(compiled.method.state_dict()) == list(eager.method.state_dict())
    losses = {
        flag: [r["train/loss_step"] for r in read_history(run.run_dir / "log.csv") if
               "train/loss_step" in r]
        for flag, run in runs.items()
    }  # fmt: skip
    assert losses[True] and len(losses[True]) == len(losses[False])
    torch.testing.assert_close(
        torch.tensor(losses[True][0]), torch.tensor(losses[False][0]), rtol=1e-4, atol=1e-5
    )
