"""``benchmarks/bench_extraction.py`` on a tiny trained run of the embedded digits."""

from __future__ import annotations

import torch

from eblearn.app import pretrain
from eblearn.evaluate import FLOAT32, Inference

from .benchmark_scripts import benchmark_script
from .train.conftest import tiny_config, tiny_digits


def test_settings_follow_the_encoder_and_bf16():
    with benchmark_script("bench_extraction") as module:
        assert module.candidate_settings(True, False) == [FLOAT32, Inference(channels_last=True)]
        assert module.candidate_settings(False, True) == [FLOAT32, Inference(torch.bfloat16)]


def test_each_setting_gets_a_row_and_float32_layouts_agree(tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = tiny_config(run_dir, epochs=1, warmup_epochs=0, accelerator="cpu", precision="32")
    pretrain(config, data=tiny_digits())
    with benchmark_script("bench_extraction") as module:
        module.main([str(run_dir), "--repeats", "1", "--timing-images", "20", "--bf16"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    cells = {row.split(" | ")[0][2:]: row.split(" | ")[1:] for row in rows[1:]}
    assert set(cells) >= {"float32", "float32+channels_last"}
    assert any(name.startswith("bf16+channels_last") for name in cells)
    assert float(cells["float32"][3]) == 0.0  # the reference
    assert float(cells["float32+channels_last"][3]) < 1e-4  # rounding only
    bf16 = next(v for k, v in cells.items() if k.startswith("bf16"))
    assert 0.0 < float(bf16[3]) < 5e-2
    for values in cells.values():
        assert 0.0 <= float(values[4]) <= 100.0  # kNN in %
