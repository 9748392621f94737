"""Columns that would hurt a model, found before training: identifiers, constants, dates,
leakage suspects, and a target with missing values.

Each finding is advice, not an error: `conveyor init --data` leaves such columns out of the
``features`` it writes, and `validate` and `run` print the findings as warnings so a column
that slipped in is seen before it is one-hot encoded or learnt by heart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.data.dates import is_date_column
from conveyor.display import shown

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS = 20
_TEXT_UNIQUE = 0.9  # share of distinct values that makes a text column an identifier
_INT_UNIQUE = 0.95
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index|idx)$|^unnamed: \d+$", re.IGNORECASE)
_LEAK_SAMPLE = 5000
_LEAK_MAX_FEATURES = 300
_LEAK_SCORE = 0.98  # a single feature predicting the target this well is suspicious
_LEAK_GAP_CLOSED = 0.95  # ... and closing this share of the gap above the majority class


class FindingKind(StrEnum):
    IDENTIFIER = "identifier"
    CONSTANT = "constant"
    DATE = "date"
    LEAKAGE = "leakage"
    MISSING_TARGET = "missing_target"
    MISSING_FEATURES = "missing_features"  # rows a feature store had no values for


@dataclass(frozen=True)
class Finding:
    """One column worth a second look, with what to do about it."""

    column: str
    kind: FindingKind
    message: str
    level: str = "warning"  # or "note": what the spec already handles, said once

    def __str__(self) -> str:
        return f"{shown(self.column)}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {
            "column": self.column,
            "kind": self.kind.value,
            "level": self.level,
            "message": self.message,
        }


def survey(
    frame: pd.DataFrame, target: str, features: list[str], classification: bool
) -> list[Finding]:
    """Findings for ``features`` (and the target) of ``frame``, most harmful first."""
    findings: list[Finding] = []
    usable: list[str] = []
    rows = len(frame)
    for name in features:
        found = _column_finding(frame[name], name, rows)
        if found is None:
            usable.append(name)
        else:
            findings.append(found)
    if target in frame.columns:
        missing = int(frame[target].isna().sum())
        if missing:
            findings.append(
                Finding(
                    target,
                    FindingKind.MISSING_TARGET,
                    f"the target is missing in {missing:,} of {rows:,} rows; set "
                    "data.drop_missing_target: true to train on the labelled rows",
                )
            )
        findings += _leakage(frame, target, usable, classification)
    order = list(FindingKind)
    return sorted(findings, key=lambda f: order.index(f.kind) if f.kind in order else 99)


def identifier_like(series: pd.Series, name: str) -> bool:
    """Near-unique text, or near-unique integers that count up or are named like an id."""
    import pandas as pd

    present = series.dropna()
    n = len(present)
    if n < MIN_ROWS or pd.api.types.is_bool_dtype(series):
        return False
    distinct = present.nunique()
    if pd.api.types.is_integer_dtype(series):
        if distinct < _INT_UNIQUE * n:
            return False
        return bool(
            present.is_monotonic_increasing
            or present.is_monotonic_decreasing
            or _ID_NAME.search(name)
        )
    if pd.api.types.is_numeric_dtype(series):
        return bool(_ID_NAME.search(name)) and distinct >= _INT_UNIQUE * n
    return bool(distinct >= _TEXT_UNIQUE * n)


def _column_finding(series: pd.Series, name: str, rows: int) -> Finding | None:
    distinct = series.nunique(dropna=True)
    if distinct <= 1:
        what = "has no values" if distinct == 0 else f"has a single value ({_value(series)})"
        return Finding(
            name, FindingKind.CONSTANT, f"{what}: it cannot help the model; leave it out"
        )
    if is_date_column(series):
        return Finding(
            name,
            FindingKind.DATE,
            "holds dates: as text it would become one category per day; set data.dates: parts "
            "to use year, month, day and weekday as numbers, or leave it out (data.dates: exclude)",
        )
    if identifier_like(series, name):
        return Finding(
            name,
            FindingKind.IDENTIFIER,
            f"looks like an identifier ({distinct:,} distinct values in {rows:,} rows): a model "
            "learns such values by heart; leave it out of data.features",
        )
    return None


def _value(series: pd.Series) -> str:
    present = series.dropna()
    return shown(str(present.iloc[0])) if len(present) else "empty"


def _leakage(
    frame: pd.DataFrame, target: str, features: list[str], classification: bool
) -> list[Finding]:
    """Features that alone predict the target almost perfectly on held-out rows."""
    import numpy as np

    if len(features) > _LEAK_MAX_FEATURES:
        return []
    labelled = frame[frame[target].notna()]
    if len(labelled) < MIN_ROWS:
        return []
    if len(labelled) > _LEAK_SAMPLE:
        labelled = labelled.sample(_LEAK_SAMPLE, random_state=0)
    y = labelled[target]
    rng = np.random.default_rng(0)
    half = rng.random(len(labelled)) < 0.5
    if half.all() or not half.any():
        return []
    base = _baseline(y, half, classification)
    found = []
    for name in features:
        score = _single_feature_score(labelled[name], y, half, classification)
        if score is None:
            continue
        closed = (score - base) / (1 - base) if base < 1 else 0.0
        if score >= _LEAK_SCORE and closed >= _LEAK_GAP_CLOSED:
            metric = "accuracy" if classification else "R²"
            found.append(
                Finding(
                    name,
                    FindingKind.LEAKAGE,
                    f"predicts the target almost alone ({metric} {score:.3f} on held-out rows): "
                    "is it known before the prediction is made? if not, leave it out",
                )
            )
    return found


def _baseline(y: pd.Series, train: Any, classification: bool) -> float:
    if classification:
        majority = y[train].mode().iloc[0]
        return float((y[~train] == majority).mean())
    return 0.0  # R² of predicting the mean


def _single_feature_score(
    x: pd.Series, y: pd.Series, train: Any, classification: bool
) -> float | None:
    """Held-out accuracy (classification) or R² (regression) of a model of ``x`` alone."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        values = x.to_numpy(dtype="float64").reshape(-1, 1)
        model = (
            DecisionTreeClassifier(max_depth=4, random_state=0)
            if classification
            else DecisionTreeRegressor(max_depth=6, random_state=0)
        )
        target = y.astype(str) if classification else y.astype("float64")
        model.fit(values[train], target[train])
        if classification:
            return float(model.score(values[~train], target[~train]))
        return _r2(target[~train].to_numpy(), model.predict(values[~train]))
    # a lookup of the target per value, learnt on one half, judged on the other
    keys = x.astype(str).where(x.notna(), "\x00missing")
    if keys[train].nunique() > 0.5 * int(train.sum()):
        return None  # near-unique: an identifier's business, not a leak test
    if classification:
        lookup = y[train].groupby(keys[train]).agg(lambda s: s.mode().iloc[0])
        guessed = keys[~train].map(lookup)
        return float((guessed == y[~train]).mean())
    means = y[train].astype("float64").groupby(keys[train]).mean()
    guessed = keys[~train].map(means).fillna(float(y[train].mean()))
    return _r2(y[~train].to_numpy(dtype="float64"), guessed.to_numpy(dtype="float64"))


def _r2(truth: Any, guess: Any) -> float:
    import numpy as np

    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0:
        return 0.0
    return 1.0 - float(np.sum((truth - guess) ** 2)) / total
