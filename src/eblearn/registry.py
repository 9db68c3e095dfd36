"""Name → object tables that refuse duplicates and explain unknown names.

Registries drive the command line (``eblearn methods``), the contract tests (every registered
method is trained one step) and the error messages (an unknown name lists the valid ones).
Inside the library, objects are passed, not names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class Registry(Generic[T]):
    """A table of named entries of one kind (``"method"``, ``"dataset"``, ``"backbone"``).

    Args:
        kind: What the entries are, used in error messages (``"unknown method 'x'"``).

    Example:
        >>> widgets = Registry[int]("widget")
        >>> widgets.register("one", 1)
        1
        >>> widgets.get("one")
        1
        >>> widgets.get("two")
        Traceback (most recent call last):
        ...
        ValueError: unknown widget 'two'; valid widgets: one
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Adds ``obj`` under ``name``; without ``obj``, returns a decorator that does.

        Raises:
            ValueError: If ``name`` is already registered or is not a lowercase identifier.
        """

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered "
                    f"(by {self._entries[name]!r}); pick another name"
                )
            if not name or name != name.lower() or " " in name or ":" in name:
                raise ValueError(
                    f"{self.kind} names are lowercase words without spaces or ':', got {name!r}"
                )
            self._entries[name] = entry
            return entry

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        """Returns the entry called ``name``.

        Raises:
            ValueError: If ``name`` is unknown; the message lists the valid names.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """The first line of the entry's docstring as plain text (no reST markup)."""
        doc = getattr(self.get(name), "__doc__", None) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        first = re.sub(r":\w+:`~?([^`]+)`", r"\1", first)  # :class:`~a.B` -> a.B
        return first.replace("``", "").replace("`", "")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
