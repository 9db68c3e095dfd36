"""The ``eblearn`` command: wiring only.

Each command's options, validation and job live in :mod:`eblearn.app`; this module builds
the parser from them and turns outcomes into exit codes:

    0    success
    1    the job failed (a NaN loss, a lost peer process, a full disk, an I/O error)
    2    bad input: an option, a name, a value, a file or a run folder (nothing was written)
    130  interrupted by SIGINT (Ctrl-C); 143 by SIGTERM: resume with --resume
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from eblearn import __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``eblearn`` argument parser with its sub-commands."""
    import eblearn.data  # registers the data sets
    import eblearn.methods  # noqa: F401 - registers the methods
    from eblearn.app.bench import add_bench_parser
    from eblearn.app.embed import add_embed_parser, add_neighbors_parser
    from eblearn.app.export import add_export_parser
    from eblearn.app.lab import add_lab_parser
    from eblearn.app.listing import add_listing_parsers
    from eblearn.app.train import add_eval_parser, add_train_parser
    from eblearn.app.world import add_world_parser

    parser = argparse.ArgumentParser(
        prog="eblearn",
        description="Energy-based self-supervised learning: pretrain, evaluate and compare "
        "methods. Start with 'eblearn train'.",
    )
    parser.add_argument("--version", action="version", version=f"eblearn {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_train_parser(subparsers)
    add_eval_parser(subparsers)
    add_lab_parser(subparsers)
    add_listing_parsers(subparsers)
    add_world_parser(subparsers)
    add_bench_parser(subparsers)
    add_export_parser(subparsers)
    add_embed_parser(subparsers)
    add_neighbors_parser(subparsers)
    return parser


def _quiet_lightning() -> None:
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Prints a warning as one line on stderr, ``eblearn: warning: ...``, without the source
    line Python adds (a notice such as skipped image files is for the user, not a bug)."""
    kind = "" if category is UserWarning else f"{category.__name__}: "
    print(f"eblearn: warning: {kind}{message}", file=file if file is not None else sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (see the module docstring)."""
    from eblearn.app.interrupt import Interrupted
    from eblearn.train.errors import NonFiniteLossError, PeerLostError

    args = build_parser().parse_args(argv)
    _quiet_lightning()
    try:
        with warnings.catch_warnings():  # restores Python's display when main returns
            warnings.showwarning = _show_warning
            return int(args.handler(args))
    except ValueError as error:  # bad input: names, paths, values, checkpoints, folders
        print(f"eblearn: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # an optional extra is missing
        print(f"eblearn: error: {error}", file=sys.stderr)
        return 2
    except (NonFiniteLossError, PeerLostError, OSError) as error:
        print(f"eblearn: {error}", file=sys.stderr)
        return 1
    except Interrupted as stop:
        print(f"eblearn: {stop.message()}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside a job (while loading, say)
        print("eblearn: interrupted (SIGINT)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
