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

FOOTERS = {
    "backbones": "timm:NAME  any timm model by name, without classifier, e.g. timm:resnet18 "
    "or timm:vit_tiny_patch16_224 (pip install timm; options: --backbone-arg KEY=VALUE)",
}
"""A line after the registry's entries, for names a registry does not hold."""


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


def format_registry(registry: Registry[Any]) -> str:
    """One line per entry: the name, then its one-line description."""
    width = max(len(n) for n in registry.names())
    return "\n".join(f"{name:<{width}}  {registry.describe(name)}" for name in registry.names())


def add_listing_parsers(subparsers: Any) -> None:
    """Adds ``eblearn methods``, ``datasets`` and ``backbones``."""
    for name, text in LISTINGS.items():
        parser = subparsers.add_parser(
            name, help=text, description=text, formatter_class=HelpFormatter
        )
        parser.set_defaults(handler=_lister(name))


def _lister(name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        print(format_registry(registry_named(name)))
        if name in FOOTERS:
            print(FOOTERS[name])
        return 0

    return handler
