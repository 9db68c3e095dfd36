"""``eblearn bench``: every method trained on the same data and compared in one table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from eblearn.app.bench import BenchRow, format_table, parse_method_args
from eblearn.cli import main


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
            "--out", str(out), "--no-progress",
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


def test_bench_reports_unknown_methods(capsys):
    assert main(["bench", "--methods", "simclr,nope"]) == 2
    assert "unknown method 'nope'; valid methods:" in capsys.readouterr().err
