"""Backup and restore, as the runbook tells an operator to do them: the embedded default with
`conveyor backup` taken while a real server writes, restored into another home and served from
there; and the PostgreSQL store with pg_dump / pg_restore."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.serving.conftest import BIN, Registered
from tests.serving.server import running_server
from tests.serving.test_monitoring import wine_rows

pytestmark = pytest.mark.integration


def conveyor(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = Registered(home, home, "wine").env()
    return subprocess.run(
        [str(BIN / "conveyor"), *args], env=env, capture_output=True, text=True, timeout=300
    )


def rows_in(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_backup_while_serving_then_restore_elsewhere_and_serve(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path / "original")
    rows = wine_rows(40, 3)
    with running_server(reg, "wine") as server:
        answers = [
            httpx.post(f"{server.url}/predict", json={"instances": [r]}, timeout=10).json()
            for r in rows
        ]
        taken = conveyor(reg.home, "backup", "--out", str(tmp_path / "backup"), "--json")
        assert taken.returncode == 0, taken.stderr
    manifest = json.loads(taken.stdout)
    assert manifest["home"] == str(reg.home)
    assert manifest["rows"]["model_versions"] == 2
    # stopped, the server drained its spool: everything answered is in the store or the backup
    backed = manifest["rows"]["inference_log"] + sum(
        1 for _ in (tmp_path / "backup" / "spool").rglob("*.seg")
    )
    assert backed >= 1

    moved = tmp_path / "elsewhere" / "home"
    restored = conveyor(moved, "restore", str(tmp_path / "backup"), "--json")
    assert restored.returncode == 0, restored.stderr
    shown = conveyor(moved, "models", "show", "wine", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [v["stage"] for v in json.loads(shown.stdout)] == ["production", "staging"]
    history = conveyor(moved, "models", "history", "wine", "--json")
    assert history.returncode == 0 and len(json.loads(history.stdout)) >= 2

    shutil.rmtree(reg.home)  # the original is gone: the restored home must stand alone
    again = Registered(moved, reg.project, "wine")
    with running_server(again, "wine") as server:
        answer = httpx.post(f"{server.url}/predict", json={"instances": [rows[0]]}).json()
        assert answer["predictions"] == answers[0]["predictions"]
        assert answer["model"]["version"] == "1"
    assert rows_in(moved / "conveyor.db", "inference_log") >= manifest["rows"]["inference_log"]


def test_restore_refuses_a_damaged_backup_and_an_occupied_home(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path / "original")
    assert conveyor(reg.home, "backup", "--out", str(tmp_path / "b")).returncode == 0
    occupied = conveyor(reg.home, "restore", str(tmp_path / "b"))
    assert occupied.returncode == 2 and "--force" in occupied.stderr
    assert conveyor(reg.home, "restore", str(tmp_path / "b"), "--force").returncode == 0

    with (tmp_path / "b" / "conveyor.db").open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00garbage\x00")
    damaged = conveyor(tmp_path / "fresh", "restore", str(tmp_path / "b"))
    assert damaged.returncode == 2 and "checksum" in damaged.stderr
    assert not (tmp_path / "fresh" / "conveyor.db").exists()
    busy = conveyor(reg.home, "backup", "--out", str(tmp_path / "b"))
    assert busy.returncode == 2 and "not empty" in busy.stderr


@pytest.mark.postgres
def test_the_postgresql_store_survives_pg_dump_and_pg_restore(tmp_path: Path) -> None:
    from conveyor.store.engine import Store
    from conveyor.store.tables import feedback
    from tests.integration.test_postgres import postgres_database

    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        pytest.skip("pg_dump / pg_restore not installed (postgresql-client)")
    with postgres_database("conveyor_bk") as source, postgres_database("conveyor_rs") as target:
        store = Store(source).create()
        with store.engine.begin() as conn:
            conn.execute(
                feedback.insert(),
                [
                    {"request_id": f"r{i}", "row": 0, "at": datetime.now(UTC), "label": i % 3}
                    for i in range(25)
                ],
            )
        store.close()

        def libpq(url: str) -> str:  # pg_dump speaks libpq URLs, without SQLAlchemy's driver
            return url.replace("postgresql+psycopg://", "postgresql://")

        dump = tmp_path / "store.dump"
        # the runbook's commands
        subprocess.run([pg_dump, "-Fc", "-f", str(dump), libpq(source)], check=True, timeout=120)
        subprocess.run(
            [pg_restore, "--no-owner", "-d", libpq(target), str(dump)], check=True, timeout=120
        )
        restored = Store(target).create()
        with restored.engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar_one()
        restored.close()
        assert count == 25
