"""The command line end to end, on a tiny configuration."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from eblearn import __version__
from eblearn.cli import main

TINY = [
    "--epochs",
    "2",
    "--batch-size",
    "128",
    "--backbone-arg",
    "width=4",
    "--method-arg",
    "projector_dims=[32,32]",
    "--no-progress",
]


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--resume" in text and "examples:" in text and "vicreg" in text


def test_methods_lists_names_with_a_description(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "vicreg" in out and "VICReg" in out
    assert main(["datasets"]) == 0 and "digits" in capsys.readouterr().out
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "resnet18" in out and "regnet_y_400mf" in out
    assert out.splitlines()[-1].startswith("timm:NAME ")  # the form the registry does not hold


def test_train_writes_the_run_folder_and_eval_reads_it(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *TINY, "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "kNN (k=20, cosine)" in out and "raw pixels" in out and "10% of labels" in out
    for name in (
        "config.yaml",
        "checkpoints/last.ckpt",
        "log.csv",
        "encoder.pt",
        "results.json",
        "loss_curve.png",
        "embedding.png",
    ):
        assert (run_dir / name).is_file(), name
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["encoder"]["knn"] <= 1.0
    training, evaluation = results["training_seconds"], results["evaluation_seconds"]
    assert training > 0 and evaluation > 0  # the job's time, split where the probes start
    assert training + evaluation == pytest.approx(results["seconds"], abs=0.11)  # rounding
    printed = re.search(r"training (\d+) s, evaluation (\d+) s", out)
    assert printed is not None, out
    # the last line rounds the exact seconds to 0 decimals, results.json to 1 decimal
    assert abs(int(printed[1]) - training) <= 0.55 and abs(int(printed[2]) - evaluation) <= 0.55
    assert results["raw_pixels"]["linear"] > 0.9  # raw digits pixels give ~97%
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["epochs"] == 2 and config["backbone_args"] == {"width": 4}

    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "1% of labels" in out and "top-5" in out
    evaluated = json.loads((run_dir / "eval.json").read_text())
    assert evaluated["encoder"]["knn"] == pytest.approx(results["encoder"]["knn"])


def test_config_file_with_command_line_override(tmp_path):
    from eblearn.app.train import build_config
    from eblearn.cli import build_parser

    (tmp_path / "run.yaml").write_text("epochs: 7\nseed: 3\nmethod_args: {nu_param: 2}\n")
    args = build_parser().parse_args(
        [
            "train",
            "--config",
            str(tmp_path / "run.yaml"),
            "--seed",
            "5",
            "--method-arg",
            "mu_param=10",
        ]
    )
    config, _ = build_config(args)
    assert (config.epochs, config.seed) == (7, 5)
    assert config.method_args == {"nu_param": 2, "mu_param": 10}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "--method", "simclrr"], "unknown method 'simclrr'; valid methods:"),
        (["train", "--data", "imagenet"], "unknown dataset 'imagenet'; valid datasets:"),
        (["train", "--backbone", "vgg"], "unknown backbone 'vgg'; valid backbones:"),
        (["train", "--data", "npz:/no/such/file.npz"], "does not exist"),
        (["train", "--batch-size", "1"], "at least 2 samples"),
        (["eval", "/no/such/run"], "is not a run folder"),
    ],
)
def test_bad_input_exits_2_with_a_message(arguments, message, capsys, tmp_path):
    arguments = (
        [*arguments, "--run-dir", str(tmp_path / "r")] if arguments[0] == "train" else arguments
    )
    assert main(arguments) == 2
    assert message in capsys.readouterr().err


def test_a_folder_eblearn_did_not_write_is_refused_untouched(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("epochs: 1\n")
    assert main(["train", "--run-dir", str(run_dir)]) == 2
    assert "is not empty and was not written by eblearn" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--overwrite"]) == 2
    assert "not eblearn's to delete" in capsys.readouterr().err
    assert [p.name for p in run_dir.iterdir()] == ["config.yaml"]
    assert (run_dir / "config.yaml").read_text() == "epochs: 1\n"


def run_fresh(code: str) -> list[str]:
    """The lines ``code`` prints in a fresh interpreter (this one has imported Lightning)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return result.stdout.strip().splitlines()


def test_parser_and_listings_do_not_import_lightning():
    code = (
        "import sys\n"
        "from eblearn.cli import main\n"
        "assert main(['methods']) == 0\n"
        "print(sorted(m for m in ('lightning', 'sklearn') if m in sys.modules))\n"
    )
    assert run_fresh(code)[-1] == "[]"


def _subcommands(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, subsub in _subcommands(sub):
                    yield f"{name} {inner}", subsub


def test_every_option_of_every_command_says_its_default():
    import argparse

    from eblearn.cli import build_parser

    missing = []
    for name, parser in _subcommands(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if action.required or not action.option_strings:
                continue  # nothing to default
            if action.nargs == 0:  # on/off flags: off unless given
                continue
            text = formatter._expand_help(action) if action.help else ""
            if "default" not in text and "chosen from" not in text:
                missing.append(f"{name} {action.option_strings[0]}")
    assert missing == []
