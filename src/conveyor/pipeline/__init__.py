"""`conveyor run`: spec → checked data → trained, tuned, evaluated model → ONNX → gates → registry."""

from __future__ import annotations

from conveyor.pipeline.run import RunResult, run_pipeline

__all__ = ["RunResult", "run_pipeline"]
