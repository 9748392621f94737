"""The data step: load, check, infer the schema, split, fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.data.loading import load_dataset, resolve_source
from conveyor.data.profile import fingerprint
from conveyor.data.schema import Schema, infer_schema
from conveyor.data.validation import check_training_frame
from conveyor.display import listed
from conveyor.errors import DataError, Problem
from conveyor.spec.models import ProjectSpec, Task
from conveyor.training.features import prepare_features

if TYPE_CHECKING:
    import pandas as pd


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


def prepare_data(spec: ProjectSpec, base_dir: Path) -> PreparedData:
    """Load and check the dataset, then split it; every data problem is reported at once."""
    from sklearn.model_selection import train_test_split

    classification = spec.task is Task.CLASSIFICATION
    source = resolve_source(spec.data.source, base_dir)
    frame = load_dataset(spec.data.source, base_dir)
    problems = check_training_frame(frame, spec.data.target, spec.data.features, classification)
    if problems:
        raise DataError(source, problems)
    features = spec.data.features or [c for c in frame.columns if c != spec.data.target]
    unknown = [c for c in spec.data.categorical if c not in features]
    if unknown:
        raise DataError(source, [Problem("data.categorical", f"not a feature: {listed(unknown)}")])
    frame = frame[[*features, spec.data.target]]
    schema = infer_schema(frame, features, spec.data.target, classification, spec.data.categorical)
    x = prepare_features(frame, schema)
    y = frame[spec.data.target]
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
    )
