"""``benchmarks/bench_text.py``'s recipe handling: the ``eblearn train`` arguments it builds and
the refusal of a run folder that holds another recipe (the folder is reused only when every
option it was asked for matches)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from eblearn.cli import build_parser
from tests.benchmark_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("bench_text") as module:
        yield module


def test_recipe_arguments_parse_as_eblearn_train_options(bench):
    arguments = bench.recipe_arguments(48, "word", 1, ["dim=128", "depth=3"])
    args = build_parser().parse_args(["train", *arguments])
    assert (args.data, args.method, args.tokenizer, args.epochs, args.seed) == (
        "shakespeare",
        "mlm",
        "word",
        48,
        1,
    )
    assert args.backbone_arg == [("dim", 128), ("depth", 3)]


def test_a_run_of_another_recipe_is_named_by_what_differs(bench, monkeypatch, tmp_path):
    found = SimpleNamespace(
        data="shakespeare",
        method="mlm",
        epochs=48,
        tokenizer="word",
        seed=0,
        backbone_args={"dim": 128, "depth": 2, "heads": 4},
    )
    monkeypatch.setattr(bench, "read_run_config", lambda run_dir: found)
    assert bench.recipe_differences(tmp_path, 48, "word", 0, ["dim=128"]) == []
    assert bench.recipe_differences(tmp_path, 48, "word", 0, []) == []  # defaults: not asked
    differ = bench.recipe_differences(tmp_path, 16, "word", 1, ["dim=64"])
    assert differ == ["epochs=48", "seed=0", "backbone dim=128"]


def test_a_finished_run_of_another_recipe_is_refused(bench, tmp_path):
    for name in ("encoder.pt", "results.json"):
        (tmp_path / name).write_text("x")
    with pytest.raises(SystemExit, match="holds another run \\(seed=0\\)"):
        bench.trained_run(tmp_path, [], ["seed=0"])
    assert bench.trained_run(tmp_path, [], []) == (tmp_path, True)
