"""A promotion or rollback killed (SIGKILL) before each of its registry writes, then retried or
repaired: the alias is the truth, exactly one version is tagged production, each move has one
audit event, and a retried rollback never rolls back a second version.

The registry is a real MLflow on SQLite with a real store; the move runs in a real `conveyor`
process that kills itself just before its Nth write to MLflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.registry import tags as T
from conveyor.registry.client import connect
from conveyor.registry.moves import PENDING
from conveyor.registry.stages import ModelRegistry
from conveyor.settings import Settings
from conveyor.store import AuditLog, Store

pytestmark = pytest.mark.integration

# the `conveyor` CLI, in a process that SIGKILLs itself before its Nth write to MLflow
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from mlflow import MlflowClient
    from conveyor.cli.main import main

    target, calls = int(sys.argv[1]), [0]
    for method in ("set_model_version_tag", "set_registered_model_alias",
                   "delete_registered_model_alias", "delete_model_version_tag"):
        real = getattr(MlflowClient, method)
        def wrapped(self, *args, _real=real, **kwargs):
            calls[0] += 1
            if calls[0] == target:
                os.kill(os.getpid(), signal.SIGKILL)
            return _real(self, *args, **kwargs)
        setattr(MlflowClient, method, wrapped)
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose model ``wine`` went 1 → 2 → 3 in production (promoted through Conveyor,
    audited) and has version 4 holding ``staging``."""
    home = tmp_path_factory.mktemp("crash-registry") / "home"
    settings = Settings(home=home)
    store = Store(settings.store_url).create()
    try:
        client = connect(settings)
        client.create_registered_model("wine")
        experiment = client.create_experiment("wine", artifact_location=str(home / "artifacts"))
        run = client.create_run(experiment).info.run_id
        source = str(home / "artifacts" / run / "artifacts" / "model")
        for _ in range(4):
            client.create_model_version(
                "wine", source, run_id=run, tags={T.STAGE: T.STAGING, T.GATES: "5 passed"}
            )
        registry = ModelRegistry(client, store)
        for version in ("1", "2", "3"):
            registry.promote("wine", version, T.PRODUCTION, "setup", f"version {version}")
        client.set_registered_model_alias("wine", T.STAGING, "4")
    finally:
        store.close()
    return home


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.settings = Settings(home=path)
        self.store = Store(self.settings.store_url).create()
        self.registry = ModelRegistry(connect(self.settings), self.store)
        self.before = len(AuditLog(self.store).history("wine", limit=10_000))

    def conveyor(self, *args: str, kill_at: int = 0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env["CONVEYOR_HOME"] = str(self.path)
        return subprocess.run(
            [sys.executable, "-c", KILLER, str(kill_at), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def tagged(self, stage: str) -> list[str]:
        return [v.version for v in self.registry.versions("wine") if v.stage == stage]

    def production(self) -> str | None:
        found = self.registry.by_alias("wine", T.PRODUCTION)
        return found.version if found is not None else None

    def new_events(self) -> list[tuple[str | None, str, str | None]]:
        events = AuditLog(self.store).history("wine", limit=10_000)[self.before :]
        return [(e.version, e.action, e.to_stage) for e in events]

    def pending(self) -> list[str]:
        return [v.version for v in self.registry.versions("wine") if PENDING in v.tags]


@pytest.fixture
def crashed_home(registered: Path, tmp_path: Path) -> Iterator[Home]:
    shutil.copytree(registered, tmp_path / "home")
    home = Home(tmp_path / "home")
    try:
        yield home
    finally:
        home.store.close()


# promote 4 (staging) over 3: intent tag, alias, stage tag, staging alias off, 3 archived,
# intent removed (after the events commit) — six writes
@pytest.mark.parametrize(
    ("kill_at", "recover"), [(n, "retry") for n in range(1, 7)] + [(3, "doctor"), (6, "doctor")]
)
def test_a_promotion_killed_at_any_write_ends_once_after_a_retry(
    crashed_home: Home, kill_at: int, recover: str
) -> None:
    home = crashed_home
    killed = home.conveyor("promote", "wine", "4", "--to", "production", kill_at=kill_at)
    assert killed.returncode == -9, killed.stderr
    if recover == "retry":
        home.registry.promote("wine", "4", T.PRODUCTION, "alice", "retry")
    else:
        repaired = home.conveyor("models", "doctor", "wine", "--repair")
        assert repaired.returncode == 0, repaired.stderr + repaired.stdout
        if kill_at > 2:  # the alias had moved: the repair finished the promotion
            assert "promote" in repaired.stdout
    assert home.production() == "4"
    assert home.tagged(T.PRODUCTION) == ["4"]
    assert home.tagged(T.ARCHIVED) == ["1", "2", "3"]
    assert home.pending() == []
    assert home.registry.by_alias("wine", T.STAGING) is None
    assert sorted(home.new_events()) == [
        ("3", "promote", T.ARCHIVED),
        ("4", "promote", T.PRODUCTION),
    ]
    # and a further retry changes nothing
    home.registry.promote("wine", "4", T.PRODUCTION, "alice", "again")
    assert len(home.new_events()) == 2


# roll back 3 to 2: intent tag, alias, stage tag, 3 rejected, intent removed — five writes
@pytest.mark.parametrize("kill_at", range(1, 6))
def test_a_rollback_killed_at_any_write_rolls_back_one_version_after_a_retry(
    crashed_home: Home, kill_at: int
) -> None:
    home = crashed_home
    killed = home.conveyor("rollback", "wine", "--reason", "bad", kill_at=kill_at)
    assert killed.returncode == -9, killed.stderr
    assert home.registry.rollback("wine", "alice", "bad").version == "2"
    assert home.production() == "2"
    assert home.tagged(T.PRODUCTION) == ["2"]
    assert home.tagged(T.REJECTED) == ["3"]
    assert home.pending() == []
    assert sorted(home.new_events()) == [
        ("2", "rollback", T.PRODUCTION),
        ("3", "rollback", T.REJECTED),
    ]


def test_doctor_reports_and_repairs_a_registry_left_inconsistent(crashed_home: Home) -> None:
    """What a crash left before moves were resumable: the alias moved to 4 with no event and
    no stage tag, and 2 and 3 still tagged production."""
    home = crashed_home
    client = home.registry.client
    client.set_registered_model_alias("wine", T.PRODUCTION, "4")
    client.set_model_version_tag("wine", "2", T.STAGE, T.PRODUCTION)
    found = home.conveyor("models", "doctor", "wine")
    assert found.returncode == 1, found.stderr + found.stdout
    assert "version 4 holds production but is tagged staging" in found.stdout
    assert "versions 2, 3 are tagged production without the alias" in found.stdout
    assert home.tagged(T.PRODUCTION) == ["2", "3"]  # a report changes nothing
    repaired = home.conveyor("models", "doctor", "wine", "--repair")
    assert repaired.returncode == 0, repaired.stderr + repaired.stdout
    assert home.tagged(T.PRODUCTION) == ["4"]
    assert sorted(home.new_events()) == [
        ("2", "reconcile", T.ARCHIVED),
        ("3", "reconcile", T.ARCHIVED),
        ("4", "reconcile", T.PRODUCTION),
    ]
    clean = home.conveyor("models", "doctor", "wine")
    assert clean.returncode == 0, clean.stdout
    assert "consistent" in clean.stdout
