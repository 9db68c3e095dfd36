"""The package's layering: each folder imports only the folders below it, and no import loops.

The order is DESIGN.md's, read from the ground up. Imports inside functions count too: a lazy
import of a higher layer is still a dependency on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[1] / "src" / "eblearn"
LAYERS = [
    ("_io", "_distributed", "_validate", "registry"),
    ("data",),
    ("energy",),
    ("losses",),
    ("sampling",),
    ("nn",),
    ("latent",),
    ("methods",),
    ("evaluate",),
    ("train",),
    ("world",),
    ("plot",),
    ("app",),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] == "eblearn"}


def folder_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


FILES = sorted(SOURCE.rglob("*.py"))


def test_every_folder_has_a_layer():
    folders = {p.relative_to(SOURCE).parts[0].removesuffix(".py") for p in FILES}
    assert folders - {"__init__"} <= set(RANK), sorted(folders - set(RANK))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_folder_imports_a_layer_above_it(path):
    me = folder_of(module_name(path))
    if me is None:  # eblearn/__init__.py
        return
    above = sorted(
        m
        for m in imports(path, top_level_only=False)
        if (folder := folder_of(m)) in RANK and RANK[folder] > RANK[me]
    )
    assert not above, f"{me} (layer {RANK[me]}) imports {above}"


def test_nothing_imports_the_command_line():
    importers = [
        str(p.relative_to(SOURCE))
        for p in FILES
        if p.name != "cli.py" and any(m.startswith("eblearn.cli") for m in imports(p, False))
    ]
    assert importers == []


def test_module_level_imports_have_no_cycle():
    modules = {module_name(p): p for p in FILES}
    graph = {
        name: {m for m in imports(path, top_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
