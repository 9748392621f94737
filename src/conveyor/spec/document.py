"""Read a YAML document once: its data, the line of every key path, and bounded aliases.

YAML anchors and aliases let a small file describe an exponentially large one (nine aliases of
nine aliases of ... — a "billion laughs"). PyYAML shares aliased objects, so loading is cheap,
but anything that walks the result (the line index, validation, hashing, logging params) walks
every expansion. Aliases are therefore counted while the document is composed, and a file whose
aliases would add more than ``ALIAS_BUDGET`` values, that nests deeper than ``MAX_DEPTH``, or
whose alias refers to itself, is refused before anything walks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

ALIAS_BUDGET = 10_000
"""Values that aliases may add to the document; a real project file repeats a few sections."""

MAX_DEPTH = 100
"""Nesting a project file may use; it needs under ten, PyYAML's own recursion stops near 300."""

Lines = dict[tuple[str, ...], int]


class RefusedDocument(Exception):
    """The document is well-formed YAML that Conveyor will not expand."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Document:
    """A parsed YAML document and the 1-based line of each mapping key and sequence item."""

    data: Any
    lines: Lines


def read_document(text: str) -> Document:
    """Parse ``text``; raise ``yaml.YAMLError`` when malformed, ``RefusedDocument`` when hostile."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        # before construction, which rewrites merge keys (<<) in place into copied entries
        lines = _line_index(root)
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return Document(data, lines)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting what each alias expands to as the document is composed.

    The expansion of a document is exact to count this way: every alias in the text is replaced
    by a full copy of its anchor's expansion, which is known (memoised) by the time it is used.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._added = 0
        self._depth = 0
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise RefusedDocument(
                    line, f"alias *{event.anchor} refers to its own anchor (a recursive structure)"
                )
            node = super().compose_node(parent, index)
            assert node is not None  # an alias always resolves to a node (or raises)
            self._added += _expanded_size(node, self._sizes)
            if self._added > ALIAS_BUDGET:
                raise RefusedDocument(
                    line,
                    f"YAML aliases expand the file by more than {ALIAS_BUDGET:,} values "
                    f"(at *{event.anchor}); repeat small sections only",
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise RefusedDocument(line, f"nested deeper than {MAX_DEPTH} levels")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open.discard(anchor)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in ``node`` once every alias inside it is expanded (memoised per node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def _line_index(root: yaml.Node | None) -> Lines:
    """Map each key path to its line. An aliased node is walked once, where it is defined;
    problems under an alias point at the alias's own key."""
    index: Lines = {}
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                index[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, str(i))
                index[child] = item.start_mark.line + 1
                walk(item, child)

    if root is not None:
        walk(root, ())
    return index


def located(loc: tuple[str, ...], lines: Lines) -> str:
    """``a.b.c (line 7)``: the key path and the line of its nearest key present in the file."""
    where = ".".join(loc)
    line = next((lines[loc[:end]] for end in range(len(loc), 0, -1) if loc[:end] in lines), None)
    if line is not None:
        where = f"{where} (line {line})" if where else f"line {line}"
    return where
