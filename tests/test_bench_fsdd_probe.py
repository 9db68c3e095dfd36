"""``benchmarks/bench_fsdd_probe.py`` checks ``--readout`` against the encoder's layers before
it pretrains: a name the encoder does not have (CPC's ``context`` on wav2vec 2.0's Transformer)
once stopped the script after its whole pretraining budget."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_fsdd_probe") as module:
        yield module


def _model(bench, method):
    args = SimpleNamespace(
        method=method, dim=8, depth=1, channels=8, cpc_steps=2, entries=4, mask_prob=0.2,
        mask_span=2, distractors=3, diversity=0.1, quantizer_decay=0.99,
    )  # fmt: skip
    return bench.build_method(args)


def test_readouts_are_checked_against_the_encoders_layers(bench):
    torch.manual_seed(0)
    waveforms, lengths = torch.randn(3, 2000), torch.tensor([2000, 1800, 1500])
    wav2vec2 = _model(bench, "wav2vec2")
    layers = bench.checked_readouts(wav2vec2, waveforms, lengths, "all", "mean")
    assert layers[0] == "frames" and "block1" in layers
    assert bench.checked_readouts(wav2vec2, waveforms, lengths, "block1", "mean") == ["block1"]
    with pytest.raises(SystemExit, match=r"unknown --readout 'context'.*valid: all, frames"):
        bench.checked_readouts(wav2vec2, waveforms, lengths, "context", "mean")
    cpc = _model(bench, "cpc")
    assert "context" in bench.checked_readouts(cpc, waveforms, lengths, "all", "mean+std")
