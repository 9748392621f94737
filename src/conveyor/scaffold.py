"""`conveyor init --data FILE --target COL`: a project file written for the user's own table.

The task is inferred from the target (and said why), columns that would hurt the model are left
out with the reason beside them, and the gates come from a quick baseline trained the way
`conveyor run` will train, so the first run passes them and a worse later one does not.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.data.survey import Finding, FindingKind
from conveyor.display import listed, shown
from conveyor.errors import DataError, Problem, UserError
from conveyor.spec.models import Task

if TYPE_CHECKING:
    import pandas as pd

ESTIMATORS: dict[Task, tuple[str, dict[str, Any]]] = {
    Task.CLASSIFICATION: ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
    Task.REGRESSION: ("sklearn.linear_model.Ridge", {"alpha": 1.0}),
}
_MAX_CLASSES = 20
_MARGIN = 0.05  # gates sit this far below the baseline (bounded metrics), or 10 % above rmse
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_EXCLUDED = (FindingKind.IDENTIFIER, FindingKind.CONSTANT, FindingKind.LEAKAGE, FindingKind.DATE)


@dataclass
class Scaffold:
    """What `init --data` decided, and why."""

    spec_path: Path
    name: str
    task: Task
    task_reason: str
    features: list[str]
    left_out: list[Finding]
    findings: list[Finding]
    baseline: dict[str, float] = field(default_factory=dict)
    guess: dict[str, float] = field(default_factory=dict)
    gates: dict[str, dict[str, float]] = field(default_factory=dict)
    dropped_rows: int = 0

    @property
    def warnings(self) -> list[Finding]:
        """Findings that did not lead to leaving a column out (nor to dropping rows)."""
        return [
            f
            for f in self.findings
            if f not in self.left_out and f.kind is not FindingKind.MISSING_TARGET
        ]

    @property
    def gated_metrics(self) -> list[str]:
        return [k for section in ("min", "max") for k in self.gates.get(section, {})]

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": str(self.spec_path),
            "name": self.name,
            "task": self.task.value,
            "task_reason": self.task_reason,
            "features": self.features,
            "left_out": [f.to_dict() for f in self.left_out],
            "warnings": [f.to_dict() for f in self.warnings],
            "dropped_rows": self.dropped_rows,
            "baseline": self.baseline,
            "guess": self.guess,
            "gates": self.gates,
        }


def infer_task(y: pd.Series) -> tuple[Task, str]:
    """Classification for text, booleans and a few integer values; regression otherwise."""
    import pandas as pd

    present = y.dropna()
    distinct = int(present.nunique())
    if pd.api.types.is_bool_dtype(present) or not pd.api.types.is_numeric_dtype(present):
        return Task.CLASSIFICATION, f"the target holds labels ({distinct} distinct values)"
    integral = bool((present.astype("float64") % 1 == 0).all())
    if integral and distinct <= min(_MAX_CLASSES, max(2, len(present) // 20)):
        return Task.CLASSIFICATION, f"the target holds {distinct} distinct whole numbers"
    kind = "whole numbers" if integral else "numbers"
    return Task.REGRESSION, f"the target holds {distinct:,} distinct {kind}"


def init_from_table(
    directory: Path,
    data: Path,
    target: str,
    task: Task | None = None,
    name: str | None = None,
    force: bool = False,
) -> Scaffold:
    """Write ``directory/conveyor.yaml`` for ``data``; never overwrite without ``force``."""
    from conveyor.data.loading import load_dataset
    from conveyor.data.survey import survey

    spec_path = directory / "conveyor.yaml"
    if spec_path.exists() and not force:
        raise UserError(f"{spec_path} already exists; pass --force to overwrite it")
    data = data.resolve()
    frame = load_dataset(str(data), data.parent)
    if target not in frame.columns:
        raise DataError(str(data), [Problem("--target", _no_column(target, frame))])
    if task is None:
        task, reason = infer_task(frame[target])
    else:
        reason = "given by --task"
    features = [c for c in frame.columns if c != target]
    findings = survey(frame, target, features, task is Task.CLASSIFICATION)
    left_out = [f for f in findings if f.kind in _EXCLUDED and f.column != target]
    dropped = {f.column for f in left_out}
    kept = [c for c in features if c not in dropped]
    if not kept:
        raise DataError(
            str(data),
            [Problem("", f"no usable feature: every column was left out ({listed(dropped)})")],
        )
    missing_target = bool(frame[target].isna().any())
    model_name = name or _model_name(directory)
    source = os.path.relpath(data, directory.resolve())
    scaffold = Scaffold(spec_path, model_name, task, reason, kept, left_out, findings)
    scaffold.dropped_rows = int(frame[target].isna().sum())
    draft = _render(scaffold, source, target, missing_target, frame)
    directory.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(draft, encoding="utf-8")
    try:
        _baseline(scaffold, directory)
    except Exception:
        spec_path.unlink()  # never leave a half-made project behind
        raise
    spec_path.write_text(_render(scaffold, source, target, missing_target, frame), "utf-8")
    return scaffold


def _baseline(scaffold: Scaffold, directory: Path) -> None:
    """Train the spec's estimator once on the split `run` uses; gates sit a margin below."""
    from conveyor.pipeline.dataset import prepare_data
    from conveyor.spec import load_spec
    from conveyor.training.evaluation import compute_metrics, predict
    from conveyor.training.pipeline import fit_model, resolve_model

    spec = load_spec(scaffold.spec_path)
    estimator = resolve_model(spec, directory)
    data = prepare_data(spec, directory)
    classification = scaffold.task is Task.CLASSIFICATION
    model = fit_model(
        spec.model,
        estimator,
        data.schema,
        data.x_train,
        data.y_train,
        dict(spec.model.params),
        spec.data.seed,
        spec.source_file,
    )
    scaffold.baseline = compute_metrics(
        data.y_test, predict(model, data.x_test, classification), classification
    )
    scaffold.guess = _guess(data.y_train, data.y_test, classification)
    scaffold.gates = _gates(scaffold.baseline, classification)


def _guess(y_train: Any, y_test: Any, classification: bool) -> dict[str, float]:
    """What guessing scores: the majority class, or the mean."""
    import numpy as np

    if classification:
        majority = y_train.mode().iloc[0]
        return {"accuracy": float((y_test == majority).mean())}
    err = np.asarray(y_test, dtype=float) - float(np.mean(y_train))
    return {"rmse": float(math.sqrt(np.mean(err**2))), "r2": 0.0}


def _gates(baseline: dict[str, float], classification: bool) -> dict[str, dict[str, float]]:
    floor = {
        k: math.floor((baseline[k] - _MARGIN) * 100) / 100
        for k in (("accuracy", "f1_macro") if classification else ("r2",))
        if k in baseline
    }
    gates: dict[str, dict[str, float]] = {"min": {k: max(v, 0.0) for k, v in floor.items()}}
    if not classification:
        gates["max"] = {"rmse": _round_up(baseline["rmse"] * (1 + 2 * _MARGIN))}
    gates["champion"] = {
        "tolerance": 0.02 if classification else _round_up(baseline["rmse"] * _MARGIN)
    }
    return gates


def _render(
    scaffold: Scaffold, source: str, target: str, missing_target: bool, frame: pd.DataFrame
) -> str:
    task = scaffold.task
    estimator, params = ESTIMATORS[task]
    lines = [
        f"# Conveyor project {scaffold.name}, written by `conveyor init --data` for "
        f"{_scalar(source)}",
        "# every key: `conveyor spec` or docs/spec.md",
        f"name: {_scalar(scaffold.name)}",
        f"task: {task.value}{' ' * 10}# {scaffold.task_reason}",
        "data:",
        f"  source: {_scalar(source)}",
        f"  target: {_scalar(target)}",
    ]
    if missing_target:
        count = int(frame[target].isna().sum())
        lines.append(
            f"  drop_missing_target: true   # {count:,} of {len(frame):,} rows have no target"
        )
    lines += ["  test_fraction: 0.25", "  seed: 42", "  features:"]
    lines += [f"    - {_scalar(c)}" for c in scaffold.features]
    if scaffold.left_out:
        lines.append("  # left out:")
        lines += [f"  #   {_scalar(f.column)}: {f.message}" for f in scaffold.left_out]
    lines += ["model:", f"  estimator: {estimator}", "  params:"]
    lines += [f"    {k}: {v}" for k, v in params.items()]
    lines += [
        "# tuning:                      # uncomment to search with Optuna",
        "#   trials: 20",
        "#   search_space:",
        (
            "#     C: {type: float, low: 0.01, high: 100, log: true}"
            if task is Task.CLASSIFICATION
            else "#     alpha: {type: float, low: 0.001, high: 100, log: true}"
        ),
    ]
    gates = scaffold.gates
    lines.append(("gates:" + _baseline_note(scaffold)) if gates else "gates: {}")
    for section in ("min", "max"):
        if gates.get(section):
            lines.append(f"  {section}:")
            lines += [f"    {k}: {v:g}" for k, v in gates[section].items()]
    if "champion" in gates:
        lines += ["  champion:", f"    tolerance: {gates['champion']['tolerance']:g}"]
    lines += ["registry:", "  require_approval: false", ""]
    return "\n".join(lines)


def _baseline_note(scaffold: Scaffold) -> str:
    if not scaffold.baseline:
        return ""
    shown_metrics = (
        ("accuracy", "f1_macro") if scaffold.task is Task.CLASSIFICATION else ("r2", "rmse")
    )
    scores = ", ".join(
        f"{k} {scaffold.baseline[k]:.3g}" for k in shown_metrics if k in scaffold.baseline
    )
    guess = ", ".join(f"{k} {v:.3g}" for k, v in scaffold.guess.items())
    return f"   # first fit on the holdout: {scores}; guessing scores {guess}"


def _round_up(value: float) -> float:
    """Up to two significant digits, never below ``value``."""
    if value <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step) * step, 10)


def _scalar(value: str) -> str:
    import json

    return value if _PLAIN.match(value) and value.lower() not in _YAML_WORDS else json.dumps(value)


_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def _model_name(directory: Path) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.resolve().name).strip("-._")
    return cleaned[:100] or "model"


def _no_column(target: str, frame: pd.DataFrame) -> str:
    import difflib

    columns = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(target, columns, n=1)
    hint = f"; did you mean {shown(close[0])}?" if close else ""
    return f"column {shown(target)} not found{hint} Columns: {listed(columns)}"
