"""The error tree drawn in conveyor.errors names every error Conveyor defines."""

from __future__ import annotations

import importlib
import pkgutil

import conveyor
from conveyor.errors import ConveyorError


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_the_drawn_tree_has_every_error() -> None:
    for module in pkgutil.walk_packages(conveyor.__path__, "conveyor."):
        # the errors live in core modules; optional engines' modules need their extras
        if module.name.endswith("__main__") or module.name.startswith(
            ("conveyor.engines", "conveyor.deploy.kfp")
        ):
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:
            continue
    drawn = conveyor.errors.__doc__ or ""
    missing = sorted(c.__name__ for c in _subclasses(ConveyorError) if c.__name__ not in drawn)
    assert missing == []
