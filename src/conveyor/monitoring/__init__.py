"""Monitoring: drift between a reference and a window of traffic (more to come: online
performance from feedback, alert evaluation).

Importing this package is light: numpy, scipy and pyarrow are imported when a check runs.
"""

from __future__ import annotations

from conveyor.monitoring.drift import (
    DriftConfig,
    DriftReport,
    FeatureDrift,
    Status,
    compare_arrays,
    compare_window,
)
from conveyor.monitoring.window import WindowCounts

__all__ = [
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "Status",
    "WindowCounts",
    "compare_arrays",
    "compare_window",
]
