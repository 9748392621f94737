"""A plain MLflow model's runtime, chosen at load: ONNX Runtime when its scikit-learn model
(or LightGBM's / XGBoost's scikit-learn estimator) converts (skl2onnx, with onnxmltools'
converters for the boosters) and the graph answers as the model does on rows it was logged
with, else the model's own pyfunc. The reason either way is what /model/info shows.

The check needs rows: the model's MLflow input example, widened by copies whose numbers are
scaled by 0.8–1.2 (so a tree's splits are crossed, not only the example's own points). A model
logged without an input example stays on its pyfunc (`conveyor adopt` converts and checks it
on the reference rows instead, and records the graph with the version).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from conveyor.bundle.runtime import OnnxRuntime, PyfuncRuntime, Runtime
from conveyor.data.schema import Kind

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.bundle.model import Bundle
    from conveyor.data.schema import Schema
    from conveyor.spec.models import ParityGate
    from conveyor.training.onnx_export import OnnxExport, Parity

log = logging.getLogger(__name__)
CHECK_ROWS = 200


def converted_runtime(bundle: Bundle, threads: int = 1) -> Runtime:
    from conveyor.spec.models import ParityGate

    pyfunc = PyfuncRuntime(bundle)
    if not pyfunc.estimator:
        pyfunc.reason = (
            f"{bundle.note}; a {pyfunc.flavor} model has no ONNX conversion here, so it runs "
            "through its own pyfunc in-process"
        )
        return pyfunc
    rows = check_rows(bundle)
    if rows is None:
        pyfunc.reason = (
            f"{bundle.note}; logged without an input example, so no ONNX conversion can be "
            "checked against it at load (log one with input_example=..., or conveyor adopt it): "
            "it runs through its own pyfunc in-process"
        )
        return pyfunc
    model = pyfunc.model
    classifier = hasattr(model, "predict_proba") and hasattr(model, "classes_")
    try:
        export, parity = convert_estimator(model, bundle.schema, rows, classifier, ParityGate())
    except Exception as exc:  # the model refuses its own example, or a converter breaks
        log.info("no ONNX conversion for %s: %s", bundle.identity.name, exc)
        export, parity = None, None
    if export is None or export.model is None or parity is None:
        why = export.reason if export is not None else "the conversion could not be checked"
        pyfunc.reason = f"{bundle.note}; not converted to ONNX ({why}): it runs through its pyfunc"
        return pyfunc
    runtime = OnnxRuntime(bundle, threads, export.model, export.input_names)
    runtime.reason = (
        f"{bundle.note}; its {pyfunc.flavor} model converted to ONNX at load and checked against it on "
        f"{parity.rows} rows from its input example (max difference {parity.max_abs_diff:.1e})"
    )
    return runtime


def convert_estimator(
    model: Any, schema: Schema, rows: pd.DataFrame, classifier: bool, gate: ParityGate
) -> tuple[OnnxExport, Parity | None]:
    """A scikit-learn API estimator Conveyor did not fit, converted and checked against its
    own answers on ``rows`` (``training.onnx_export.convert_checked``) at ``gate``'s
    tolerance: at load on the input example, and by `conveyor adopt` on the reference."""
    import numpy as np

    from conveyor.training.evaluation import Predictions
    from conveyor.training.features import prepare_features
    from conveyor.training.onnx_export import convert_checked

    x = prepare_features(rows, schema)
    reference = Predictions(
        np.asarray(model.predict(x)),
        model.predict_proba(x) if classifier else None,
        list(getattr(model, "classes_", [])),
    )
    tolerance = gate.probability_tolerance if classifier else gate.regression_tolerance
    return convert_checked(model, schema, x, reference, classifier, tolerance)


def check_rows(bundle: Bundle) -> pd.DataFrame | None:
    """The model's input example and scaled copies of it, up to ``CHECK_ROWS`` rows; None
    when the model was logged without one."""
    import numpy as np
    import pandas as pd
    from mlflow.models import Model

    try:
        meta = Model.load(str(bundle.path))
        example: Any = meta.load_input_example(str(bundle.path))
    except Exception as exc:  # an unreadable example is no example
        log.info("input example of %s unreadable: %s", bundle.identity.name, exc)
        return None
    if example is None:
        return None
    frame = pd.DataFrame(example)
    if frame.empty or any(c not in frame.columns for c in bundle.schema.names):
        return None
    rng = np.random.default_rng(0)
    copies = [frame]
    numeric = [c.name for c in bundle.schema.features if c.kind is Kind.NUMERIC]
    while sum(len(c) for c in copies) < CHECK_ROWS:
        scaled = frame.copy()
        for name in numeric:
            values = pd.to_numeric(scaled[name], errors="coerce")
            scaled[name] = values * rng.uniform(0.8, 1.2, len(scaled))
        copies.append(scaled)
    return pd.concat(copies, ignore_index=True).head(CHECK_ROWS)
