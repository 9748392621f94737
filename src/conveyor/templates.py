"""Starter projects for `conveyor init --example NAME`."""

from __future__ import annotations

from pathlib import Path

from conveyor.errors import UserError

_CLASSIFIER = """\
# Conveyor project: {name}
name: {name}
task: classification
data:
  source: sklearn:{dataset}
  target: target
  test_fraction: 0.25
  seed: 42
{slices}model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: 1.0
    max_iter: 1000
# tuning:                      # uncomment to search with Optuna (each trial a nested MLflow run)
#   trials: 20
#   metric: f1_macro
#   search_space:
#     C: {{type: float, low: 0.01, high: 100, log: true}}
gates:
  min:
    accuracy: {min_accuracy}
    f1_macro: {min_f1}
{slice_gates}  champion:
    tolerance: 0.02
registry:
  require_approval: false
"""

_REGRESSOR = """\
# Conveyor project: {name}
name: {name}
task: regression
data:
  source: sklearn:diabetes
  target: target
  test_fraction: 0.25
  seed: 42
model:
  estimator: sklearn.linear_model.Ridge
  params:
    alpha: 1.0
gates:
  min:
    r2: 0.3
  max:
    rmse: 70
  champion:
    tolerance: 2.0
registry:
  require_approval: false
"""

EXAMPLES = {
    "wine": dict(
        dataset="wine",
        min_accuracy=0.85,
        min_f1=0.85,
        slices="  slices:\n    high_alcohol: {alcohol: {gt: 13.0}}\n",
        slice_gates="  slices:\n    high_alcohol: {accuracy: 0.8}\n",
    ),
    "breast_cancer": dict(
        dataset="breast_cancer", min_accuracy=0.9, min_f1=0.9, slices="", slice_gates=""
    ),
    "iris": dict(dataset="iris", min_accuracy=0.85, min_f1=0.85, slices="", slice_gates=""),
    "diabetes": {},
}


def render_example(example: str, name: str) -> str:
    if example not in EXAMPLES:
        choices = ", ".join(sorted([*EXAMPLES, "feast"]))
        raise UserError(f"unknown example {example!r}; choose one of {choices}")
    if example == "diabetes":
        return _REGRESSOR.format(name=name)
    return _CLASSIFIER.format(name=name, **EXAMPLES[example])


def init_project(directory: Path, example: str, name: str | None, force: bool = False) -> Path:
    """Create ``directory/conveyor.yaml`` from an example; never overwrite without ``force``."""
    if example == "feast":
        return write_feast_example(directory, name or "drivers", force)
    text = render_example(example, name or example)
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "conveyor.yaml"
    if spec.exists() and not force:
        raise UserError(f"{spec} already exists; pass --force to overwrite it")
    spec.write_text(text, encoding="utf-8")
    return spec


# --- the Feast example: a feature repository beside the project ------------------------------
_FEAST_PROJECT = """\
# Conveyor project: {name}. Features come from the Feast repository in feature_repo/:
# register its definitions once with `feast -c feature_repo apply`, then `conveyor run`.
name: {name}
task: classification
data:
  source: data/labels.parquet          # driver_id, event_timestamp, completed (the label)
  target: completed
  feast:
    repo: feature_repo
    features:
      - driver_hourly_stats:conv_rate
      - driver_hourly_stats:acc_rate
      - driver_hourly_stats:avg_daily_trips
    timestamp: event_timestamp
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: 50
    max_depth: 6
gates:
  min:
    accuracy: 0.75
registry:
  require_approval: false
"""

_FEATURE_STORE = """\
project: {project}
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

_DEFINITIONS = '''\
"""The drivers example's features: hourly statistics per driver, from a Parquet file."""

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float32, Int64

driver = Entity(name="driver", join_keys=["driver_id"])

driver_stats = FileSource(
    path=str(Path(__file__).parent / "data" / "driver_stats.parquet"),
    timestamp_field="event_timestamp",
)

driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=2),
    schema=[
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    source=driver_stats,
    online=True,
)
'''


def write_feast_example(directory: Path, name: str, force: bool = False) -> Path:
    """The drivers example: ``conveyor.yaml``, a Feast repository (``feature_repo/``: its
    feature_store.yaml, the definitions, hourly statistics of 50 drivers over 5 days) and the
    labelled rows (``data/labels.parquet``: whether a driver completed a trip, which depends
    on the statistics at that hour). Seeded: the same files every time."""
    import numpy as np
    import pandas as pd

    spec = directory / "conveyor.yaml"
    if spec.exists() and not force:
        raise UserError(f"{spec} already exists; pass --force to overwrite it")
    repo = directory / "feature_repo"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    drivers = np.arange(1001, 1051)
    hours = pd.date_range("2026-01-01", periods=5 * 24, freq="h", tz="UTC")
    stats = pd.DataFrame(
        [(d, h) for d in drivers for h in hours], columns=["driver_id", "event_timestamp"]
    )
    skill = rng.uniform(0.2, 0.9, len(drivers))[stats["driver_id"] - drivers[0]]
    stats["conv_rate"] = np.clip(skill + rng.normal(0, 0.1, len(stats)), 0, 1).astype("float32")
    stats["acc_rate"] = np.clip(rng.uniform(0.3, 1.0, len(stats)), 0, 1).astype("float32")
    stats["avg_daily_trips"] = rng.integers(5, 40, len(stats)).astype("int64")
    stats.to_parquet(repo / "data" / "driver_stats.parquet", index=False)
    picks = stats.sample(2000, random_state=7).reset_index(drop=True)
    # the label happens a few minutes after the statistics it depends on were written
    labels = picks[["driver_id"]].assign(
        event_timestamp=picks["event_timestamp"] + pd.to_timedelta(rng.integers(1, 59, 2000), "m")
    )
    score = picks["conv_rate"] * 0.7 + picks["acc_rate"] * 0.3 + rng.normal(0, 0.05, 2000)
    labels["completed"] = (score > 0.55).astype("int64")
    labels.to_parquet(directory / "data" / "labels.parquet", index=False)
    project = "".join(c if c.isalnum() else "_" for c in name)
    (repo / "feature_store.yaml").write_text(_FEATURE_STORE.format(project=project))
    (repo / "definitions.py").write_text(_DEFINITIONS)
    spec.write_text(_FEAST_PROJECT.format(name=name), encoding="utf-8")
    return spec
