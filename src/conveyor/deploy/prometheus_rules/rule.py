"""One alerting rule as a rules file holds it, and shares as annotations write them; shared by
every group of rules (numbers in PromQL: ``alert_thresholds.num``)."""

from __future__ import annotations

from typing import Any


def rule(
    alert: str,
    expr: str,
    duration: str,
    severity: str,
    summary: str,
    description: str,
    runbook: str,
) -> dict[str, Any]:
    """An alerting rule; ``runbook`` is the annotation saying what to do (the ``runbook_url``
    is added when the groups are assembled)."""
    return {
        "alert": alert,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description, "runbook": runbook},
    }


def pct(share: float) -> str:
    """A share as a percentage for people (``0.01`` -> ``1%``)."""
    return f"{share * 100:g}%"
