"""``benchmarks/bench_precision_accuracy.py`` on generated images: both precisions train the same
steps from a recipe with its wall budget removed, each run in the precision it names, and the
verdict on issue 13's target (bf16 inside float32's seed range) is the arithmetic it states."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
import yaml

from tests.benchmark_scripts import benchmark_script, write_generated_splits


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_precision_accuracy") as module:
        yield module


@pytest.fixture
def tiny_inputs(tmp_path, bench):
    """Generated train/test arrays (``write_generated_splits``) and the shipped
    VICReg recipe on a 4-wide ConvNet, batches of 16 and a small projector."""
    write_generated_splits(tmp_path, train=48, test=24)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    options = yaml.safe_load((bench.RECIPES / "vicreg.yaml").read_text())
    assert "time_budget" in options  # what the bench must take out
    options.update(backbone_args={"width": 4}, batch_size=16, method_args={"projector_dims": [32]})
    (recipes / "vicreg.yaml").write_text(yaml.safe_dump(options))
    return tmp_path, recipes


def test_the_recipe_trains_epochs_not_its_wall_budget(bench, tiny_inputs):
    _, recipes = tiny_inputs
    options = bench.equal_step_options(recipes / "vicreg.yaml", 3)
    assert options["epochs"] == 3 and "time_budget" not in options and "data" not in options


def test_both_precisions_train_the_same_steps_in_the_precision_they_name(bench, tiny_inputs):
    data, recipes = tiny_inputs
    printed, threads = io.StringIO(), torch.get_num_threads()
    with contextlib.redirect_stdout(printed):
        try:
            bench.main([
                "--epochs", "1", "--seeds", "0,1", "--threads", "1",
                "--data", str(data), "--recipes", str(recipes), "--out", str(data / "out"),
            ])  # fmt: skip
        finally:
            torch.set_num_threads(threads)  # main sets it for the process
    for precision in ("32", "bf16-mixed"):
        folders = sorted((data / "out").glob(f"vicreg-{precision}-seed*"))
        assert len(folders) == 2
        for folder in folders:
            assert yaml.safe_load((folder / "config.yaml").read_text())["precision"] == precision
    rows = [line.split(" | ") for line in printed.getvalue().splitlines() if line.startswith("| ")]
    seeds = [row for row in rows if row[0].strip("| ") in ("0", "1")]
    assert len(seeds) == 2
    for row in seeds:
        steps_32, steps_16 = (int(s) for s in row[5].split(" / "))
        assert steps_32 == steps_16 == 3  # 48 images, batch 16, 1 epoch
        knn_32, knn_16 = (float(cell.rstrip("%")) for cell in row[1:3])
        assert 0.0 <= knn_32 <= 100.0 and 0.0 <= knn_16 <= 100.0
        assert float(row[3]) == pytest.approx(knn_16 - knn_32, abs=0.11)
    assert "float32's seed range" in printed.getvalue()


def test_the_verdict_compares_bf16s_mean_with_float32s_range(bench):
    assert "inside" in bench.verdict([0.61, 0.63], [0.60, 0.62, 0.64])  # mean 0.62
    assert "target is met" in bench.verdict([0.61, 0.63], [0.60, 0.62, 0.64])
    outside = bench.verdict([0.55, 0.57], [0.60, 0.62, 0.64])
    assert "outside" in outside and "not met" in outside
    assert "no spread" in bench.verdict([0.60], [0.60])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0,one"], "--seeds must be integers"),
        (["--epochs", "0"], "--epochs and --threads must be >= 1"),
        (["--recipes", "/nonexistent"], "no recipe /nonexistent/vicreg.yaml"),
        (["--data", "/nonexistent"], "must hold train.npz and test.npz"),
    ],
)
def test_bad_options_are_refused_by_name(bench, argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err
