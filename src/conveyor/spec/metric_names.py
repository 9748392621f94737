"""Names of the evaluation metrics per task, shared by the spec, gates and evaluation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.spec.base import Task

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "log_loss",
)
REGRESSION_METRICS = ("rmse", "mae", "r2")
BOUNDED_METRICS = frozenset(
    {"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "r2"}
)
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def metric_names(task: Task) -> frozenset[str]:
    return frozenset(
        CLASSIFICATION_METRICS if task.value == "classification" else REGRESSION_METRICS
    )
