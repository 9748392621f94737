"""Fingerprints and the reference profile drift monitoring compares production traffic with.

The profile holds everything a drift check needs without the training data: per numeric
feature quantile bin edges with counts, per categorical feature category counts, missing
shares, and the distribution of the model's predictions on the holdout.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind, Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROFILE_VERSION = 1
DEFAULT_BINS = 10


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash that ignores the index and is stable across processes and machines."""
    import pandas as pd

    digest = hashlib.sha256()
    for name in frame.columns:
        digest.update(f"{name}:{frame[name].dtype}".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def numeric_bins(values: np.ndarray, bins: int = DEFAULT_BINS) -> tuple[list[float], list[int]]:
    """Quantile bin edges (deduplicated) and the counts of ``values`` in them."""
    import numpy as np

    present = values[~np.isnan(values)]
    if present.size == 0:
        return [], []
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    inner = edges[1:-1]
    binned = np.bincount(np.searchsorted(inner, present, side="right"), minlength=edges.size - 1)
    return [float(e) for e in edges], [int(c) for c in binned]


def build_profile(
    frame: pd.DataFrame,
    schema: Schema,
    predictions: np.ndarray,
    classification: bool,
) -> dict[str, Any]:
    """The reference profile of a training frame and the holdout predictions."""
    import numpy as np

    features: dict[str, Any] = {}
    for col in schema.features:
        series = frame[col.name]
        entry: dict[str, Any] = {
            "kind": col.kind.value,
            "missing_share": float(series.isna().mean()),
        }
        if col.kind is Kind.NUMERIC:
            edges, counts = numeric_bins(series.to_numpy(dtype=float))
            present = series.dropna().to_numpy(dtype=float)
            entry |= {"bin_edges": edges, "bin_counts": counts}
            if present.size:
                entry |= {"mean": float(present.mean()), "std": float(present.std())}
        else:
            counts_by_cat = series.dropna().astype(str).value_counts()
            entry["category_counts"] = {str(k): int(v) for k, v in counts_by_cat.items()}
        features[col.name] = entry
    if classification:
        values, value_counts = np.unique(np.asarray(predictions).astype(str), return_counts=True)
        prediction: dict[str, Any] = {
            "kind": "categorical",
            "category_counts": {str(v): int(c) for v, c in zip(values, value_counts, strict=True)},
        }
    else:
        edges, bin_counts = numeric_bins(np.asarray(predictions, dtype=float))
        prediction = {"kind": "numeric", "bin_edges": edges, "bin_counts": bin_counts}
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "features": features,
        "prediction": prediction,
    }
