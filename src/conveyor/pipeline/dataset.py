"""The data step: load, check, infer the schema, split, fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.data.dates import date_columns, expand_dates
from conveyor.data.loading import load_dataset, resolve_source
from conveyor.data.profile import fingerprint
from conveyor.data.schema import Schema, infer_schema
from conveyor.data.survey import Finding, FindingKind, survey
from conveyor.data.validation import check_training_frame
from conveyor.data.versioned import is_versioned, load_versioned
from conveyor.display import listed
from conveyor.errors import DataError, Problem
from conveyor.spec.models import ProjectSpec, Task
from conveyor.training.features import prepare_features

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.data.feast import OnlineFeatures


@dataclass
class PreparedData:
    source: str
    frame: pd.DataFrame
    schema: Schema
    fingerprint: str
    x_train: pd.DataFrame
    y_train: pd.Series
    x_test: pd.DataFrame
    y_test: pd.Series
    raw_test: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    lineage: dict[str, str] = field(default_factory=dict)  # tags naming the data's version
    online: OnlineFeatures | None = None  # data.feast: the features by entity key, for serving


def prepare_data(spec: ProjectSpec, base_dir: Path) -> PreparedData:
    """Load and check the dataset, then split it; every data problem is reported at once.

    Columns that would hurt the model (identifiers, constants, dates, leakage suspects) come
    back as ``findings``: dates are handled by ``data.dates``, the rest are warnings."""
    from sklearn.model_selection import train_test_split

    classification = spec.task is Task.CLASSIFICATION
    source = resolve_source(spec.data.source, base_dir)
    lineage: dict[str, str] = {}
    if is_versioned(spec.data.source):
        frame, lineage = load_versioned(spec.data.source, base_dir)
    else:
        frame = load_dataset(spec.data.source, base_dir)
    joined: list[str] | None = None  # the features a feature store joined to the rows
    online: OnlineFeatures | None = None  # where serving looks them up by entity key
    unmatched = 0
    if spec.data.feast is not None:
        from conveyor.data.feast import join_features

        found = join_features(spec.data.feast, frame, base_dir, source)
        frame, joined, online = found.frame, found.names, found.online
        lineage |= found.lineage
        unmatched = int(frame[joined].isna().all(axis=1).sum())
    target = spec.data.target
    dropped = 0
    if spec.data.drop_missing_target and target in frame.columns:
        labelled = frame[target].notna()
        dropped = int((~labelled).sum())
        frame = frame[labelled]
    chosen = spec.data.features or joined
    problems = check_training_frame(frame, target, chosen, classification)
    if problems:
        raise DataError(source, problems)
    if classification:
        frame = _whole_labels(frame, target)
    features = chosen or [c for c in frame.columns if c != target]
    unknown = [c for c in spec.data.categorical if c not in features]
    if unknown:
        raise DataError(source, [Problem("data.categorical", f"not a feature: {listed(unknown)}")])
    frame = frame[[*features, target]]
    frame, features, findings = _handle_dates(spec, source, frame, features)
    findings = survey(frame, target, features, classification) + findings
    if joined is not None and unmatched:
        findings.append(
            Finding(
                ", ".join(joined),
                FindingKind.MISSING_FEATURES,
                f"{unmatched:,} rows had no feature values in the store at their event time "
                "(entity unknown then, or values older than the view's TTL): their features "
                "are missing",
            )
        )
    if dropped:
        findings.append(
            Finding(
                target,
                FindingKind.MISSING_TARGET,
                f"dropped {dropped:,} rows whose target is missing (data.drop_missing_target)",
                level="note",
            )
        )
    schema = infer_schema(frame, features, target, classification, spec.data.categorical)
    x = prepare_features(frame, schema)
    y = frame[target]
    stratify = y if classification and y.value_counts().min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=spec.data.test_fraction, random_state=spec.data.seed, stratify=stratify
    )
    return PreparedData(
        source=source,
        frame=frame,
        schema=schema,
        fingerprint=fingerprint(frame),
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        raw_test=frame.loc[x_test.index],
        findings=findings,
        lineage=lineage,
        online=online,
    )


def _handle_dates(
    spec: ProjectSpec, source: str, frame: pd.DataFrame, features: list[str]
) -> tuple[pd.DataFrame, list[str], list[Finding]]:
    """Apply ``data.dates`` to the date columns among ``features``."""
    dated = [c for c in date_columns(frame, features) if c not in spec.data.categorical]
    if not dated:
        return frame, features, []
    if spec.data.dates == "parts":
        frame, parts = expand_dates(frame, dated)
        clash = [p for c in dated for p in parts[c] if features.count(p) or p == spec.data.target]
        if clash:
            raise DataError(
                source, [Problem("data.dates", f"part names already used: {listed(clash)}")]
            )
        features = [p for c in features for p in parts.get(c, [c])]
        return (
            frame,
            features,
            [
                Finding(
                    c, FindingKind.DATE, f"used as numeric parts: {', '.join(parts[c])}", "note"
                )
                for c in dated
            ],
        )
    if spec.data.features is not None:
        raise DataError(
            source,
            [
                Problem(
                    "data.features",
                    f"{listed(dated)} hold dates; set data.dates: parts to use their year, "
                    "month, day and weekday as numbers, or leave them out",
                )
            ],
        )
    kept = [c for c in features if c not in dated]
    if not kept:
        raise DataError(
            source,
            [
                Problem(
                    "data.dates",
                    f"every feature holds dates ({listed(dated)}); set data.dates: parts",
                )
            ],
        )
    return (
        frame.drop(columns=dated),
        kept,
        [
            Finding(
                c,
                FindingKind.DATE,
                "holds dates: left out (data.dates: exclude; parts uses "
                "year, month, day and weekday as numbers)",
            )
            for c in dated
        ],
    )


def _whole_labels(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Class labels read as floats (a CSV column with gaps is float64) back to integers, so
    the classes are 0 and 1, not 0.0 and 1.0, everywhere they are compared or shown."""
    import pandas as pd

    y = frame[target]
    if pd.api.types.is_float_dtype(y) and bool((y % 1 == 0).all()):
        frame = frame.assign(**{target: y.astype("int64")})
    return frame
