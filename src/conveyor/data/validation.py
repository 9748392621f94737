"""Check a dataset and report every violation at once, each naming its column (and rows).

Values and names quoted in a message go through ``conveyor.display`` (clipped, counted), so a
huge field or header is never echoed whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conveyor.data.schema import Kind, Schema
from conveyor.display import clip, listed, shown
from conveyor.errors import Problem

if TYPE_CHECKING:
    import pandas as pd

_MOSTLY_NUMERIC = 0.9
_SHOWN_ROWS = 5


def check_training_frame(
    frame: pd.DataFrame,
    target: str,
    features: list[str] | None,
    classification: bool,
) -> list[Problem]:
    """Problems that make a dataset unusable for training, all of them, never just the first."""
    problems: list[Problem] = []
    if frame.empty or len(frame.columns) == 0:
        return [Problem("", "the dataset has no rows")]
    if target not in frame.columns:
        problems.append(
            Problem("data.target", f"column {shown(target)} not found; columns: {_names(frame)}")
        )
    wanted = features if features is not None else [c for c in frame.columns if c != target]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        problems.append(Problem("data.features", f"columns not found: {listed(missing)}"))
    if not [c for c in wanted if c in frame.columns]:
        problems.append(Problem("data.features", "no feature columns"))
    for name in [c for c in wanted if c in frame.columns]:
        problems += _column_problems(frame[name], name)
    if target in frame.columns:
        y = frame[target]
        n_null = int(y.isna().sum())
        if n_null:
            problems.append(
                Problem(_column(target), f"target has {n_null} missing values{_rows(y.isna())}")
            )
        if classification and y.nunique(dropna=True) < 2:
            problems.append(
                Problem(
                    _column(target),
                    "target has a single class; a classifier needs at least two",
                )
            )
        if not classification:
            import pandas as pd

            if not pd.api.types.is_numeric_dtype(y):
                problems.append(Problem(_column(target), "a regression target must be numeric"))
    if len(frame) < 4:
        problems.append(
            Problem("", f"only {len(frame)} rows; at least 4 are needed to split and train")
        )
    return problems


def validate_frame(frame: pd.DataFrame, schema: Schema, allow_extra: bool = True) -> list[Problem]:
    """Problems of ``frame`` against a saved schema: columns, types, nulls, ranges, categories."""
    import pandas as pd

    if frame.empty:
        return [Problem("", "the dataset has no rows")]
    problems: list[Problem] = []
    missing = [c.name for c in schema.features if c.name not in frame.columns]
    if missing:
        problems.append(Problem("columns", f"missing: {listed(missing)}"))
    extra = [c for c in frame.columns if c not in schema.names and c != schema.target]
    if extra and not allow_extra:
        problems.append(Problem("columns", f"unexpected: {listed(extra)}"))
    for col in schema.features:
        if col.name not in frame.columns:
            continue
        series = frame[col.name]
        where = _column(col.name)
        nulls = series.isna()
        if nulls.any() and not col.nullable:
            problems.append(
                Problem(where, f"{int(nulls.sum())} unexpected missing values{_rows(nulls)}")
            )
        present = series[~nulls]
        if col.kind is Kind.NUMERIC:
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                numeric = pd.to_numeric(present, errors="coerce")
                bad = numeric.isna()
                sample = listed(present[bad].head(3))
                problems.append(
                    Problem(
                        where,
                        f"expected numbers, found {int(bad.sum())} non-numeric values ({sample}){_rows(bad)}",
                    )
                )
                continue
            if col.min is not None and col.max is not None:
                out = (present < col.min) | (present > col.max)
                if out.any():
                    problems.append(
                        Problem(
                            where,
                            f"{int(out.sum())} values outside the training range [{col.min:g}, {col.max:g}]{_rows(out)}",
                        )
                    )
        elif col.kind is Kind.CATEGORICAL and col.categories:
            unseen = ~present.astype(str).isin(col.categories)
            if unseen.any():
                values = listed(present[unseen].astype(str).unique()[:3])
                problems.append(
                    Problem(
                        where,
                        f"{int(unseen.sum())} values of unseen categories ({values}){_rows(unseen)}",
                    )
                )
        elif col.kind is Kind.BOOLEAN and not pd.api.types.is_bool_dtype(series):
            ok = present.isin([True, False, 0, 1])
            if not ok.all():
                problems.append(Problem(where, f"expected booleans{_rows(~ok)}"))
    return problems


def _column_problems(series: pd.Series, name: str) -> list[Problem]:
    import pandas as pd

    where = _column(name)
    if series.isna().all():
        return [Problem(where, "every value is missing")]
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        present = series.dropna()
        numeric = pd.to_numeric(present, errors="coerce")
        share = float(numeric.notna().mean())
        if share >= _MOSTLY_NUMERIC and share < 1:
            bad = numeric.isna()
            sample = listed(present[bad].unique()[:3])
            return [
                Problem(where, f"numeric column holds non-numeric values ({sample}){_rows(bad)}")
            ]
    return []


def _rows(mask: pd.Series) -> str:
    rows = [str(i) for i in mask[mask].index[:_SHOWN_ROWS]]
    more = " …" if int(mask.sum()) > _SHOWN_ROWS else ""
    return f" at rows {', '.join(rows)}{more}" if rows else ""


def _column(name: object) -> str:
    return f"column {shown(name)}"


def _names(frame: pd.DataFrame, limit: int = 10) -> str:
    names = ", ".join(clip(str(c)) for c in frame.columns[:limit])
    more = len(frame.columns) - limit
    return f"{names}, … (+{more:,} more)" if more > 0 else names
