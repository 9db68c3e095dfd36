"""``eblearn methods``, ``eblearn datasets``, ``eblearn backbones``: registries as plain text."""

from __future__ import annotations

import argparse
from typing import Any

from eblearn.app.options import HelpFormatter
from eblearn.registry import Registry

LISTINGS = {
    "methods": "list the self-supervised methods",
    "datasets": "list the data sets",
    "backbones": "list the backbones",
}

EXTRA_ENTRIES: dict[str, dict[str, str]] = {
    "backbones": {
        "timm:NAME": "Any timm model without classifier, e.g. timm:resnet18 (pip install timm).",
    },
}
"""Names a listing shows after the registry's own: forms the registry does not hold."""


def registry_named(name: str) -> Registry[Any]:
    """The registry a listing command shows."""
    if name == "methods":
        from eblearn.methods.base import METHODS

        return METHODS
    if name == "datasets":
        from eblearn.data.registry import DATASETS

        return DATASETS
    from eblearn.nn.backbones import BACKBONES

    return BACKBONES


def format_registry(registry: Registry[Any], extra: dict[str, str] | None = None) -> str:
    """One line per entry: the name, then its one-line description; ``extra`` entries last."""
    rows = [(name, registry.describe(name)) for name in registry.names()]
    rows += list((extra or {}).items())
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {text}" for name, text in rows)


def add_listing_parsers(subparsers: Any) -> None:
    """Adds ``eblearn methods``, ``datasets`` and ``backbones``."""
    for name, text in LISTINGS.items():
        parser = subparsers.add_parser(
            name, help=text, description=text, formatter_class=HelpFormatter
        )
        parser.set_defaults(handler=_lister(name))


def _lister(name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        print(format_registry(registry_named(name), EXTRA_ENTRIES.get(name)))
        return 0

    return handler
