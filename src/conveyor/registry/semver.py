"""Semantic version labels for registered versions.

MAJOR when the input schema changes incompatibly, MINOR when the estimator, the data or the
parameters change, PATCH otherwise. The first version is 1.0.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.data.schema import Schema


@dataclass(frozen=True)
class Lineage:
    """What a version was made from, as far as its semantic version is concerned."""

    schema: Schema
    data_fingerprint: str
    params_hash: str
    estimator: str = ""  # the estimator's import path or the train_function's; "" if unknown


def parse(label: str) -> tuple[int, int, int]:
    parts = label.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a semantic version: {label!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def next_version(
    previous_label: str | None, previous: Lineage | None, current: Lineage
) -> tuple[str, str]:
    """The label for ``current`` and the reason for the bump."""
    if previous_label is None or previous is None:
        return "1.0.0", "first version"
    major, minor, patch = parse(previous_label)
    breaking = previous.schema.incompatibilities(current.schema)
    if breaking:
        return f"{major + 1}.0.0", "input schema changed: " + "; ".join(breaking)
    changes = []
    if previous.data_fingerprint != current.data_fingerprint:
        changes.append("data")
    if previous.estimator and current.estimator and previous.estimator != current.estimator:
        # a new kind of model, not new settings of the same one (its params differ too)
        changes.append(f"estimator ({_short(previous.estimator)} → {_short(current.estimator)})")
    elif previous.params_hash != current.params_hash:
        changes.append("parameters")
    if changes:
        return f"{major}.{minor + 1}.0", " and ".join(changes) + " changed"
    return f"{major}.{minor}.{patch + 1}", "retrained on the same data and parameters"


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]
