"""``eblearn bench``: every method trained on the same data and compared in one table."""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest

import eblearn.app.train
from eblearn.app.bench import BenchRow, bench_folder, format_table, parse_method_args
from eblearn.app.run_folder import Mode
from eblearn.cli import build_parser, main


@pytest.fixture
def toy_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "toy.npz"
    np.savez(
        path, images=rng.integers(0, 256, (72, 8, 8), dtype=np.uint8), labels=np.arange(72) % 3
    )
    return path


def test_bench_trains_each_method_and_writes_table_csv_and_chart(toy_npz, tmp_path, capsys):
    out = tmp_path / "bench"
    status = main(
        [
            "bench",
            "--methods", "simclr,barlowtwins",
            "--data", f"npz:{toy_npz}",
            "--epochs", "1", "--batch-size", "16", "--seed", "3",
            "--backbone-arg", "width=4",
            "--method-arg", "projector_dims=[16,16]",
            "--method-arg", "simclr:temperature=0.2",
            "--run-dir", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    for column in ("kNN top-1", "linear top-5", "1% labels", "10% labels", "images/s", "peak MiB"):
        assert column in printed
    with (out / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [r["method"] for r in rows] == ["simclr", "barlowtwins", "raw pixels"]
    for row in rows[:2]:
        assert 0.0 <= float(row["knn"]) <= 1.0
        assert float(row["linear"]) <= float(row["linear_top5"])
        assert float(row["images_per_second"]) > 0
        assert float(row["peak_memory_mib"]) >= 0
    assert rows[2]["images_per_second"] == ""
    assert (out / "results.md").read_text().startswith("| method | kNN top-1 |")
    assert (out / "bench.png").stat().st_size > 10_000
    for method in ("simclr", "barlowtwins"):  # the same seed and epochs in every run folder
        config = (out / method / "config.yaml").read_text()
        assert "seed: 3" in config
        assert "epochs: 1" in config
    assert "temperature: 0.2" in (out / "simclr" / "config.yaml").read_text()
    assert sorted(bench_folder(out).written()) == ["bench.png", "results.csv", "results.md"]


def test_method_args_go_to_the_methods_that_take_them():
    chosen = parse_method_args(
        ["simclr", "byol"], [("temperature", 0.3), ("byol:momentum", 0.99)], heads="small"
    )
    assert chosen["simclr"]["temperature"] == 0.3
    assert "temperature" not in chosen["byol"]
    assert chosen["byol"]["momentum"] == 0.99
    assert chosen["byol"]["projector_dims"] == [512, 128]
    paper = parse_method_args(["barlowtwins"], [], heads="paper")
    assert paper == {"barlowtwins": {"projector_dims": [8192, 8192, 8192]}}
    with pytest.raises(ValueError, match="no benched method has a hyper-parameter 'margin'"):
        parse_method_args(["simclr"], [("margin", 1.0)], heads="small")
    with pytest.raises(ValueError, match="'swav' is not among the benched methods"):
        parse_method_args(["simclr"], [("swav:num_prototypes", 10)], heads="paper")


def test_table_formats_percentages_and_missing_values():
    rows = [BenchRow("vicreg", 0.9, 0.8, 0.99, 0.5, 0.7, 1234.5, 64.0, 10.0)]
    rows.append(BenchRow("raw pixels", 0.5, 0.4, 0.9, 0.2, 0.3))
    text = format_table(rows)
    assert "90.0%" in text
    assert "1234" in text or "1235" in text
    assert text.splitlines()[-1].rstrip().endswith("-")
    assert format_table(rows, markdown=True).count("\n") == 3


@pytest.fixture
def no_training(monkeypatch):
    """Makes any training fail the test: validation must stop the bench before it."""

    def pretrain(*args, **kwargs):
        raise AssertionError("a method was trained before every method was validated")

    monkeypatch.setattr(eblearn.app.train, "pretrain", pretrain)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--methods", "simclr,byol,nope"], "unknown method 'nope'; valid methods:"),
        (["--methods", "simclr,simclr"], "--methods names 'simclr' more than once"),
        (
            ["--methods", "simclr,byol,vicreg", "--method-arg", "vicreg:projector_dims=[64,0]"],
            "vicreg: layer sizes must be >= 1, got [128, 64, 0]",
        ),
        (
            ["--methods", "simclr,byol,vicreg", "--method-arg", "vicreg:nu=2"],
            "vicreg: method 'vicreg' has no hyper-parameter(s) nu; valid: projector_dims",
        ),
        (["--methods", "simclr", "--devices", "2"], "trains each method on one device"),
        (["--methods", "simclr", "--num-nodes", "2"], "--devices 1 --num-nodes 2"),
        (["--methods", "simclr", "--data", "cifar11"], "unknown dataset 'cifar11'"),
    ],
)
def test_every_method_is_validated_before_anything_is_trained_or_written(
    tmp_path, monkeypatch, capsys, no_training, options, message
):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--epochs", "1", *options]) == 2
    assert message in capsys.readouterr().err
    assert main(["bench", "--epochs", "1", "--run-dir", "mine", *options]) == 2
    assert list(tmp_path.iterdir()) == []  # neither runs/bench-... nor mine/


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--epochs", "0", "argument --epochs: must be >= 1, got 0"),
        ("--batch-size", "-1", "argument --batch-size: must be >= 1, got -1"),
        ("--precision", "64", "argument --precision: invalid choice: '64'"),
        ("--accelerator", "tpu", "argument --accelerator: invalid choice: 'tpu'"),
        ("--methods", "simclr,,byol", "expected names separated by commas, got 'simclr,,byol'"),
    ],
)
def test_bad_values_exit_2_at_the_command_line(
    tmp_path, monkeypatch, capsys, option, value, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", option, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_earlier_bench_is_kept_unless_overwrite(tmp_path, capsys, no_training):
    out = tmp_path / "bench"
    folder = bench_folder(out)
    with folder.claimed(Mode.NEW):
        folder.file("results.md").write_text("| earlier |")
    args = ["bench", "--methods", "simclr", "--epochs", "1", "--run-dir", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"run folder '{out}' already holds a run (results.md); pass --overwrite" in err
    assert (out / "results.md").read_text() == "| earlier |"
    with pytest.raises(AssertionError, match="a method was trained"):  # validated: trains
        main([*args, "--overwrite"])


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings if s != "-h"}


def test_bench_and_train_share_their_option_definitions():
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    train, bench = (_options(subparsers.choices[name]) for name in ("train", "bench"))
    # bench compares probes on --data itself (it refuses data without labels): no --eval-data,
    # and no --stream (a streamed data set is read unlabeled)
    assert set(train) - set(bench) == {"--method", "--resume", "--eval-data", "--stream"}
    assert set(bench) - set(train) == {"--methods", "--heads"}
    for option in set(train) & set(bench) - {"--method-arg", "--run-dir", "--overwrite"}:
        ours, theirs = bench[option], train[option]
        assert (ours.type, ours.choices, ours.dest, ours.nargs) == (
            theirs.type,
            theirs.choices,
            theirs.dest,
            theirs.nargs,
        ), option
    assert bench["--precision"].choices == ("auto", "32", "bf16-mixed", "16-mixed")
