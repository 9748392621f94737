"""Conveyor: carry a tabular model from data to production and keep watching it there.

Importing this package is cheap on purpose: heavy libraries (mlflow, pandas, scikit-learn,
onnxruntime) are imported by the modules that use them, when they are used.
"""

from __future__ import annotations

from conveyor.errors import ConveyorError
from conveyor.settings import Settings

__all__ = ["ConveyorError", "Settings", "__version__"]

__version__ = "0.1.0"
