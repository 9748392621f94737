"""The empty MLflow schema template: built once, holds no rows, and MLflow accepts the copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conveyor.registry.seed import schema_revision, seed_tracking_db


def test_seeded_database_is_a_working_mlflow_store(tmp_path: Path) -> None:
    import mlflow

    cache = tmp_path / "cache"
    first = tmp_path / "a" / "mlflow.db"
    assert seed_tracking_db(first, cache)
    template = next(cache.glob("mlflow-schema-*.db"))
    revision = schema_revision()
    assert revision is not None and revision in template.name
    with sqlite3.connect(template) as conn:
        assert conn.execute("select count(*) from experiments").fetchone() == (0,)
        assert conn.execute("select count(*) from alembic_version").fetchone() == (1,)
    client = mlflow.MlflowClient(f"sqlite:///{first}")
    exp = client.create_experiment("x", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "m", 1.0)
    client.create_registered_model("model-x")
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert [e.name for e in client.search_experiments()] == ["x", "Default"]


def test_template_is_reused_and_existing_databases_are_left_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert seed_tracking_db(tmp_path / "one.db", cache)
    template = next(cache.glob("mlflow-schema-*.db"))
    built = template.stat().st_mtime_ns
    assert seed_tracking_db(tmp_path / "two.db", cache)
    assert template.stat().st_mtime_ns == built
    existing = tmp_path / "three.db"
    existing.write_bytes(b"keep me")
    assert not seed_tracking_db(existing, cache)
    assert existing.read_bytes() == b"keep me"
