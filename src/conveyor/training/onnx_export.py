"""Export the fitted pipeline (preprocessing included) to ONNX and check it against scikit-learn."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind, Schema
from conveyor.training.features import onnx_feeds

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.training.evaluation import Predictions

log = logging.getLogger(__name__)
TARGET_OPSET = 17


@dataclass
class OnnxExport:
    """The ONNX bytes and their input names, or why there is no ONNX model."""

    model: bytes | None
    input_names: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class Parity:
    passed: bool
    label_mismatches: int
    max_abs_diff: float
    tolerance: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "label_mismatches": self.label_mismatches,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "rows": self.rows,
        }


def export_onnx(model: Any, schema: Schema, classification: bool) -> OnnxExport:
    """Convert with skl2onnx; a model with no converter yields ``model=None`` and the reason."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (
            c.name,
            StringTensorType([None, 1])
            if c.kind is Kind.CATEGORICAL
            else FloatTensorType([None, 1]),
        )
        for c in schema.features
    ]
    options: dict[Any, Any] = {}
    if classification:
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}}
    try:
        proto = convert_sklearn(
            model, initial_types=inputs, options=options, target_opset=TARGET_OPSET
        )
    except Exception as exc:  # skl2onnx raises many unrelated types for "no converter"
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        log.info("no ONNX export: %s", reason)
        return OnnxExport(None, reason=reason)
    names = [i.name for i in proto.graph.input]
    return OnnxExport(proto.SerializeToString(), names)


def onnx_predict(export: OnnxExport, x: pd.DataFrame, schema: Schema) -> list[Any]:
    import onnxruntime as ort

    assert export.model is not None
    session = ort.InferenceSession(export.model, providers=["CPUExecutionProvider"])
    result: list[Any] = session.run(None, onnx_feeds(x, schema, export.input_names))
    return result


def check_parity(
    export: OnnxExport,
    x: pd.DataFrame,
    schema: Schema,
    reference: Predictions,
    classification: bool,
    tolerance: float,
) -> Parity:
    """Labels identical and probabilities within ``tolerance``; regression within it relatively."""
    import numpy as np

    outputs = onnx_predict(export, x, schema)
    labels = np.asarray(outputs[0]).reshape(-1)
    rows = len(x)
    if classification:
        mismatches = int(np.sum(labels.astype(str) != reference.labels.astype(str)))
        diff = 0.0
        if reference.probabilities is not None and len(outputs) > 1:
            diff = float(
                np.max(np.abs(np.asarray(outputs[1]) - reference.probabilities), initial=0.0)
            )
        return Parity(mismatches == 0 and diff <= tolerance, mismatches, diff, tolerance, rows)
    ref = reference.labels.astype(float)
    # relative to the value's size: float32 inside ONNX cannot match 1e-3 absolute on large targets
    diff = float(
        np.max(np.abs(labels.astype(float) - ref) / np.maximum(1.0, np.abs(ref)), initial=0.0)
    )
    return Parity(diff <= tolerance, 0, diff, tolerance, rows)
