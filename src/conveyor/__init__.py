"""Conveyor: carry a tabular model from data to production and keep watching it there.

Importing this package is cheap on purpose: heavy libraries (mlflow, pandas, scikit-learn,
onnxruntime) are imported by the modules that use them, when they are used, and the Python API
(``Project``, ``Registry``, ``serve``, ``drift``, ``monitor``) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError
from conveyor.settings import Settings

if TYPE_CHECKING:
    from conveyor.api import Project, Registry, Server, Validation, drift, monitor, serve

__all__ = [
    "ConveyorError",
    "Project",
    "Registry",
    "Server",
    "Settings",
    "Validation",
    "__version__",
    "drift",
    "monitor",
    "serve",
]

__version__ = "0.1.0"

_API = frozenset({"Project", "Registry", "Server", "Validation", "drift", "monitor", "serve"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from conveyor import api

        return getattr(api, name)
    raise AttributeError(f"module 'conveyor' has no attribute {name!r}")
