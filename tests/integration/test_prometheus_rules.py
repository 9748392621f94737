"""The deploy files through the real tools: promtool checks both rule files and the Prometheus
config and runs the rule unit tests (which fail when thresholds move), amtool checks and
routes the Alertmanager example, and every dashboard query goes through promtool's parser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.deploy import dashboard as dash
from conveyor.deploy import prometheus_rules as rules
from conveyor.deploy.alert_thresholds import AlertThresholds

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_TESTS = PROMETHEUS / "tests" / "conveyor-rules.test.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (scripts/install-test-tools.sh)"
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed (scripts/install-test-tools.sh)"
)
# Grafana variables as a dashboard user might set them
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$model": "iris", "$version": "3"}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert AMTOOL is not None
    return subprocess.run(
        [AMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


# -- rules --------------------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_rules_file() -> None:
    result = promtool("check", "rules", PROMETHEUS / rules.RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 17 rules found" in result.stdout


@needs_promtool
def test_promtool_accepts_the_prometheusrule_spec(tmp_path: Path) -> None:
    crd = yaml.safe_load((PROMETHEUS / rules.CRD_FILE).read_text(encoding="utf-8"))
    result = promtool("check", "rules", write_yaml(tmp_path / "spec.yml", crd["spec"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 17 rules found" in result.stdout


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    document = rules.prometheus_rules()
    document["groups"][0]["rules"][0]["expr"] = "max by (model (conveyor_drift_detected) == 1"
    result = promtool("check", "rules", write_yaml(tmp_path / "broken.yml", document))
    assert result.returncode != 0
    assert "ConveyorDataDrift" in result.stdout + result.stderr


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("thresholds", "failing"),
    [
        # firing cases stop firing
        (
            AlertThresholds(accuracy_drop=0.3, latency_p99_seconds=2.0, spool_age_seconds=1000),
            [
                "online accuracy below baseline",
                "p99 latency above 100 ms",
                "spool older than 300 s fires after 5m",
            ],
        ),
        # cases that must stay quiet start firing
        (
            AlertThresholds(
                min_label_coverage=0.01,
                min_window_rows=10,
                error_rate=0.001,
                spool_full_share=0.5,
                store_down_for="1m",
            ),
            [
                "online accuracy below baseline",
                "prediction PSI above 0.3 fires only on windows of at least 100 rows",
                "error rate counts 5xx only",
                "spool above 80 % of its limit fires",
                "a store down for 5m fires",
            ],
        ),
    ],
    ids=["fire-cases", "quiet-cases"],
)
@needs_promtool
def test_rule_unit_tests_fail_when_thresholds_move(
    tmp_path: Path, thresholds: AlertThresholds, failing: list[str]
) -> None:
    (tmp_path / rules.RULES_FILE).write_text(
        rules.yaml_text(rules.prometheus_rules(thresholds)), encoding="utf-8"
    )
    (tmp_path / "tests").mkdir()
    shutil.copy(RULE_TESTS, tmp_path / "tests")
    result = promtool("test", "rules", tmp_path / "tests" / RULE_TESTS.name)
    assert result.returncode != 0
    for name in failing:
        assert f"name: {name}" in result.stdout + result.stderr


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    labels = {"job": "conveyor", "instance": "a:8000", **labels}
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def info(model: str) -> dict[str, str]:
    return series(
        "conveyor_model_info",
        "1x30",
        model=model,
        version="1",
        stage="production",
        semver="1.0.0",
        runtime="onnx",
    )


@pytest.mark.parametrize(("min_rate", "passes"), [(0.5, True), (0.1, False)])
@needs_promtool
def test_low_volume_rule_when_enabled(tmp_path: Path, min_rate: float, passes: bool) -> None:
    """The volume rule is off by default, so not in the committed tests. The cases expect the
    alerts of a 0.5 requests/s minimum; at 0.1, churn's 0.2 requests/s no longer fires."""
    t = AlertThresholds(min_request_rate=min_rate)
    (tmp_path / "rules.yml").write_text(rules.yaml_text(rules.prometheus_rules(t)), "utf-8")
    requests = "conveyor_requests_total"

    def volume_alert(model: str, rate: str) -> dict[str, Any]:
        return {
            "exp_labels": {"severity": "warning", "model": model},
            "exp_annotations": {
                "summary": f"{model} gets {rate} inference requests/s",
                "description": f"Traffic is below {min_rate} requests/s for a loaded model.",
                "runbook": "Check the clients, the ingress or load balancer and DNS; a rollout "
                "may have moved the traffic elsewhere.",
                "runbook_url": "docs/runbooks.md#low-request-volume",
            },
        }

    case = {
        "interval": "1m",
        "input_series": [
            # iris: 1 request/s; churn: 0.2/s; fraud: loaded, no request at all;
            # wine: feedback posts only, which are not inference
            info("iris"),
            series(requests, "0+60x30", route="/predict", model="iris", version="1", status="200"),
            info("churn"),
            series(requests, "0+12x30", route="/predict", model="churn", version="1", status="200"),
            info("fraud"),
            info("wine"),
            series(requests, "0+60x30", route="/feedback", model="wine", version="1", status="200"),
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "ConveyorLowRequestVolume", "exp_alerts": []},
            {
                "eval_time": "15m",
                "alertname": "ConveyorLowRequestVolume",
                "exp_alerts": [
                    volume_alert("churn", "0.2"),
                    volume_alert("fraud", "0"),
                    volume_alert("wine", "0"),
                ],
            },
        ],
    }
    test_file = write_yaml(
        tmp_path / "volume.test.yml",
        {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [case]},
    )
    result = promtool("test", "rules", test_file)
    assert (result.returncode == 0) == passes, result.stdout + result.stderr


@pytest.mark.parametrize(("floor", "passes"), [(0.7, True), (0.6, False)])
@needs_promtool
def test_accuracy_floor_rule_when_set(tmp_path: Path, floor: float, passes: bool) -> None:
    """The floor is unset by default. The cases expect a 0.7 floor: iris (0.65 online, its
    baseline 0.66, so no drop) fires; churn (0.9) does not, nor wine (0.5) whose labels cover
    too few rows. At 0.6 iris is above the floor and the expected alert is missing."""
    t = AlertThresholds(min_accuracy=floor)
    (tmp_path / "rules.yml").write_text(rules.yaml_text(rules.prometheus_rules(t)), "utf-8")

    def quality(model: str, accuracy: str, coverage: str) -> list[dict[str, str]]:
        online = series("conveyor_online_metric", f"{accuracy}x30", model=model, version="1")
        online["series"] = online["series"].replace("}", ', metric="accuracy"}')
        return [
            online,
            series("conveyor_label_coverage", f"{coverage}x30", model=model, version="1"),
        ]

    case = {
        "interval": "1m",
        "input_series": [
            *quality("iris", "0.65", "0.5"),
            *quality("churn", "0.9", "0.5"),
            *quality("wine", "0.5", "0.01"),
        ],
        "alert_rule_test": [
            {
                "eval_time": "20m",
                "alertname": "ConveyorAccuracyBelowFloor",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "critical", "model": "iris", "version": "1"},
                        "exp_annotations": {
                            "summary": "Online accuracy below 0.7 on iris version 1",
                            "description": "Accuracy on labelled traffic is 0.650, below the "
                            "floor of 0.7 (judged only when at least 10% of rows have a label).",
                            "runbook": "Check that the labelled rows are representative (label "
                            "coverage panel). conveyor rollback iris --reason '...' puts the "
                            "previous production version back; then retrain on recent data.",
                            "runbook_url": "docs/runbooks.md#online-accuracy-below-the-floor",
                        },
                    }
                ],
            },
        ],
    }
    test_file = write_yaml(
        tmp_path / "floor.test.yml",
        {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [case]},
    )
    result = promtool("test", "rules", test_file)
    assert (result.returncode == 0) == passes, result.stdout + result.stderr


# -- Prometheus and Alertmanager configs ---------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_prometheus_config() -> None:
    result = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # the config's rule files were found and checked too
    assert "SUCCESS: 17 rules found" in result.stdout


@needs_amtool
def test_amtool_accepts_the_alertmanager_config() -> None:
    result = amtool("check-config", ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 receivers" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["severity=critical", "alertname=ConveyorHighErrorRate", "model=iris"],
            "conveyor-critical",
        ),
        (["severity=warning", "alertname=ConveyorDataDrift", "model=iris"], "conveyor-warning"),
        (["alertname=Watchdog"], "conveyor-warning"),
    ],
)
@needs_amtool
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    config = f"--config.file={ALERTMANAGER}"
    result = amtool("config", "routes", "test", config, f"--verify.receivers={receiver}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    other = "conveyor-warning" if receiver == "conveyor-critical" else "conveyor-critical"
    result = amtool("config", "routes", "test", config, f"--verify.receivers={other}", *labels)
    assert result.returncode != 0


SLACK_PAGERDUTY = ROOT / "deploy" / "alertmanager" / "slack-pagerduty.yml"


@needs_amtool
def test_the_slack_and_pagerduty_example_is_a_valid_config() -> None:
    result = amtool("check-config", SLACK_PAGERDUTY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 receivers" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=ConveyorHighErrorRate", "model=iris"], "pagerduty-and-slack"),
        (["severity=warning", "alertname=ConveyorDataDrift", "model=iris"], "slack-warnings"),
    ],
)  # fmt: skip
@needs_amtool
def test_critical_pages_and_warnings_go_to_slack(labels: list[str], receiver: str) -> None:
    config = f"--config.file={SLACK_PAGERDUTY}"
    result = amtool("config", "routes", "test", config, f"--verify.receivers={receiver}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
def test_the_slack_message_renders_a_real_alerts_summary_and_runbook(tmp_path: Path) -> None:
    """The example's Slack text, rendered by amtool for a firing ConveyorDataDrift with the
    annotations our rules give it."""
    config = yaml.safe_load(SLACK_PAGERDUTY.read_text())
    (warnings,) = [r for r in config["receivers"] if r["name"] == "slack-warnings"]
    text = warnings["slack_configs"][0]["text"]
    document = rules.prometheus_rules()
    drift = next(
        r for g in document["groups"] for r in g["rules"] if r.get("alert") == "ConveyorDataDrift"
    )
    alert = {
        "status": "firing",
        "labels": {"alertname": "ConveyorDataDrift", "model": "iris", "version": "3"},
        "annotations": {
            "summary": "Input data drift on iris version 3",
            "runbook_url": drift["annotations"]["runbook_url"],
        },
        "startsAt": "2026-01-01T00:00:00Z",
    }
    data = {"receiver": "slack-warnings", "status": "firing", "alerts": [alert],
            "groupLabels": {}, "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"], "externalURL": "http://am"}  # fmt: skip
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "empty.tmpl").write_text("")
    result = amtool(
        "template", "render", f"--template.glob={tmp_path / 'empty.tmpl'}",
        f"--template.text={text}", f"--template.data={tmp_path / 'data.json'}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"Input data drift on iris version 3 <{drift['annotations']['runbook_url']}|runbook>"
    )


# -- dashboard queries ---------------------------------------------------------------------


def fill_variables(expr: str) -> str:
    """``expr`` with the dashboard's Grafana variables replaced; ValueError for any other."""
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr}")
    return expr


def check_queries(
    tmp_path: Path, queries: list[tuple[str, str]]
) -> subprocess.CompletedProcess[str]:
    """promtool's verdict on each query written as a recording rule."""
    recorded = [
        {"record": f"dashboard:query_{i}", "expr": fill_variables(expr)}
        for i, (_, expr) in enumerate(queries)
    ]
    document = {"groups": [{"name": "dashboard", "rules": recorded}]}
    return promtool("check", "rules", write_yaml(tmp_path / "dashboard.yml", document))


@needs_promtool
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "grafana" / "dashboards" / "conveyor.json").read_text("utf-8")
    queries = dash.panel_queries(json.loads(text))
    assert len(queries) >= 25
    result = check_queries(tmp_path, queries)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


@pytest.mark.parametrize(
    "broken",
    [
        "sum(rate(conveyor_requests_total[$__rate_interval])",  # unbalanced
        "histogram_quantil(0.99, sum by (le) (rate(conveyor_batch_rows_bucket[5m])))",
        'sum by (route) (conveyor_requests_total{model=~"$model" version=~"$version"})',
    ],
)
@needs_promtool
def test_a_broken_dashboard_query_fails_the_check(tmp_path: Path, broken: str) -> None:
    result = check_queries(tmp_path, [("Fine", "sum(conveyor_drift_detected)"), ("Broken", broken)])
    assert result.returncode != 0
    assert "dashboard:query_1" in result.stdout + result.stderr


def test_an_unknown_grafana_variable_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Grafana variable"):
        fill_variables('conveyor_feature_drift_score{feature="$feature"}')
