"""Option types and conventions shared by every command.

One syntax per kind of value, everywhere:

- lists are comma-separated: ``--methods simclr,byol``, ``--hidden 128,128``;
- settings of a component are repeatable ``KEY=VALUE`` with a YAML value:
  ``--method-arg projector_dims=[512,512]``, ``--planner-arg iterations=8``;
- counts are positive integers: ``0`` is refused, never read as "the default";
- the output folder is ``--run-dir`` for every command; ``--overwrite`` replaces what eblearn
  wrote there; ``--precision`` takes the same choices everywhere.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import yaml

from eblearn.train.config import PRECISIONS

PRECISION_HELP = (
    "auto (bf16 where native bf16 measures >= 1.15x faster than float32, else 32), "
    "32, bf16-mixed or 16-mixed"
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default in ``--help`` and keeps epilogs' line breaks."""


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with a YAML value: ``width=64`` → ``("width", 64)``.

    Raises:
        argparse.ArgumentTypeError: On a missing ``=``, an empty key or a malformed value.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(
            f"the value of {key!r} is not valid YAML: {value!r} (lists look like [1,2], "
            "strings may be quoted)"
        ) from None
    return key.strip().replace("-", "_"), parsed


def _number(kind: Callable[[str], Any], word: str, minimum: float, strict: bool) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {word}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < minimum or (strict and value == minimum):
            bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = word  # argparse names the type in its messages
    return parse


positive_int = _number(int, "a positive integer", 1, strict=False)
non_negative_int = _number(int, "an integer >= 0", 0, strict=False)
any_int = _number(int, "an integer", -math.inf, strict=False)
positive_float = _number(float, "a positive number", 0.0, strict=True)
non_negative_float = _number(float, "a number >= 0", 0.0, strict=False)


def duration(text: str) -> float:
    """``30m``, ``1h30m``, ``90s`` or a number of seconds → seconds (positive)."""
    from eblearn.train.budget import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def name_list(text: str) -> tuple[str, ...]:
    """``a,b,c`` → ``("a", "b", "c")``; empty items are refused."""
    names = tuple(part.strip() for part in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def positive_int_list(text: str) -> tuple[int, ...]:
    """``128,128`` → ``(128, 128)``; every size must be a positive integer."""
    return tuple(positive_int(part) for part in name_list(text))


def add_precision(parser: argparse.ArgumentParser | Any, default: str | None = None) -> None:
    """The ``--precision`` option, with the same choices in every command."""
    if default is None:  # left out: the command's own default (e.g. from a config file)
        parser.add_argument(
            "--precision", choices=PRECISIONS, help=PRECISION_HELP + " (default: auto)"
        )
    else:
        parser.add_argument("--precision", choices=PRECISIONS, default=default, help=PRECISION_HELP)


STRICT_HELP = (
    "refuse image files of imagefolder:/filelist: data that cannot be decoded (empty, "
    "truncated, not an image), naming them, instead of skipping them with one warning"
)


def add_strict(parser: argparse.ArgumentParser | Any, default: bool | None = None) -> None:
    """The ``--strict`` option of every command that reads a data spec.

    Args:
        parser: A parser or argument group.
        default: ``None`` to leave the option out of the namespace unless given (a parser
            built with ``argument_default=argparse.SUPPRESS``), else its value when absent.
    """
    if default is None:
        parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    else:
        parser.add_argument("--strict", action="store_true", default=default, help=STRICT_HELP)


def settings(pairs: list[tuple[str, Any]] | None) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` options as a mapping (a later key wins)."""
    return dict(pairs or [])
