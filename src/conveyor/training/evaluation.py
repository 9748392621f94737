"""Holdout metrics, per slice too, and a diagnostic plot (confusion matrix or residuals)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import DataError, Problem

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any]


def predict(model: Any, x: pd.DataFrame, classification: bool) -> Predictions:
    import numpy as np

    labels = np.asarray(model.predict(x))
    proba = None
    classes: list[Any] = []
    if classification and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(x), dtype=float)
        classes = list(getattr(model, "classes_", []))
    return Predictions(labels, proba, classes)


def compute_metrics(y_true: Any, preds: Predictions, classification: bool) -> dict[str, float]:
    """The task's metrics; a metric that is undefined on this data is left out, not faked."""
    import numpy as np
    from sklearn import metrics as m

    y = np.asarray(y_true)
    if not classification:
        err = preds.labels.astype(float) - y.astype(float)
        out = {
            "rmse": float(math.sqrt(np.mean(err**2))),
            "mae": float(np.mean(np.abs(err))),
        }
        if len(y) > 1 and np.var(y) > 0:
            out["r2"] = float(m.r2_score(y, preds.labels))
        return out
    out = {
        "accuracy": float(m.accuracy_score(y, preds.labels)),
        "precision_macro": float(
            m.precision_score(y, preds.labels, average="macro", zero_division=0)
        ),
        "recall_macro": float(m.recall_score(y, preds.labels, average="macro", zero_division=0)),
        "f1_macro": float(m.f1_score(y, preds.labels, average="macro", zero_division=0)),
    }
    if preds.probabilities is not None and len(np.unique(y)) > 1:
        proba = preds.probabilities
        labels = preds.classes
        try:
            if proba.shape[1] == 2:
                out["roc_auc"] = float(m.roc_auc_score(y == labels[1], proba[:, 1]))
            else:
                out["roc_auc"] = float(m.roc_auc_score(y, proba, multi_class="ovr", labels=labels))
            out["log_loss"] = float(m.log_loss(y, proba, labels=labels))
        except ValueError:
            pass  # a class absent from this subset: AUC and log loss are undefined, not zero
    return out


def slice_masks(
    frame: pd.DataFrame, slices: Mapping[str, Mapping[str, Mapping[Any, Any]]]
) -> dict[str, pd.Series]:
    """Boolean row masks for the spec's named slices (column filters combined with AND)."""
    import pandas as pd

    ops = {
        "eq": lambda s, v: s == v,
        "ne": lambda s, v: s != v,
        "gt": lambda s, v: s > v,
        "ge": lambda s, v: s >= v,
        "lt": lambda s, v: s < v,
        "le": lambda s, v: s <= v,
        "in": lambda s, v: s.isin(v),
        "not_in": lambda s, v: ~s.isin(v),
    }
    masks: dict[str, pd.Series] = {}
    for name, filters in slices.items():
        mask = pd.Series(True, index=frame.index)
        for column, conditions in filters.items():
            if column not in frame.columns:
                raise DataError(
                    "data.slices", [Problem(f"data.slices.{name}.{column}", "no such column")]
                )
            for op, value in conditions.items():
                try:
                    mask &= ops[op](frame[column], value)
                except TypeError as exc:
                    raise DataError(
                        "data.slices", [Problem(f"data.slices.{name}.{column}.{op}", str(exc))]
                    ) from None
        masks[name] = mask
    return masks


def save_plot(path: Path, y_true: Any, preds: Predictions, classification: bool) -> Path:
    """A confusion matrix (classification) or residuals-vs-predicted plot (regression) as PNG."""
    import numpy as np
    from matplotlib.figure import Figure

    # a bare Figure renders without pyplot's global backend, which a notebook or an
    # application embedding Conveyor keeps for itself
    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.subplots()
    if classification:
        from sklearn.metrics import ConfusionMatrixDisplay

        ConfusionMatrixDisplay.from_predictions(
            np.asarray(y_true), preds.labels, ax=ax, colorbar=False
        )
        ax.set_title("Confusion matrix (holdout)")
    else:
        y = np.asarray(y_true, dtype=float)
        ax.scatter(preds.labels, y - preds.labels, s=8, alpha=0.6)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual")
        ax.set_title("Residuals (holdout)")
    fig.tight_layout()
    fig.savefig(path)
    return path
