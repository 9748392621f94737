"""Three `conveyor run` processes at once on one home and one project: every run registers,
versions and semvers are distinct, and the staging alias and stage tags stay consistent."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.procs import CONVEYOR, Processes, communicate_all
from tests.integration.test_postgres import postgres_database

pytestmark = pytest.mark.integration

RUN_DEADLINE_S = 240.0
PROCESSES = 3


def run_concurrently(
    processes: Processes, project: Path, env: dict[str, str]
) -> list[dict[str, object]]:
    procs = [
        processes.start(
            [
                CONVEYOR,
                "run",
                "--project",
                str(project),
                "--run-info",
                str(project / f"run_info_{i}.json"),
                "--json",
            ],
            env,
        )
        for i in range(PROCESSES)
    ]
    results = communicate_all(procs, RUN_DEADLINE_S)
    for code, out, err in results:
        assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
        assert "Traceback" not in err, err
    return [json.loads(out) for _, out, _ in results]


def check_registry(infos: list[dict[str, object]], env: dict[str, str]) -> None:
    versions = sorted(int(str(i["registered_version"])) for i in infos)
    assert versions == [1, 2, 3]
    assert len({i["run_id"] for i in infos}) == PROCESSES
    # same data and params each time: patch bumps, each number handed out once
    assert sorted(str(i["semver"]) for i in infos) == ["1.0.0", "1.0.1", "1.0.2"]

    shown = subprocess.run(
        [CONVEYOR, "models", "show", "wine", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    registered = json.loads(shown.stdout)
    assert [v["version"] for v in registered] == ["1", "2", "3"]
    by_version = {v["version"]: v for v in registered}
    assert by_version["3"]["aliases"] == ["staging"]
    assert [v["version"] for v in registered if v["stage"] == "staging"] == ["3"]
    assert [v["stage"] for v in registered] == ["archived", "archived", "staging"]
    for info in infos:
        v = by_version[str(info["registered_version"])]
        assert v["run_id"] == info["run_id"]
        assert v["semver"] == info["semver"]

    history = subprocess.run(
        [CONVEYOR, "models", "history", "wine", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert history.returncode == 0, history.stderr
    events = [(e["version"], e["action"], e["to_stage"]) for e in json.loads(history.stdout)]
    assert events == [
        ("1", "register", "staging"),
        ("2", "register", "staging"),
        ("1", "supersede", "archived"),
        ("3", "register", "staging"),
        ("2", "supersede", "archived"),
    ]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return env | {"CONVEYOR_HOME": str(home)} | extra


def test_three_concurrent_runs_on_sqlite(
    processes: Processes, wine_project: Callable, home: Path
) -> None:
    project = wine_project()
    env = _env(home)
    infos = run_concurrently(processes, project, env)
    check_registry(infos, env)


@pytest.mark.postgres
def test_three_concurrent_runs_with_postgres_store(
    processes: Processes, wine_project: Callable, home: Path
) -> None:
    with postgres_database() as url:
        project = wine_project()
        env = _env(home, CONVEYOR_STORE_URL=url)
        infos = run_concurrently(processes, project, env)
        check_registry(infos, env)
        assert not (home / "conveyor.db").exists()
