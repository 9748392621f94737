"""One way to turn raw columns into model inputs, used by training, ONNX export and serving."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.data.schema import Kind, Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MISSING_CATEGORY = ""


def prepare_features(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Columns in schema order; numbers as float64, booleans as 0/1, categories as strings.

    Missing categories become the empty string because ONNX string tensors have no NaN.
    """
    import pandas as pd

    out: dict[str, pd.Series] = {}
    for col in schema.features:
        series = frame[col.name]
        if col.kind is Kind.CATEGORICAL:
            text = series.astype(object).where(series.notna(), MISSING_CATEGORY).astype(str)
            out[col.name] = text.astype(object)
        else:
            out[col.name] = pd.to_numeric(series, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def onnx_feeds(
    frame: pd.DataFrame, schema: Schema, input_names: list[str]
) -> dict[str, np.ndarray]:
    """ONNX Runtime inputs (one [N, 1] tensor per feature, or one [N, F] float matrix when
    the graph has a single input for several features) from a prepared frame."""
    import numpy as np

    if len(input_names) == 1 and len(schema.features) > 1:
        matrix = frame[[c.name for c in schema.features]].to_numpy(dtype=np.float32)
        return {input_names[0]: matrix}
    feeds: dict[str, np.ndarray] = {}
    for col, name in zip(schema.features, input_names, strict=True):
        values = frame[col.name].to_numpy()
        if col.kind is Kind.CATEGORICAL:
            feeds[name] = values.astype(object).reshape(-1, 1)
        else:
            feeds[name] = values.astype(np.float32).reshape(-1, 1)
    return feeds
