"""Date and timestamp columns: found in text or datetime columns, turned into numeric parts.

A date read from a CSV is text; left alone it would become a categorical feature with one
category per day, which memorises the training period and never matches a future date. The
spec's ``data.dates`` says what to do instead: leave such columns out (``exclude``) or use
their calendar parts as numbers (``parts``: year, month, day, weekday, and hour when the
column carries times).
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_SAMPLE = 500
_PARSED_SHARE = 0.95
# a date written as text has a four-digit year and a separator (or is compact ISO 8601); this
# keeps plain numbers, words, versions ("1.2.3") and times of day ("10:30") out
_LOOKS_DATED = re.compile(
    r"(?<!\d)(1[89]|2[01])\d\d(?!\d).*[-/.\s]|[-/.\s].*(?<!\d)(1[89]|2[01])\d\d(?!\d)|^\d{8}T"
)
PARTS = ("year", "month", "day", "weekday")


def is_date_column(series: pd.Series) -> bool:
    """True for a datetime column, or text whose values (a sample) nearly all parse as dates."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return False
    present = series.dropna()
    if present.empty:
        return False
    sample = present.iloc[:_SAMPLE]
    if not all(isinstance(v, str) for v in sample):
        return False
    if sum(bool(_LOOKS_DATED.search(v)) for v in sample) < _PARSED_SHARE * len(sample):
        return False
    return bool(_parse(sample).notna().mean() >= _PARSED_SHARE)


def date_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if c in frame.columns and is_date_column(frame[c])]


def part_names(column: str, with_hour: bool) -> list[str]:
    return [f"{column}_{p}" for p in (*PARTS, *(("hour",) if with_hour else ()))]


def expand_dates(
    frame: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Replace each date column by its numeric parts, in place of the column (order kept).

    Returns the new frame and, per date column, the names of its parts. A value that does not
    parse becomes missing in every part."""
    import pandas as pd

    if not columns:
        return frame, {}
    pieces: dict[str, pd.Series] = {}
    expanded: dict[str, list[str]] = {}
    for name in frame.columns:
        if name not in columns:
            pieces[name] = frame[name]
            continue
        stamps = _parse(frame[name])
        with_hour = bool(
            (stamps.dt.hour.fillna(0) != 0).any() or (stamps.dt.minute.fillna(0) != 0).any()
        )
        names = part_names(name, with_hour)
        values = [stamps.dt.year, stamps.dt.month, stamps.dt.day, stamps.dt.day_of_week]
        if with_hour:
            values.append(stamps.dt.hour)
        for part, series in zip(names, values, strict=True):
            pieces[part] = series.astype("float64")
        expanded[name] = names
    return pd.DataFrame(pieces, index=frame.index), expanded


def _parse(series: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it infers the format per element
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
        if parsed.notna().mean() < _PARSED_SHARE:
            parsed = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
    return parsed
