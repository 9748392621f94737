"""The project file ``conveyor.yaml`` as typed models."""

from __future__ import annotations

from conveyor.spec.loader import load_spec, spec_hash
from conveyor.spec.models import ProjectSpec, Task

__all__ = ["ProjectSpec", "Task", "load_spec", "spec_hash"]
