"""docs/runbooks.md: every alert (Prometheus rules, the server's rules, rollout events that need
a person) links to a section that exists, and what the runbooks tell an operator to run exists:
commands and their options, settings, and PromQL that Prometheus' own parser accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conveyor.deploy import prometheus_rules as rules
from conveyor.runbooks import DEFAULT_BASE, SECTIONS, runbook_url
from conveyor.settings import Settings
from tests.unit.test_rules import command_problems

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks.md"
TEXT = RUNBOOKS.read_text(encoding="utf-8")
SERVER_RULES = (
    "data_drift",
    "prediction_drift",
    "accuracy_below_baseline",
    "latency_p99",
    "error_rate",
    "request_volume",
)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.DOTALL)


def all_prometheus_rules() -> list[dict]:
    t = rules.AlertThresholds(min_request_rate=1.0)  # the optional volume rule too
    return [r for g in rules.prometheus_rules(t)["groups"] for r in g["rules"]]


def test_every_prometheus_rule_links_to_a_section() -> None:
    headings = anchors(TEXT)
    for rule in all_prometheus_rules():
        url = rule["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base == DEFAULT_BASE, url
        assert anchor in headings, f"{rule['alert']}: no heading for #{anchor}"
        assert rule["alert"] in SECTIONS  # not the index fallback


def test_the_committed_rules_carry_the_links() -> None:
    committed = yaml.safe_load(
        (RUNBOOKS.parents[1] / "deploy" / "prometheus" / "conveyor-rules.yml").read_text()
    )
    links = {
        r["alert"]: r["annotations"]["runbook_url"] for g in committed["groups"] for r in g["rules"]
    }
    assert links and all(url == runbook_url(name) for name, url in links.items())


def test_every_server_rule_and_rollout_event_links_to_a_section() -> None:
    headings = anchors(TEXT)
    for name in (*SERVER_RULES, "rollout.rolled_back", "rollout.paused", "rollout.aborted"):
        assert SECTIONS[name] in headings, name
        assert f"`{name}`" in TEXT  # the section names the alert as operators see it
    assert set(SECTIONS.values()) <= headings


def test_the_base_url_follows_the_spec() -> None:
    from conveyor.spec.models import MonitoringSpec

    spec = MonitoringSpec(runbook_base_url="https://git.example.com/ml/runbooks.md")
    t = rules.AlertThresholds.from_spec(spec)
    [drift] = [r for r in rules.prometheus_rules(t)["groups"][0]["rules"] if "Data" in r["alert"]]
    assert drift["annotations"]["runbook_url"] == (
        "https://git.example.com/ml/runbooks.md#data-drift"
    )


def test_anchor_check_catches_a_missing_heading() -> None:
    assert "data-drift" in anchors("## Data drift\n")
    assert "data-drift" not in anchors("## Data drifts\n")


def test_the_runbooks_name_existing_commands_and_settings() -> None:
    lines = [
        line
        for block in fenced("bash")
        for line in block.splitlines()
        if line.startswith("conveyor ")
    ]
    assert len(lines) >= 8
    problems = [p for line in lines for p in command_problems(line.split("#")[0])]
    # commands quoted inline in the prose too
    problems += [p for c in re.findall(r"`(conveyor [^`]+)`", TEXT) for p in command_problems(c)]
    assert problems == []
    named = {m.lower() for m in re.findall(r"CONVEYOR_(\w+)", TEXT)}
    assert named <= set(Settings.model_fields), named - set(Settings.model_fields)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_the_runbooks_promql_parses(tmp_path: Path) -> None:
    queries = [q.strip() for q in fenced("promql")]
    assert len(queries) >= 8
    document = {
        "groups": [
            {
                "name": "runbooks",
                "rules": [
                    {"record": f"runbook:query_{i}", "expr": q.replace("MODEL", "wine")}
                    for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "runbook-queries.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
