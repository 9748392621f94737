from __future__ import annotations

import json

import pytest

from conveyor.gates import (
    GateReport,
    GateResult,
    Outcome,
    champion_gate,
    failed,
    passed,
    skipped,
    threshold_gates,
)


def outcomes(results: list[GateResult]) -> dict[str, Outcome]:
    return {r.name: r.outcome for r in results}


# -- threshold gates ---------------------------------------------------------------------


def test_minimums_pass_at_and_above_the_bound_and_fail_below() -> None:
    results = threshold_gates(
        {"accuracy": 0.9, "f1_macro": 0.75, "roc_auc": 0.6},
        {"accuracy": 0.9, "f1_macro": 0.5, "roc_auc": 0.7},
        {},
    )
    assert outcomes(results) == {
        "accuracy ≥ 0.9": Outcome.PASSED,
        "f1_macro ≥ 0.5": Outcome.PASSED,
        "roc_auc ≥ 0.7": Outcome.FAILED,
    }


def test_maximums_pass_at_and_below_the_bound_and_fail_above() -> None:
    results = threshold_gates({"rmse": 3.0, "mae": 2.5, "log_loss": 0.2}, {}, {"rmse": 3, "mae": 2})
    assert outcomes(results) == {"rmse ≤ 3": Outcome.PASSED, "mae ≤ 2": Outcome.FAILED}


def test_a_threshold_result_records_value_and_bound() -> None:
    (result,) = threshold_gates({"r2": 0.123456}, {"r2": 0.5}, {})
    assert result == GateResult("r2 ≥ 0.5", Outcome.FAILED, "r2 = 0.1235", 0.123456, 0.5)


def test_a_missing_metric_fails_the_gate() -> None:
    results = threshold_gates({"accuracy": 0.9}, {"roc_auc": 0.7}, {"log_loss": 0.5})
    assert outcomes(results) == {"roc_auc ≥ 0.7": Outcome.FAILED, "log_loss ≤ 0.5": Outcome.FAILED}
    assert results[0].detail == "roc_auc could not be computed on this data"
    assert (results[0].observed, results[0].threshold) == (None, 0.7)


def test_a_zero_metric_is_not_missing() -> None:
    (result,) = threshold_gates({"mae": 0.0}, {}, {"mae": 0.1})
    assert result.outcome is Outcome.PASSED


def test_slice_prefix_names_the_gate() -> None:
    (result,) = threshold_gates({"accuracy": 0.4}, {"accuracy": 0.5}, {}, prefix="slice old: ")
    assert result.name == "slice old: accuracy ≥ 0.5"
    assert result.outcome is Outcome.FAILED


def test_no_bounds_no_gates() -> None:
    assert threshold_gates({"accuracy": 0.1}, {}, {}) == []


# -- champion gate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "champion", "tolerance", "outcome"),
    [
        (0.95, 0.90, 0.0, Outcome.PASSED),  # better
        (0.90, 0.90, 0.0, Outcome.PASSED),  # equal, no tolerance
        (0.89, 0.90, 0.0, Outcome.FAILED),
        (0.85, 0.90, 0.05, Outcome.PASSED),  # exactly at the tolerance
        (0.75, 1.00, 0.25, Outcome.PASSED),
        (0.8499, 0.90, 0.05, Outcome.FAILED),  # just beyond it
    ],
)
def test_champion_gate_higher_is_better(
    candidate: float, champion: float, tolerance: float, outcome: Outcome
) -> None:
    result = champion_gate("accuracy", candidate, champion, tolerance, "3")
    assert result.outcome is outcome
    assert result.name == "champion (accuracy)"
    assert result.observed == candidate
    assert result.threshold == pytest.approx(champion - tolerance)


@pytest.mark.parametrize(
    ("candidate", "champion", "tolerance", "outcome"),
    [
        (2.5, 3.0, 0.0, Outcome.PASSED),  # lower error is better
        (3.0, 3.0, 0.0, Outcome.PASSED),
        (3.2, 3.0, 0.0, Outcome.FAILED),
        (3.1, 3.0, 0.1, Outcome.PASSED),  # exactly at the tolerance
        (3.1001, 3.0, 0.1, Outcome.FAILED),
    ],
)
def test_champion_gate_lower_is_better(
    candidate: float, champion: float, tolerance: float, outcome: Outcome
) -> None:
    result = champion_gate("rmse", candidate, champion, tolerance, "2")
    assert result.outcome is outcome
    assert result.threshold == pytest.approx(champion + tolerance)


def test_log_loss_is_lower_is_better() -> None:
    assert champion_gate("log_loss", 0.2, 0.3, 0.0, "1").outcome is Outcome.PASSED
    assert champion_gate("log_loss", 0.4, 0.3, 0.0, "1").outcome is Outcome.FAILED


def test_champion_detail_names_version_values_and_delta() -> None:
    result = champion_gate("f1_macro", 0.8, 0.9, 0.05, "7")
    assert result.outcome is Outcome.FAILED
    assert result.detail == (
        "f1_macro: candidate 0.8000 vs production v7 0.9000 (Δ -0.1000, tolerance 0.05)"
    )


# -- report ------------------------------------------------------------------------------


def test_empty_report_passes() -> None:
    report = GateReport()
    assert report.passed is True
    assert report.failed == []
    assert report.summary() == ""


def test_skipped_gates_do_not_fail_the_report() -> None:
    report = GateReport([passed("a", "ok"), skipped("b", "no production version")])
    assert report.passed is True
    assert report.summary() == "1 passed, 1 skipped"


def test_one_failure_fails_the_report() -> None:
    report = GateReport()
    report.add(passed("a", "ok"))
    report.add(failed("b", "too low"))
    report.add(passed("c", "ok"))
    report.add(failed("d", "too high"))
    report.add(skipped("e", "n/a"))
    assert report.passed is False
    assert [r.name for r in report.failed] == ["b", "d"]
    assert report.summary() == "2 passed, 2 failed, 1 skipped"


def test_report_to_dict_is_json() -> None:
    report = GateReport(threshold_gates({"accuracy": 0.7}, {"accuracy": 0.8}, {}))
    report.add(skipped("champion (f1_macro)", "no production version"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data == {
        "passed": False,
        "summary": "1 failed, 1 skipped",
        "gates": [
            {
                "name": "accuracy ≥ 0.8",
                "outcome": "failed",
                "detail": "accuracy = 0.7000",
                "observed": 0.7,
                "threshold": 0.8,
            },
            {
                "name": "champion (f1_macro)",
                "outcome": "skipped",
                "detail": "no production version",
                "observed": None,
                "threshold": None,
            },
        ],
    }
