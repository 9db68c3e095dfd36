"""The ``eblearn`` command.

eblearn train                     VICReg on the embedded digits, then the evaluation table
eblearn train --method vicreg --data cifar10 --epochs 100 --batch-size 512
eblearn train --config run.yaml --lr 0.1
eblearn train --run-dir runs/x --resume
eblearn eval runs/x
eblearn methods
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import yaml

from eblearn import __version__

TRAIN_EPILOG = """\
examples:
  eblearn train                                   # VICReg on the embedded digits (~2 min on CPU)
  eblearn train --data cifar10 --data-root ~/data --download --epochs 200
  eblearn train --data npz:cifar10/ --backbone resnet18 --batch-size 512
  eblearn train --method-arg projector_dims=[1024,1024,1024] --method-arg nu_param=2
  eblearn train --config my_run.yaml --seed 1     # YAML keys are the long options, with _
  eblearn train --run-dir runs/mine --resume      # continue an interrupted run

A run folder receives config.yaml, checkpoints/last.ckpt (every epoch, written atomically),
log.csv, encoder.pt, results.json, loss_curve.png and embedding.png.
"""


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.replace("-", "_"), yaml.safe_load(value)


def _add_train_parser(subparsers: Any) -> None:
    from eblearn.data.augment import AUGMENTATIONS
    from eblearn.data.registry import DATASETS, NEEDS_ARGUMENT
    from eblearn.methods.base import METHODS
    from eblearn.nn.backbones import BACKBONES
    from eblearn.train.config import OPTIMIZERS, PRECISIONS

    train = subparsers.add_parser(
        "train",
        help="pretrain a method, then evaluate it (kNN, linear and 10%%-label probes)",
        description="Pretrain a self-supervised method, then evaluate the frozen encoder "
        "beside raw pixels. With no options: VICReg on the embedded digits.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = train.add_argument_group("what to train")
    what.add_argument("--config", metavar="FILE", help="YAML file of options (keys as below)")
    what.add_argument("--method", help=f"method name: {', '.join(METHODS.names())} (vicreg)")
    what.add_argument(
        "--data",
        help=f"data set: {', '.join(n for n in DATASETS.names() if n not in NEEDS_ARGUMENT)}"
        ", npz:PATH or imagefolder:PATH (digits)",
    )
    what.add_argument("--data-root", metavar="DIR", help="folder of downloadable data sets")
    what.add_argument(
        "--download", action="store_true", default=None, help="allow downloading a missing data set"
    )
    what.add_argument("--backbone", help=f"backbone: {', '.join(BACKBONES.names())}")
    what.add_argument("--augmentation", help=f"view recipe: {', '.join(AUGMENTATIONS.names())}")
    what.add_argument("--image-size", type=int, metavar="PX", help="side of the views in pixels")
    what.add_argument(
        "--method-arg",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="method hyper-parameter (repeatable), e.g. nu_param=2",
    )
    what.add_argument(
        "--backbone-arg",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="backbone option (repeatable), e.g. width=64",
    )

    how = train.add_argument_group("how to train")
    how.add_argument("--epochs", type=int)
    how.add_argument("--batch-size", type=int, help="images per step and device (256)")
    how.add_argument("--optimizer", choices=OPTIMIZERS)
    how.add_argument("--lr", type=float, help="peak learning rate (default scales with batch)")
    how.add_argument("--weight-decay", type=float)
    how.add_argument("--warmup-epochs", type=int)
    how.add_argument("--seed", type=int, help="seed of everything random (0)")
    how.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="use deterministic algorithms only",
    )
    how.add_argument("--precision", choices=PRECISIONS, help="auto: bf16 on capable GPUs")
    how.add_argument("--accelerator", help="auto, cpu, gpu or mps (auto)")
    how.add_argument("--devices", type=int, help="number of devices; >1 trains with DDP (1)")
    how.add_argument(
        "--no-online-probe",
        dest="online_probe",
        action="store_false",
        default=None,
        help="skip the online linear probe",
    )

    where = train.add_argument_group("where results go")
    where.add_argument("--run-dir", metavar="DIR", help="run folder (runs/<method>-<data>-<time>)")
    where.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    where.add_argument("--overwrite", action="store_true", help="replace the run in --run-dir")
    where.add_argument(
        "--no-progress",
        dest="progress_bar",
        action="store_false",
        default=None,
        help="hide the progress bar",
    )
    train.set_defaults(handler=_train)


def build_config(args: argparse.Namespace) -> Any:
    """The :class:`~eblearn.train.TrainConfig` of ``eblearn train``: YAML, then options."""
    from eblearn.train.config import TrainConfig

    config = TrainConfig.from_yaml(args.config) if args.config else TrainConfig()
    values = config.to_dict()
    for key in values:
        given = getattr(args, key, None)
        if given is not None:
            values[key] = given
    for option, key in (("method_arg", "method_args"), ("backbone_arg", "backbone_args")):
        for name, value in getattr(args, option) or []:
            values[key] = {**values[key], name: value}
    return TrainConfig.from_dict(values)


def _quiet_lightning() -> None:
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def _train(args: argparse.Namespace) -> int:
    from eblearn.jobs import train_and_evaluate

    config = build_config(args)
    summary = train_and_evaluate(config, resume=args.resume, overwrite=args.overwrite)
    if summary is None:
        return 0
    print()
    print(summary.table())
    print(f"\nrun folder: {summary.run_dir}  ({summary.seconds:.0f} s)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from eblearn.jobs import evaluate_run

    summary = evaluate_run(args.run_dir)
    print(summary.table(fractions=(0.01, 0.1)))
    print(
        f"linear probe top-5: {summary.encoder.linear_top5:.1%} "
        f"(raw pixels {summary.pixels.linear_top5:.1%})"
    )
    print(f"\nwritten: {summary.run_dir / 'eval.json'}")
    return 0


def _list(registry_name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        if registry_name == "methods":
            from eblearn.methods.base import METHODS as registry
        elif registry_name == "datasets":
            from eblearn.data.registry import DATASETS as registry  # type: ignore[assignment]
        else:
            from eblearn.nn.backbones import BACKBONES as registry  # type: ignore[assignment]
        width = max(len(n) for n in registry.names())
        for name in registry.names():
            print(f"{name:<{width}}  {registry.describe(name)}")
        return 0

    return handler


def build_parser() -> argparse.ArgumentParser:
    """The ``eblearn`` argument parser with its sub-commands."""
    import eblearn.data  # registers the data sets
    import eblearn.methods  # noqa: F401 - registers the methods
    from eblearn.bench import add_parser as add_bench_parser
    from eblearn.lab import add_lab_parser
    from eblearn.world_jobs import add_world_parser

    parser = argparse.ArgumentParser(
        prog="eblearn",
        description="Energy-based self-supervised learning: pretrain, evaluate and compare "
        "methods. Start with 'eblearn train'.",
    )
    parser.add_argument("--version", action="version", version=f"eblearn {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_train_parser(subparsers)
    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate a run folder's encoder (kNN, linear, 1%%/10%%-label probes)",
        description="Evaluate the last checkpoint of a run folder beside raw pixels.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by eblearn train")
    evaluate.set_defaults(handler=_eval)
    add_lab_parser(subparsers)
    for name, text in (
        ("methods", "list the self-supervised methods"),
        ("datasets", "list the data sets"),
        ("backbones", "list the backbones"),
    ):
        subparsers.add_parser(name, help=text, description=text).set_defaults(handler=_list(name))
    add_world_parser(subparsers)
    add_bench_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (2 for bad input, 1 for failures)."""
    from eblearn.train.errors import NonFiniteLossError

    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_lightning()
    try:
        return int(args.handler(args))
    except ValueError as error:  # bad input: names, paths, values, checkpoints
        print(f"eblearn: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLossError as error:
        print(f"eblearn: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("eblearn: interrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
