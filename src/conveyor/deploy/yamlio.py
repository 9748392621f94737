"""YAML for generated manifests: keys in the order built, no anchors, multi-line strings as
``|`` blocks, so the same input renders byte for byte the same file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def dump_all(documents: Sequence[dict[str, Any]], header: str = "") -> str:
    """One or more documents separated by ``---``; ``header`` becomes leading ``#`` lines."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a dict used twice (labels) is written twice, never as &id001

    def represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, represent_str)
    body = yaml.dump_all(
        documents,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        indent=2,
        explicit_start=len(documents) > 1,
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + body
