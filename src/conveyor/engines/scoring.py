"""What every batch-scoring engine shares: a registered version's runtime and the one way a
table's rows become its inputs and its answers.

Rows are read as training reads them (``training.features.prepare_features``) and checked as
the server checks a request (every feature present, numbers numeric, no missing value where the
schema has none), so a batch answer equals the server's answer for the same row. The output
keeps the input's other columns (its keys) or those asked for, then ``prediction``, one
``probability_<class>`` per class, ``model`` and ``model_version``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind
from conveyor.display import listed, shown
from conveyor.errors import DataError, Problem

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from conveyor.bundle.model import Bundle
    from conveyor.bundle.runtime import Runtime

_SHOWN_ROWS = 5


@dataclass(frozen=True)
class ScoringPlan:
    """What to read and write: the model's features, the key columns kept, the outputs."""

    features: list[str]
    keep: list[str]
    classes: list[Any]
    model: str
    version: str

    def output_columns(self) -> list[str]:
        return [
            *self.keep,
            "prediction",
            *[f"probability_{c}" for c in self.classes],
            "model",
            "model_version",
        ]


def plan_for(bundle: Bundle, input_columns: list[str], keep: list[str] | None) -> ScoringPlan:
    """Check the input's columns against the model; ``DataError`` naming what is missing."""
    features = bundle.schema.names
    missing = [f for f in features if f not in input_columns]
    if missing:
        raise DataError("--input", [Problem("columns", f"missing features: {listed(missing)}")])
    if keep is None:
        keep = [c for c in input_columns if c not in features]
    else:
        unknown = [c for c in keep if c not in input_columns]
        if unknown:
            raise DataError("--keep", [Problem("columns", f"not in the input: {listed(unknown)}")])
    ident = bundle.identity
    return ScoringPlan(features, keep, list(bundle.schema.classes), ident.name, ident.version)


def output_arrow_schema(plan: ScoringPlan, keys: pa.Schema, classification: bool) -> pa.Schema:
    import pyarrow as pa

    fields = [keys.field(name) for name in plan.keep]
    label = pa.string() if classification and _text_labels(plan.classes) else pa.float64()
    if classification and not _text_labels(plan.classes):
        label = pa.int64()
    fields.append(pa.field("prediction", label))
    fields += [pa.field(f"probability_{c}", pa.float64()) for c in plan.classes]
    fields += [pa.field("model", pa.string()), pa.field("model_version", pa.string())]
    return pa.schema(fields)


IDENTITY = ("model", "model_version")


def score_frame(
    frame: pd.DataFrame,
    bundle: Bundle,
    runtime: Runtime,
    plan: ScoringPlan,
    first_row: int = 0,
    with_identity: bool = True,
    observe: Callable[[dict[str, Any], Any], None] | None = None,
) -> pd.DataFrame:
    """Answers for ``frame`` (a batch of the input); rows numbered from ``first_row`` in
    errors. ``with_identity=False`` leaves out the constant model and version columns, for an
    engine that adds them itself more cheaply."""
    import numpy as np
    import pandas as pd

    from conveyor.training.features import prepare_features

    _check(frame, bundle, first_row)
    prepared = prepare_features(frame, bundle.schema)
    columns = {name: prepared[name].to_numpy() for name in plan.features}
    rows = len(frame)
    result = runtime.predict(columns, rows)
    if observe is not None:  # what the model saw and answered, for the drift monitor
        observe(columns, result.predictions)
    out = {name: frame[name].to_numpy() for name in plan.keep}
    out.update(_answers(plan, result, rows))
    if with_identity:
        out["model"] = np.full(rows, plan.model, dtype=object)
        out["model_version"] = np.full(rows, plan.version, dtype=object)
    return pd.DataFrame(out, index=frame.index)


def score_batch(
    batch: pa.RecordBatch,
    bundle: Bundle,
    runtime: Runtime,
    plan: ScoringPlan,
    scored: pa.Schema,
    first_row: int = 0,
    observe: Callable[[dict[str, Any], Any], None] | None = None,
) -> pa.RecordBatch:
    """``score_frame`` on an Arrow batch, answered as an Arrow batch of ``scored`` (the output
    schema without the model and version columns). When every feature is a number or a
    boolean, present where the schema needs it, the columns go from Arrow to the runtime and
    back without pandas (an engine's Python workers then spend their time on the model); a
    categorical feature, or a value to check one by one, takes the pandas path and its
    errors."""
    import pyarrow as pa

    columns = _numeric_columns(batch, bundle)
    if columns is None:
        answers = score_frame(
            batch.to_pandas(), bundle, runtime, plan, first_row, with_identity=False,
            observe=observe,
        )  # fmt: skip
        return pa.RecordBatch.from_pandas(answers, schema=scored, preserve_index=False)
    rows = batch.num_rows
    result = runtime.predict(columns, rows)
    if observe is not None:
        observe(columns, result.predictions)
    arrays = [batch.column(name) for name in plan.keep]
    arrays += [pa.array(values) for values in _answers(plan, result, rows).values()]
    return pa.RecordBatch.from_arrays(arrays, schema=scored)


def _numeric_columns(batch: pa.RecordBatch, bundle: Bundle) -> dict[str, Any] | None:
    """The features as float64 arrays (missing values NaN, booleans 0/1, as
    ``prepare_features`` makes them), or None when one needs the pandas path."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for col in bundle.schema.features:
        values = batch.column(col.name)
        kind = values.type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        if col.kind is Kind.CATEGORICAL or not (numeric or pa.types.is_boolean(kind)):
            return None
        if values.null_count and not col.nullable:
            return None  # refused, naming the rows, by the pandas path
        columns[col.name] = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    return columns


def _answers(plan: ScoringPlan, result: Any, rows: int) -> dict[str, Any]:
    """``prediction`` (int64 class ids, text labels, or float64 for regression) and one
    ``probability_<class>`` per class (NaN when the runtime gave none)."""
    import numpy as np

    out: dict[str, Any] = {}
    predictions = np.asarray(result.predictions)
    if plan.classes and not _text_labels(plan.classes):
        predictions = predictions.astype(np.int64)
    elif not plan.classes:
        predictions = predictions.astype(np.float64)
    out["prediction"] = predictions
    if plan.classes:
        probabilities = (
            np.asarray(result.probabilities, dtype=np.float64)
            if result.probabilities is not None
            else np.full((rows, len(plan.classes)), np.nan)
        )
        for j, c in enumerate(plan.classes):
            out[f"probability_{c}"] = probabilities[:, j]
    return out


def _check(frame: pd.DataFrame, bundle: Bundle, first_row: int) -> None:
    """What the server would refuse in a request, refused here naming column and rows."""
    import pandas as pd

    problems = []
    for col in bundle.schema.features:
        series = frame[col.name]
        missing = series.isna()
        if not col.nullable and bool(missing.any()):
            rows = [first_row + int(i) for i in missing.to_numpy().nonzero()[0][:_SHOWN_ROWS]]
            problems.append(Problem(col.name, f"missing values (rows {rows}); the model has none"))
        if col.kind is not Kind.CATEGORICAL and not pd.api.types.is_numeric_dtype(series):
            numbers = pd.to_numeric(series, errors="coerce")
            bad = numbers.isna() & ~missing
            if col.kind is Kind.BOOLEAN:
                bad &= ~series.isin([True, False])
            if bool(bad.any()):
                at = bad.to_numpy().nonzero()[0][:_SHOWN_ROWS]
                sample = shown(str(series.iloc[int(at[0])]))
                rows = [first_row + int(i) for i in at]
                problems.append(Problem(col.name, f"not a number: {sample} (rows {rows})"))
    if problems:
        raise DataError("--input", problems)


def _text_labels(classes: list[Any]) -> bool:
    return any(isinstance(c, str) for c in classes)
