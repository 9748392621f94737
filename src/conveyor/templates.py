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
        raise UserError(f"unknown example {example!r}; choose one of {', '.join(sorted(EXAMPLES))}")
    if example == "diabetes":
        return _REGRESSOR.format(name=name)
    return _CLASSIFIER.format(name=name, **EXAMPLES[example])


def init_project(directory: Path, example: str, name: str | None, force: bool = False) -> Path:
    """Create ``directory/conveyor.yaml`` from an example; never overwrite without ``force``."""
    text = render_example(example, name or example)
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "conveyor.yaml"
    if spec.exists() and not force:
        raise UserError(f"{spec} already exists; pass --force to overwrite it")
    spec.write_text(text, encoding="utf-8")
    return spec
