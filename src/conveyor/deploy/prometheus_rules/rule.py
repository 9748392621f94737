"""One alerting rule as a rules file holds it, and how numbers are written into PromQL and
annotations; shared by every group of rules."""

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


def num(value: float) -> str:
    """A number as PromQL reads it, without a trailing ``.0`` (``0.3``, ``100``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def pct(share: float) -> str:
    """A share as a percentage for people (``0.01`` -> ``1%``)."""
    return f"{share * 100:g}%"
