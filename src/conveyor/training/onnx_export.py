"""Export the fitted pipeline (preprocessing included) to ONNX and check it against scikit-learn."""

from __future__ import annotations

import importlib.util
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


_BOOSTERS: dict[str, tuple[str, str, str]] = {
    # module: (classifier, regressor, onnxmltools converter) registered with skl2onnx
    "lightgbm": ("LGBMClassifier", "LGBMRegressor", "lightgbm.operator_converters.LightGbm"),
    "xgboost": ("XGBClassifier", "XGBRegressor", "xgboost.operator_converters.XGBoost"),
}
_registered: set[str] = set()


def register_boosters() -> None:
    """Teach skl2onnx LightGBM's and XGBoost's scikit-learn estimators through onnxmltools'
    converters, for whichever of them is installed (alone or inside a pipeline). Without
    onnxmltools they stay unconverted and the reason says so."""
    import importlib

    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    for module, (classifier, regressor, converters) in _BOOSTERS.items():
        if module in _registered or importlib.util.find_spec(module) is None:
            continue
        if importlib.util.find_spec("onnxmltools") is None:
            continue
        lib = importlib.import_module(module)
        converter = getattr(
            importlib.import_module(f"onnxmltools.convert.{converters}"), f"convert_{module}"
        )
        update_registered_converter(
            getattr(lib, classifier), f"{module}{classifier}",
            calculate_linear_classifier_output_shapes, converter,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )  # fmt: skip
        update_registered_converter(
            getattr(lib, regressor), f"{module}{regressor}",
            calculate_linear_regressor_output_shapes, converter, options={"split": None},
        )  # fmt: skip
        _registered.add(module)


def export_onnx(
    model: Any, schema: Schema, classification: bool, matrix: bool = False
) -> OnnxExport:
    """Convert with skl2onnx; a model with no converter yields ``model=None`` and the reason.

    One [N, 1] input per feature (a pipeline that selects its columns by name, as `conveyor
    run` fits); with ``matrix``, one [N, F] float input (a bare estimator fitted on numbers)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs: list[tuple[str, Any]] = [
        (
            c.name,
            StringTensorType([None, 1])
            if c.kind is Kind.CATEGORICAL
            else FloatTensorType([None, 1]),
        )
        for c in schema.features
    ]
    if matrix:
        inputs = [("input", FloatTensorType([None, len(schema.features)]))]
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options: dict[Any, Any] = {id(final): {"zipmap": False}} if classification else {}
    booster = type(final).__module__.split(".")[0] in _BOOSTERS
    if booster:
        register_boosters()
    # onnxmltools' tree converters write the ai.onnx.ml domain's version 3
    opset: Any = {"": TARGET_OPSET, "ai.onnx.ml": 3} if booster else TARGET_OPSET
    try:
        proto = convert_sklearn(model, initial_types=inputs, options=options, target_opset=opset)
    except Exception as exc:  # skl2onnx raises many unrelated types for "no converter"
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        if booster and importlib.util.find_spec("onnxmltools") is None:
            reason += " (pip install onnxmltools converts LightGBM and XGBoost models)"
        log.info("no ONNX export: %s", reason)
        return OnnxExport(None, reason=reason)
    names = [i.name for i in proto.graph.input]
    return OnnxExport(proto.SerializeToString(), names)


def convert_checked(
    model: Any,
    schema: Schema,
    x: pd.DataFrame,
    reference: Predictions,
    classification: bool,
    tolerance: float,
) -> tuple[OnnxExport, Parity | None]:
    """A scikit-learn model that Conveyor did not fit, converted and checked against its own
    answers on ``x``: per-feature inputs, else one matrix when every feature is a number. The
    export is ``None`` (with the reason) when no conversion exists or the graph disagrees."""
    export = export_onnx(model, schema, classification)
    if export.model is None and all(c.kind is not Kind.CATEGORICAL for c in schema.features):
        export = export_onnx(model, schema, classification, matrix=True)
    if export.model is None:
        return export, None
    parity = check_parity(export, x, schema, reference, classification, tolerance)
    if not parity.passed:
        reason = (
            f"its ONNX conversion differed on {parity.rows} rows ({parity.label_mismatches} "
            f"labels, max diff {parity.max_abs_diff:.2e}, tolerance {tolerance:g})"
        )
        return OnnxExport(None, reason=reason), parity
    return export, parity


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
        differ = labels.astype(str) != reference.labels.astype(str)
        if reference.probabilities is not None and differ.any():
            differ &= ~_ties(labels, reference, tolerance)
        mismatches = int(np.sum(differ))
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


def _ties(labels: Any, reference: Predictions, tolerance: float) -> Any:
    """Rows where scikit-learn gave the graph's label (nearly) the probability of its own: a
    tie (50 of 100 trees each way) that float rounding breaks either way, not a different
    answer."""
    import numpy as np

    assert reference.probabilities is not None
    index = {str(c): i for i, c in enumerate(reference.classes)}
    rows = np.arange(len(labels))
    ours = np.array([index.get(str(label), -1) for label in labels])
    theirs = np.array([index.get(str(label), -1) for label in reference.labels])
    known = (ours >= 0) & (theirs >= 0)
    gap = np.full(len(labels), np.inf)
    probs = reference.probabilities
    gap[known] = np.abs(probs[rows[known], theirs[known]] - probs[rows[known], ours[known]])
    tied: Any = gap <= tolerance
    return tied


def parity_advice(parity: Parity, classification: bool, estimator: str) -> str:
    """Why a graph can differ from scikit-learn, and the settings that resolve it."""
    key = "probability_tolerance" if classification else "regression_tolerance"
    suggest = float(f"{parity.max_abs_diff * 2:.1g}")
    hint = (
        f": the graph computes in float32 where scikit-learn uses float64, and {estimator} "
        "amplifies the rounding (a value near a split or a decision boundary lands on the "
        "other side)"
    )
    fixes = ["gates.onnx_parity.on_mismatch: pyfunc (serve the exact model, slower)"]
    if parity.label_mismatches == 0:
        fixes.append(f"gates.onnx_parity.{key}: {suggest:g} if differences this size are fine")
    return f"{hint}. Set " + ", or ".join(fixes)
