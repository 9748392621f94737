"""Start a new local MLflow database from a cached empty one instead of migrating from zero.

Creating MLflow's SQLite schema runs every Alembic migration (about a second, with a thousand
disk syncs). The schema depends only on the MLflow version, so Conveyor builds it once per
schema revision into a cache, with no rows at all, and copies it into each new home. MLflow
then creates its default experiment itself, with this home's paths. Anything unexpected
(a private MLflow helper gone, a failed build) falls back to MLflow's own path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def schema_revision() -> str | None:
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision
    except ImportError:
        return None
    try:
        return str(_get_latest_schema_revision())  # type: ignore[no-untyped-call]
    except Exception:  # an MLflow packaging oddity: use the slow path
        return None


def seed_tracking_db(db_path: Path, cache_dir: Path) -> bool:
    """Copy the empty template to ``db_path`` if it does not exist yet; True when seeded."""
    if db_path.exists():
        return False
    revision = schema_revision()
    if revision is None:
        return False
    template = cache_dir / f"mlflow-schema-{revision}.db"
    try:
        if not template.exists():
            build_template(template)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        partial = db_path.with_name(f".{db_path.name}.seeding-{os.getpid()}")
        shutil.copyfile(template, partial)
        os.replace(partial, db_path)
    except Exception as exc:  # seeding is an optimisation only
        log.warning("could not seed the MLflow database from %s: %s", template, exc)
        return False
    return True


def build_template(template: Path) -> None:
    """Let MLflow create and migrate a scratch database, then empty every table."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
        scratch = Path(tmp) / "scratch.db"
        store = SqlAlchemyStore(f"sqlite:///{scratch}", str(Path(tmp) / "artifacts"))  # type: ignore[no-untyped-call]
        store.engine.dispose()
        with contextlib.closing(sqlite3.connect(scratch)) as conn:
            tables = [
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if row[0] not in ("alembic_version", "sqlite_sequence")
            ]
            conn.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')
            conn.commit()
            conn.execute("VACUUM")
        os.replace(scratch, template)
