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


def format_registry(
    registry: Registry[Any],
    extra: dict[str, str] | None = None,
    modality: dict[str, str] | None = None,
) -> str:
    """One line per entry: the name, then its one-line description; ``extra`` entries last.

    With ``modality`` (name → ``"images"``, ``"tokens"`` or ``"waveforms"``), each description
    starts with it.
    """
    rows = [(name, registry.describe(name)) for name in registry.names()]
    rows += list((extra or {}).items())
    if modality:
        rows = [(n, f"[{modality[n]}] {text}" if n in modality else text) for n, text in rows]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {text}" for name, text in rows)


def add_listing_parsers(subparsers: Any) -> None:
    """Adds ``eblearn methods``, ``datasets`` and ``backbones``."""
    for name, text in LISTINGS.items():
        parser = subparsers.add_parser(
            name, help=text, description=text, formatter_class=HelpFormatter
        )
        parser.set_defaults(handler=_lister(name))


def sequence_entries(name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The text entries a listing adds (from the token registries), and every entry's
    modality, for ``methods``, ``datasets`` and ``backbones``."""
    if name == "methods":
        from eblearn.methods.base import METHODS

        return {}, {n: METHODS.get(n).modality for n in METHODS.names()}
    if name == "datasets":
        from eblearn.data.registry import DATASETS
        from eblearn.data.text import TEXT_DATASETS, TEXT_NEEDS_ARGUMENT
        from eblearn.data.waveforms import SPEECH_DATASETS, SPEECH_NEEDS_ARGUMENT

        text = {
            (f"{n}:PATH" if n in TEXT_NEEDS_ARGUMENT else n): TEXT_DATASETS.describe(n)
            for n in TEXT_DATASETS.names()
        }
        speech = {
            (f"{n}:PATH" if n in SPEECH_NEEDS_ARGUMENT else n): SPEECH_DATASETS.describe(n)
            for n in SPEECH_DATASETS.names()
        }
        return {**text, **speech}, {
            **dict.fromkeys(DATASETS.names(), "images"),
            **dict.fromkeys(text, "tokens"),
            **dict.fromkeys(speech, "waveforms"),
        }
    from eblearn.nn.audio import AUDIO_BACKBONES
    from eblearn.nn.sequence import TOKEN_BACKBONES

    tokens = {n: TOKEN_BACKBONES.describe(n) for n in TOKEN_BACKBONES.names()}
    audio = {n: AUDIO_BACKBONES.describe(n) for n in AUDIO_BACKBONES.names()}
    return {**tokens, **audio}, {
        **dict.fromkeys(tokens, "tokens"),
        **dict.fromkeys(audio, "waveforms"),
    }


def _lister(name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        text, modality = sequence_entries(name)
        extra = {**text, **EXTRA_ENTRIES.get(name, {})}  # timm:NAME stays last
        print(format_registry(registry_named(name), extra, modality))
        return 0

    return handler
