"""Prometheus rules and the Grafana dashboard as generated: thresholds from the project spec,
committed files equal to the generators' output, runbooks that name real commands, settings
and routes, metric names the server exports. promtool's verdicts are in
tests/integration/test_prometheus_rules.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from conveyor.cli.main import build_app
from conveyor.deploy import dashboard as dash
from conveyor.deploy import prometheus_rules as rules
from conveyor.deploy.alert_thresholds import AlertThresholds
from conveyor.errors import UserError
from conveyor.serving.metrics import ServerMetrics
from conveyor.settings import Settings
from conveyor.spec.models import AlertSpec, DriftSpec, MonitoringSpec

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
# every metric the rules, runbooks and dashboard name must come from ServerMetrics
PENDING_METRICS: set[str] = set()


def all_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def rule_named(document: dict[str, Any], alert: str) -> dict[str, Any]:
    (found,) = [r for r in all_rules(document) if r["alert"] == alert]
    return found


def runbook_texts() -> list[str]:
    document = rules.prometheus_rules(AlertThresholds(min_request_rate=1))
    return [text for r in all_rules(document) for text in r["annotations"].values()]


# -- thresholds ---------------------------------------------------------------------------


def test_defaults_are_the_spec_defaults() -> None:
    assert AlertThresholds.from_spec(MonitoringSpec()) == AlertThresholds()


def test_from_spec_converts_units_and_keeps_overrides() -> None:
    spec = MonitoringSpec(
        drift=DriftSpec(min_rows=500),
        alerts=AlertSpec(
            prediction_psi=0.25,
            accuracy_drop=0.02,
            min_label_coverage=0.3,
            latency_p99_ms=250,
            error_rate=0.05,
            min_requests_per_minute=30,
        ),
    )
    t = AlertThresholds.from_spec(spec, job="ml-serving", latency_for="2m")
    assert (t.psi_alert, t.min_window_rows, t.accuracy_drop) == (0.25, 500, 0.02)
    assert (t.min_label_coverage, t.error_rate) == (0.3, 0.05)
    assert t.latency_p99_seconds == pytest.approx(0.25)
    assert t.min_request_rate == pytest.approx(0.5)  # per second
    assert (t.job, t.latency_for) == ("ml-serving", "2m")


def test_spec_thresholds_reach_the_rule_expressions() -> None:
    spec = MonitoringSpec(
        drift=DriftSpec(min_rows=500),
        alerts=AlertSpec(
            prediction_psi=0.25,
            accuracy_drop=0.02,
            min_label_coverage=0.3,
            latency_p99_ms=250,
            error_rate=0.05,
            min_requests_per_minute=30,
        ),
    )
    document = rules.prometheus_rules(AlertThresholds.from_spec(spec))
    psi = rule_named(document, "ConveyorPredictionDrift")["expr"]
    assert "> 0.25" in psi and ">= 500" in psi
    accuracy = rule_named(document, "ConveyorAccuracyBelowBaseline")["expr"]
    assert ") > 0.02" in accuracy and ">= 0.3" in accuracy
    assert rule_named(document, "ConveyorHighLatencyP99")["expr"].endswith("> 0.25")
    assert rule_named(document, "ConveyorHighErrorRate")["expr"].endswith("> 0.05")
    assert rule_named(document, "ConveyorLowRequestVolume")["expr"].endswith("< 0.5")


def test_volume_rule_only_when_enabled() -> None:
    names = {r["alert"] for r in all_rules(rules.prometheus_rules())}
    assert "ConveyorLowRequestVolume" not in names
    assert {
        "ConveyorDataDrift",
        "ConveyorPredictionDrift",
        "ConveyorAccuracyBelowBaseline",
        "ConveyorRmseAboveBaseline",
        "ConveyorHighLatencyP99",
        "ConveyorHighErrorRate",
        "ConveyorModelNotLoaded",
        "ConveyorNoModelServed",
        "ConveyorFeaturesStale",
        "ConveyorInferenceLogDropping",
        "ConveyorInferenceLogBacklog",
        "ConveyorInferenceLogSpoolAge",
        "ConveyorInferenceLogSpoolNearlyFull",
        "ConveyorInferenceLogIngesterDown",
        "ConveyorInferenceLogRefusing",
        "ConveyorStoreUnavailable",
        "ConveyorHighRequestVolume",
    } == names
    enabled = rules.prometheus_rules(AlertThresholds(min_request_rate=0.2))
    assert rule_named(enabled, "ConveyorLowRequestVolume")["labels"] == {"severity": "warning"}
    # the ceiling is on by default (10,000 requests/s) and 0 turns it off
    assert rule_named(enabled, "ConveyorHighRequestVolume")["expr"].endswith("> 10000")
    off = {
        r["alert"] for r in all_rules(rules.prometheus_rules(AlertThresholds(max_request_rate=0)))
    }
    assert "ConveyorHighRequestVolume" not in off


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"drift_for": "10 minutes"}, "drift_for"),
        ({"rate_window": "0m"}, "rate_window"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"psi_alert": -0.1}, "psi_alert"),
        ({"job": 'conveyor"}'}, "job"),
        ({"min_window_rows": -1}, "min_window_rows"),
    ],
)
def test_invalid_thresholds_name_the_field(change: dict[str, Any], named: str) -> None:
    with pytest.raises(UserError, match=named):
        AlertThresholds(**change)


# -- generated files ----------------------------------------------------------------------


def test_committed_rule_files_are_the_generator_output(tmp_path: Path) -> None:
    assert rules.main(["--out", str(tmp_path)]) == 0
    for name in (rules.RULES_FILE, rules.CRD_FILE):
        committed = (PROMETHEUS / name).read_text(encoding="utf-8")
        assert committed == (tmp_path / name).read_text(encoding="utf-8"), (
            f"deploy/prometheus/{name} is stale: python -m conveyor.deploy.prometheus_rules "
            "--out deploy/prometheus"
        )


def test_committed_dashboard_is_the_generator_output(tmp_path: Path) -> None:
    assert dash.main(["--out", str(tmp_path)]) == 0
    committed = (DASHBOARDS / dash.DASHBOARD_FILE).read_text(encoding="utf-8")
    assert committed == (tmp_path / dash.DASHBOARD_FILE).read_text(encoding="utf-8"), (
        "deploy/grafana/dashboards/conveyor.json is stale: python -m "
        "conveyor.deploy.dashboard --out deploy/grafana/dashboards"
    )


@pytest.mark.parametrize(
    ("module", "written"),
    [
        (
            "conveyor.deploy.prometheus_rules",
            [PROMETHEUS / rules.RULES_FILE, PROMETHEUS / rules.CRD_FILE],
        ),
        ("conveyor.deploy.dashboard", [DASHBOARDS / dash.DASHBOARD_FILE]),
    ],
)
def test_documented_module_commands_write_the_committed_files(
    tmp_path: Path, module: str, written: list[Path]
) -> None:
    # the docs, the committed files' headers and Grafana's provisioning name these commands
    done = subprocess.run(
        [sys.executable, "-m", module, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / path.name) for path in written]
    for path in written:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_crd_carries_the_rules_file_groups() -> None:
    crd = yaml.safe_load((PROMETHEUS / rules.CRD_FILE).read_text(encoding="utf-8"))
    assert (crd["apiVersion"], crd["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert crd["spec"] == yaml.safe_load((PROMETHEUS / rules.RULES_FILE).read_text("utf-8"))
    custom = rules.prometheus_rule_crd(name="m", namespace="ml", labels={"release": "prom"})
    assert custom["metadata"] == {
        "name": "m",
        "namespace": "ml",
        "labels": {"app.kubernetes.io/name": "conveyor", "release": "prom"},
    }


def test_yaml_text_round_trips_multiline_promql() -> None:
    document = rules.prometheus_rules(AlertThresholds(min_request_rate=1))
    text = rules.yaml_text(document, "first line\nsecond line")
    assert text.startswith("# first line\n# second line\ngroups:\n")
    assert yaml.safe_load(text) == document
    assert "expr: |-\n" in text  # multi-line PromQL stays readable


def test_prometheus_config_matches_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == [rules.RULES_FILE]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # ConveyorModelNotLoaded selects up{job=...}: the scrape job must carry that name
    assert jobs[AlertThresholds().job]["metrics_path"] == "/metrics"
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]


# -- runbooks name real things ------------------------------------------------------------

COMMAND = re.compile(r"\bconveyor ((?:[a-z][a-z-]* ?)+)")
SENTENCE_END = re.compile(r"[.)?](?:\s|$)")


def command_problems(text: str) -> list[str]:
    """What is wrong with each ``conveyor ...`` command line in ``text``: an unknown command
    or option, or a required option left out."""
    # typer vendors its own click: duck-type groups (``commands``) and options
    root = typer.main.get_command(build_app())
    problems = []
    for match in COMMAND.finditer(text):
        command: Any = root
        path: list[str] = []
        for word in match.group(1).split():
            if word not in getattr(command, "commands", {}):
                break
            command, path = command.commands[word], [*path, word]
        shown = " ".join(["conveyor", *path])
        if not path or hasattr(command, "commands"):
            problems.append(f"no command: conveyor {match.group(1).strip()}")
            continue
        segment = SENTENCE_END.split(text[match.end() :])[0]
        given = set(re.findall(r"(?<!\S)--[a-z][a-z-]*", segment))
        options = [p for p in command.params if p.param_type_name == "option"]
        known = {opt for p in options for opt in p.opts}
        problems += [f"{shown}: no option {opt}" for opt in sorted(given - known)]
        for p in options:
            if p.required and not given & set(p.opts):
                problems.append(f"{shown}: needs {p.opts[0]}")
    return problems


def test_command_check_catches_wrong_commands() -> None:
    assert command_problems("conveyor models rollback iris --reason x.") == [
        "no command: conveyor models rollback iris"
    ]
    assert command_problems("conveyor rollback iris --force.") == [
        "conveyor rollback: no option --force"
    ]
    assert command_problems("run conveyor drift --current x.csv.") == [
        "conveyor drift: needs --reference"
    ]
    assert command_problems("conveyor models show iris, then conveyor run.") == []


def test_runbooks_name_existing_commands() -> None:
    texts = runbook_texts()
    assert sum(len(COMMAND.findall(text)) for text in texts) >= 4
    assert [p for text in texts for p in command_problems(text)] == []


def test_runbooks_name_existing_settings() -> None:
    named = {m.lower() for text in runbook_texts() for m in re.findall(r"CONVEYOR_(\w+)", text)}
    assert named, "runbooks point at CONVEYOR_* settings"
    assert named <= set(Settings.model_fields), named - set(Settings.model_fields)


def test_runbooks_name_existing_routes(tmp_path: Path) -> None:
    from conveyor.serving.app import create_app

    app = create_app(Settings(home=tmp_path, model_path=tmp_path / "model"))
    paths = app.openapi()["paths"]
    named = {m for text in runbook_texts() for m in re.findall(r"\b(GET|POST) (/[\w/]+)", text)}
    assert named == {("GET", "/ready"), ("POST", "/admin/reload")}
    for method, path in named:
        assert method.lower() in paths.get(path, {}), f"{method} {path}"
    inference = {p for p in paths if re.fullmatch(rules.INFERENCE_ROUTES, p)}
    assert inference == {
        "/predict",
        "/invocations",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }


def exported_metric_names() -> set[str]:
    suffixes = {
        "counter": ["_total"],
        "histogram": ["", "_bucket", "_sum", "_count"],  # runbooks name the family
        "gauge": [""],
    }
    return {
        family.name + suffix
        for family in ServerMetrics().registry.collect()
        for suffix in suffixes[family.type]
    }


def test_rules_and_dashboard_use_exported_metrics() -> None:
    document = rules.prometheus_rules(AlertThresholds(min_request_rate=1))
    texts = [r["expr"] for r in all_rules(document)] + runbook_texts()
    texts += [expr for _, expr in dash.panel_queries(dash.dashboard())]
    used = {m for text in texts for m in re.findall(r"\bconveyor_[a-z_]+", text)}
    assert used - exported_metric_names() == PENDING_METRICS


# -- dashboard ----------------------------------------------------------------------------


def test_dashboard_shows_every_signal() -> None:
    queries = " ".join(expr for _, expr in dash.panel_queries(dash.dashboard()))
    for metric in [
        "conveyor_requests_total",
        "conveyor_request_duration_seconds_bucket",
        "conveyor_batch_rows_bucket",
        "conveyor_feature_drift_score",
        "conveyor_feature_drift_p_value",
        "conveyor_drift_detected",
        "conveyor_prediction_psi",
        'conveyor_online_metric{model=~"$model", version=~"$version", metric="accuracy"}',
        'conveyor_baseline_metric{model=~"$model", version=~"$version", metric="accuracy"}',
        "conveyor_label_coverage",
        "conveyor_rollout_weight",
        "conveyor_inference_log_queue_depth",
        "conveyor_inference_log_dropped_total",
        "conveyor_inference_log_spool_segments",
    ]:
        assert metric in queries
    assert "histogram_quantile(0.99, " in queries and "histogram_quantile(0.5, " in queries


def test_dashboard_variables() -> None:
    variables = {v["name"]: v for v in dash.dashboard()["templating"]["list"]}
    assert set(variables) == {"datasource", "model", "version"}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource",
        "prometheus",
    )
    assert variables["model"]["query"] == "label_values(conveyor_model_info, model)"
    assert variables["version"]["query"].startswith(
        'label_values(conveyor_model_info{model=~"$model"}, version)'
    )
    for name in ("model", "version"):
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_panels_fit_the_grid_without_overlap() -> None:
    model = json.loads(dash.dashboard_text())
    assert model["schemaVersion"] == dash.SCHEMA_VERSION and model["uid"] == "conveyor"
    panels = model["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells = []
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= dash.GRID_WIDTH, p["title"]
        cells.append(
            (
                p["title"],
                {
                    (x, y)
                    for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])
                },
            )
        )
    for (a, cells_a), (b, cells_b) in combinations(cells, 2):
        assert not cells_a & cells_b, f"{a!r} overlaps {b!r}"


def test_dashboard_targets_use_the_datasource_variable() -> None:
    for panel in dash.dashboard()["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids and len(set(ref_ids)) == len(ref_ids), panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
        assert "_size" not in panel


def test_dashboard_draws_alert_levels_from_the_thresholds() -> None:
    t = AlertThresholds(latency_p99_seconds=0.25, psi_alert=0.4, min_label_coverage=0.2)
    panels = {p["title"]: p for p in dash.dashboard(t)["panels"]}

    def steps(title: str) -> list[float | None]:
        defaults = panels[title]["fieldConfig"]["defaults"]
        return [s["value"] for s in defaults["thresholds"]["steps"]]

    assert steps("Inference latency p50 / p95 / p99") == [None, 0.25]
    assert steps("Prediction PSI") == [None, 0.4]
    assert steps("Feature drift score (PSI) now") == [None, 0.4]
    assert steps("Label coverage") == [None, 0.2]
