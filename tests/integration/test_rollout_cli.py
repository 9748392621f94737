"""`conveyor rollout ...` and `conveyor controller` through the real entry point, on a real
MLflow registry (SQLite) and store: start, status, the people's commands, history, the leader
loop once (cron) and until SIGTERM, refused input as one line with exit 2.

A copy of the session's `conveyor run` of wine (``wine_trained``) gives version 1, promoted to
production for the module; versions 2 and 3 are registered in MLflow from the same run with
Conveyor's tags, and each test works on its own copy of the home. Most commands run in
process (the `cli` fixture); `controller` and `rollout status --wait` also run as real
subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from conveyor.registry import tags as T
from conveyor.registry.client import connect
from conveyor.registry.stages import ModelRegistry
from conveyor.rollout.controller import LEASE_NAME
from conveyor.rollout.lease import Lease
from conveyor.rollout.records import RolloutRecords
from conveyor.settings import Settings
from conveyor.store import Store
from tests.conftest import CliResult
from tests.integration.procs import CONVEYOR, Processes

pytestmark = pytest.mark.integration

Cli = Callable[..., CliResult]
PROJECT = (
    "name: wine\ntask: classification\n"
    "data: {source: sklearn:wine, target: target}\n"
    "model: {estimator: sklearn.linear_model.LogisticRegression, params: {max_iter: 1000}}\n"
    "gates: {champion: {enabled: false}}\n"
)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, wine_trained: Path) -> Path:
    """A home with wine 1 in production and good candidates 2 and 3 in staging."""
    home = tmp_path_factory.mktemp("rollout-cli-registry") / "home"
    shutil.copytree(wine_trained, home)
    settings = Settings(home=home)
    store = Store(settings.store_url).create()
    try:
        client = connect(settings)
        ModelRegistry(client, store).promote("wine", "1", T.PRODUCTION, "setup", "first version")
        first = client.get_model_version("wine", "1")
        tags = {k: v for k, v in first.tags.items() if k != T.STAGE} | {T.STAGE: T.STAGING}
        for _ in ("2", "3"):
            client.create_model_version("wine", str(first.source), first.run_id, tags=tags)
    finally:
        store.close()
    return home


@pytest.fixture
def world(
    registered: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """This test's copy of the registered home, run from a directory without a project."""
    shutil.copytree(registered, home)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    return env | {"CONVEYOR_HOME": str(home), "COLUMNS": "200"}


def _store(home: Path) -> Store:
    return Store(Settings(home=home).store_url).create()


def _refused(result: CliResult, *phrases: str) -> None:
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for phrase in phrases:
        assert phrase in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def _start(cli: Cli, version: str = "2", *flags: str) -> dict[str, object]:
    started = cli("rollout", "start", "wine", version, "--by", "alice", "--json", *flags)
    assert started.exit_code == 0, started.stderr
    payload: dict[str, object] = started.json()
    return payload


# -- start and status ------------------------------------------------------------------------
def test_start_prints_the_pending_rollout_and_its_plan(cli: Cli, world: Path) -> None:
    flags = ["--steps", "5,25,50,100", "--initial-percent", "10", "--step-seconds", "60"]
    started = cli("rollout", "start", "wine", "2", *flags, "--reason", "better C", "--by", "alice")
    assert started.exit_code == 0, started.stderr
    assert "wine rollout #1 (canary): version 1 → 2, pending" in started.stdout
    assert "rollout settings from the defaults" in started.stdout
    for label in ("10%", "25%", "50%", "100%"):
        assert f"│ {label}" in started.stdout

    status = cli("rollout", "status", "wine")
    assert status.exit_code == 0, status.stderr
    assert "pending: waiting for the controller to begin step 1 of 4" in status.stdout
    assert "analysis: none yet" in status.stdout
    assert "registry: production is version 1; candidate 2 is staging" in status.stdout

    found = cli("rollout", "status", "wine", "--json").json()
    assert found["rollout"]["state"] == "pending"
    assert (found["rollout"]["champion"], found["rollout"]["candidate"]) == ("1", "2")
    assert found["rollout"]["actor"] == "alice"
    assert [(s["candidate"], s["production"], s["mirror"]) for s in found["plan"]] == [
        (10, 90, False),
        (25, 75, False),
        (50, 50, False),
        (100, 0, True),  # the champion gets a copy at 100%
    ]
    assert found["analysis"] is None
    assert found["registry"]["production"] == "1"


def test_start_takes_the_projects_rollout_section_then_the_flags(cli: Cli, world: Path) -> None:
    Path("conveyor.yaml").write_text(
        PROJECT + "rollout: {strategy: blue_green, step_seconds: 30}\n"
    )
    payload = _start(cli, "2", "--step-seconds", "45")
    rollout = payload["rollout"]
    assert isinstance(rollout, dict)
    assert (rollout["strategy"], rollout["spec"]["step_seconds"]) == ("blue_green", 45)
    assert str(payload["spec_source"]).endswith("conveyor.yaml")
    plan = payload["plan"]
    assert isinstance(plan, list)
    assert [(s["label"], s["candidate"], s["production"], s["mirror"]) for s in plan] == [
        ("mirror", 0, 100, True),
        ("switched", 100, 0, True),
    ]

    other = Path("other")
    other.mkdir()
    (other / "conveyor.yaml").write_text(PROJECT.replace("name: wine", "name: beer"))
    _refused(
        cli("rollout", "start", "wine", "3", "--spec", str(other)),
        "--spec other: the project of 'beer', not of 'wine'",
    )


# -- the people's commands -------------------------------------------------------------------
def test_pause_resume_abort_round_trip(cli: Cli, world: Path) -> None:
    _start(cli, "2", "--steps", "10,50,100")
    assert cli("controller", "--once").exit_code == 0  # begins step 1

    paused = cli("rollout", "pause", "wine", "--reason", "a look at the logs", "--by", "bob")
    assert paused.exit_code == 0, paused.stderr
    assert "version 1 → 2, paused" in paused.stdout
    assert "paused: step 1 of 3; candidate 10% / production 90%" in paused.stdout
    assert "reason: a look at the logs" in paused.stdout
    assert "▶ 1" in paused.stdout  # the current step, marked in the plan

    resumed = cli("rollout", "resume", "wine", "--json").json()
    assert (resumed["rollout"]["state"], resumed["rollout"]["step"]) == ("progressing", 0)
    assert cli("rollout", "status", "wine", "--json").json()["rollout"]["state"] == "progressing"
    _refused(
        cli("rollout", "resume", "wine"),
        "cannot resume the rollout of 'wine': it is progressing (allowed when paused)",
    )

    aborted = cli("rollout", "abort", "wine", "--reason", "wrong version")
    assert aborted.exit_code == 0, aborted.stderr
    assert "aborted at step 1 of 3; candidate 0% / production 100%" in aborted.stdout
    final = cli("rollout", "status", "wine", "--json").json()
    assert final["rollout"]["state"] == "aborted"
    assert final["rollout"]["ended_at"] is not None
    assert final["registry"]["candidate_stage"] == "staging"  # aborted: not judged


def test_illegal_transitions_and_a_second_start_are_refused(cli: Cli, world: Path) -> None:
    _start(cli)
    _refused(
        cli("rollout", "resume", "wine"),
        "cannot resume the rollout of 'wine': it is pending (allowed when paused)",
    )
    _refused(cli("rollout", "pause", "wine"), "cannot pause", "it is pending")
    _refused(
        cli("rollout", "start", "wine", "3"),
        "wine already has an active rollout (#1, version 2, pending)",
    )
    as_json = cli("rollout", "resume", "wine", "--json")
    assert as_json.exit_code == 2
    assert as_json.json() == {
        "error": "cannot resume the rollout of 'wine': it is pending (allowed when paused)",
        "type": "IllegalTransitionError",
        "exit_code": 2,
    }
    assert cli("rollout", "abort", "wine").exit_code == 0
    for command in ("pause", "resume", "promote", "rollback", "abort"):
        _refused(cli("rollout", command, "wine"), f"cannot {command}: no active rollout of 'wine'")


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["start", "nope", "2"], ["no registered model named 'nope'"]),
        (["start", "wine", "99"], ["model 'wine' has no version 99"]),
        (["start", "wine", "1"], ["wine version 1 is already in production"]),
        (["start", "wine", "2", "--steps", "50,25"], ["--steps: step 2 (25)", "more traffic"]),
        (["start", "wine", "2", "--steps", "5,x"], ["--steps '5,x'", "comma-separated"]),
        (["start", "wine", "2", "--steps", "5,150"], ["--steps: step 2 (150)", "at most 100"]),
        (["start", "wine", "2", "--initial-percent", "0"], ["--initial-percent 0", "above 0"]),
        (["start", "wine", "2", "--initial-percent", "101"], ["--initial-percent 101"]),
        (["start", "wine", "2", "--initial-percent", "30"], ["--initial-percent: step 2 (25)"]),
        (["start", "wine", "2", "--strategy", "slow"], ["unknown rollout strategy 'slow'"]),
        (["start", "wine", "2", "--strategy", "ab", "--steps", "5"], ["--steps applies to"]),
        (["start", "wine", "2", "--step-seconds", "0"], ["--step-seconds"]),
        (["status", "wine", "--timeout", "5"], ["--timeout 5", "with --wait"]),
        (["status", "nope"], ["no rollout of 'nope'"]),
        (["history", "wine", "--events", "42"], ["no rollout with id 42"]),
        (["history", "wine", "--limit", "0"], ["--limit 0"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, world: Path, args: list[str], phrases: list[str]
) -> None:
    _refused(cli("rollout", *args), *phrases)


def test_promote_by_hand_moves_production_and_wait_reports_the_outcome(
    cli: Cli, world: Path
) -> None:
    _start(cli)
    assert cli("controller", "--once").exit_code == 0
    promoted = cli("rollout", "promote", "wine", "--reason", "looks good", "--json").json()
    assert promoted["rollout"]["state"] == "succeeded"
    done = cli("rollout", "status", "wine", "--wait", "--timeout", "5")
    assert done.exit_code == 0, done.stderr
    assert "registry: production is version 2; candidate 2 is production" in done.stdout

    _start(cli, "3")
    cli("controller", "--once")
    rolled_back = cli("rollout", "rollback", "wine", "--reason", "too slow")
    assert rolled_back.exit_code == 0, rolled_back.stderr
    waited = cli("rollout", "status", "wine", "--wait", "--json")
    assert waited.exit_code == 5  # rolled back or aborted
    outcome = waited.json()["registry"]
    assert (outcome["production"], outcome["candidate_stage"]) == ("2", "rejected")
    assert outcome["rejected_reason"] == "too slow"


# -- history ---------------------------------------------------------------------------------
def test_history_lists_rollouts_and_one_rollouts_events_with_its_analyses(
    cli: Cli, world: Path
) -> None:
    first = _start(cli, "2")["rollout"]
    assert isinstance(first, dict)
    cli("rollout", "abort", "wine", "--reason", "wrong version")
    second = _start(cli, "3", "--step-seconds", "0.2")["rollout"]
    assert isinstance(second, dict)
    cli("controller", "--once")  # begins step 1
    store = _store(world)
    try:  # a round after the step's end analyses it (an empty log: it waits for evidence)
        deadline = time.monotonic() + 10
        while not any(e.kind == "analysis" for e in RolloutRecords(store).events(second["id"])):
            assert time.monotonic() < deadline, "the step was never analysed"
            time.sleep(0.1)
            assert cli("controller", "--once").exit_code == 0
    finally:
        store.close()

    listed = cli("rollout", "history", "wine", "--json").json()["rollouts"]
    assert [(r["id"], r["candidate"], r["state"]) for r in listed] == [
        (second["id"], "3", "progressing"),
        (first["id"], "2", "aborted"),
    ]
    table = cli("rollout", "history", "wine", "--limit", "1")
    assert table.exit_code == 0
    assert "progressing" in table.stdout
    assert "aborted" not in table.stdout

    found = cli("rollout", "history", "wine", "--events", str(second["id"]), "--json").json()
    kinds = [(e["kind"], e["to_state"], e["verdict"]) for e in found["events"]]
    assert kinds[:3] == [
        ("transition", "pending", None),
        ("transition", "progressing", None),
        ("analysis", None, "wait"),
    ]
    checks = {c["name"]: c for c in found["events"][2]["evidence"]["checks"]}
    assert checks["error_rate"]["verdict"] == "inconclusive"
    assert checks["error_rate"]["numbers"]["candidate_requests"] == 0

    shown = cli("rollout", "history", "wine", "--events", str(second["id"]))
    assert "new → pending by alice" in shown.stdout
    assert "pending → progressing by controller@" in shown.stdout
    assert "analysis wait" in shown.stdout
    assert "error_rate: inconclusive — candidate_requests=0" in shown.stdout

    status = cli("rollout", "status", "wine")
    assert "last analysis" in status.stdout
    assert "waiting for evidence" in status.stdout
    for check in ("error_rate", "latency", "prediction_shift", "online_accuracy"):
        assert check in status.stdout


# -- real processes --------------------------------------------------------------------------
def test_controller_once_begins_a_pending_rollout_and_gives_the_lease_back(
    cli: Cli, world: Path
) -> None:
    _start(cli, "2", "--steps", "10,50,100")
    run = subprocess.run(
        [CONVEYOR, "controller", "--once", "--json"],
        env=_env(world),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["leader"], report["lease_holder"]) == (True, report["holder"])
    (changed,) = report["changed"]
    assert changed["rollout"]["state"] == "progressing"
    assert changed["rollout"]["weights"] == {"production": 90, "candidate": 10}

    status = cli("rollout", "status", "wine")
    assert "progressing: step 1 of 3; candidate 10% / production 90%" in status.stdout
    store = _store(world)
    try:  # released on exit: another controller leads at once, without waiting for expiry
        assert Lease(store, LEASE_NAME, "probe", timedelta(seconds=30)).current() is None
    finally:
        store.close()


def test_controller_once_does_nothing_while_another_holds_the_lease(cli: Cli, world: Path) -> None:
    _start(cli)
    store = _store(world)
    try:
        assert Lease(store, LEASE_NAME, "pod-x", timedelta(seconds=60)).acquire()
        once = cli("controller", "--once")
        assert once.exit_code == 0, once.stderr
        assert "not the leader: pod-x holds the lease; nothing done" in once.stdout
        found = RolloutRecords(store).active_for("wine")
        assert found is not None and found.state.value == "pending"
        current = Lease(store, LEASE_NAME, "probe", timedelta(seconds=60)).current()
        assert current is not None and current.holder == "pod-x"  # not taken from its holder
    finally:
        store.close()


def test_status_wait_times_out_with_its_own_exit_code(cli: Cli, world: Path) -> None:
    _start(cli)  # pending, and no controller runs
    began = time.monotonic()
    run = subprocess.run(
        [CONVEYOR, "rollout", "status", "wine", "--wait", "--timeout", "1"],
        env=_env(world),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 6, run.stderr
    assert "timed out: the rollout of wine is pending" in run.stderr
    assert "waiting: pending" in run.stderr
    assert "Traceback" not in run.stderr
    assert time.monotonic() - began < 30
    # the plan cannot end within a second: said up front, with the numbers
    warning = " ".join(run.stderr.split())
    assert "warning: the rollout's plan needs about" in warning, run.stderr
    assert "but --timeout is 1 s" in warning


def test_controller_runs_until_sigterm_then_releases_the_lease(
    cli: Cli, world: Path, processes: Processes
) -> None:
    _start(cli)
    proc = processes.start([CONVEYOR, "controller", "--interval", "0.2"], _env(world))
    store = _store(world)
    try:
        records, deadline = RolloutRecords(store), time.monotonic() + 30
        while (found := records.active_for("wine")) is None or found.state.value == "pending":
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the controller never began the rollout"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        assert "rollout controller stopped" in stderr
        assert Lease(store, LEASE_NAME, "probe", timedelta(seconds=30)).current() is None
    finally:
        store.close()


def test_the_rollout_commands_do_not_import_mlflow(world: Path) -> None:
    """pause/resume/abort and history read only the store: no second spent importing MLflow."""
    code = (
        "import sys; from conveyor.cli.main import main; "
        "code = main(['rollout', 'history', 'wine', '--json']); "
        "assert 'mlflow' not in sys.modules, 'mlflow imported'; sys.exit(code)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=_env(world), capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
