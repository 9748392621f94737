"""Prometheus alerting rules for the model server, built from one set of thresholds.

One module per group of rules (``quality``, ``serving``, ``inference_log``), each a function
of ``AlertThresholds``; ``document`` assembles the groups into a rules file or a
``PrometheusRule`` and writes them. This package re-exports that public surface.
"""

from __future__ import annotations

from conveyor.deploy.alert_thresholds import INFERENCE_ROUTES, AlertThresholds
from conveyor.deploy.prometheus_rules.document import (
    CRD_FILE,
    GENERATED_HEADER,
    RULES_FILE,
    main,
    prometheus_rule_crd,
    prometheus_rules,
    write_files,
    yaml_text,
)

__all__ = [
    "CRD_FILE",
    "GENERATED_HEADER",
    "INFERENCE_ROUTES",
    "RULES_FILE",
    "AlertThresholds",
    "main",
    "prometheus_rule_crd",
    "prometheus_rules",
    "write_files",
    "yaml_text",
]
