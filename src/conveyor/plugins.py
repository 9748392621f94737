"""The one shape of Conveyor's plug-in registries: things with a ``name``, added explicitly
(nothing registers itself on import), a second one of the same name refused, an unknown name
answered with the valid ones. Rollout strategies, drift statistics and request codecs each
keep a registry of this kind; the kind's name goes into the messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from conveyor.errors import UserError


class Named(Protocol):
    """A plug-in: known by its ``name`` in its registry."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Plug-ins of one ``kind`` (``"rollout strategy"``) by name. Iterates in the order they
    were added; ``names()`` is sorted."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._by_name: dict[str, T] = {}

    def register(self, plugin: T) -> None:
        """Add ``plugin``; a second one of the same name is a programming error."""
        if plugin.name in self._by_name:
            raise ValueError(f"a {self.kind} named {plugin.name!r} is registered already")
        self._by_name[plugin.name] = plugin

    def get(self, name: str) -> T:
        """The plug-in called ``name``; an unknown name is the user's (a spec, a flag), so
        the error lists the valid ones."""
        try:
            return self._by_name[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise UserError(f"unknown {self.kind} {name!r}; use one of {valid}") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[T]:
        return iter(self._by_name.values())
