"""`conveyor backup` / `conveyor restore` for the embedded default: the Conveyor store and the
MLflow registry as SQLite files, the artifacts beside them, and the inference-log spool.

SQLite files are copied with SQLite's online backup API, so a backup taken while servers write
is a consistent snapshot (WAL included). A manifest records where everything came from and a
checksum of each file; ``restore`` checks them, and when the home moved it rewrites the artifact
location MLflow stored in its database, so the restored registry loads its models from the new
place. PostgreSQL stores and remote tracking servers are backed up with their own tools
(``pg_dump``; the object store's versioning), as ``docs/runbooks.md`` describes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor import __version__
from conveyor.errors import UserError

if TYPE_CHECKING:
    from conveyor.settings import Settings

MANIFEST = "backup.json"
STORE_FILE = "conveyor.db"
REGISTRY_FILE = "mlflow.db"
ARTIFACTS = "artifacts"
SPOOL = "spool"


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    manifest: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), **self.manifest}


def backup(settings: Settings, out: Path) -> BackupResult:
    """Copy the store, the registry, the artifacts and the spool into ``out`` (new or empty)."""
    store = _sqlite_path(settings.store_url, "the Conveyor store (CONVEYOR_STORE_URL)")
    registry = _sqlite_path(settings.tracking_uri, "the MLflow registry (CONVEYOR_TRACKING_URI)")
    artifacts = _file_path(settings.artifact_root)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"--out {out} is not empty; back up into a new directory")
    for source in (store, registry):
        if not source.exists():
            raise UserError(f"nothing to back up: {source} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    _copy_sqlite(store, out / STORE_FILE)
    _copy_sqlite(registry, out / REGISTRY_FILE)
    if artifacts.exists():
        shutil.copytree(artifacts, out / ARTIFACTS)
    spool = settings.home / "spool"
    if spool.exists():  # records not yet in the store: the restored ingester takes them
        shutil.copytree(spool, out / SPOOL, ignore=shutil.ignore_patterns("*.tmp"))
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "conveyor_version": __version__,
        "home": str(settings.home),
        "artifact_root": str(artifacts),
        "sha256": {name: _sha256(out / name) for name in (STORE_FILE, REGISTRY_FILE)},
        "rows": _counts(out),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BackupResult(out, manifest)


def restore(settings: Settings, source: Path, force: bool = False) -> BackupResult:
    """Put a backup back under ``settings``' home; the servers using it must be stopped."""
    manifest_path = source / MANIFEST
    if not manifest_path.exists():
        raise UserError(f"{source} is not a Conveyor backup (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name, digest in manifest["sha256"].items():
        if _sha256(source / name) != digest:
            raise UserError(f"{source / name} does not match its checksum: the backup is damaged")
    store = _sqlite_path(settings.store_url, "the Conveyor store (CONVEYOR_STORE_URL)")
    registry = _sqlite_path(settings.tracking_uri, "the MLflow registry (CONVEYOR_TRACKING_URI)")
    artifacts = _file_path(settings.artifact_root)
    present = [p for p in (store, registry, artifacts) if p.exists()]
    if present and not force:
        names = ", ".join(str(p) for p in present)
        raise UserError(f"restore would replace {names}; stop the servers, then pass --force")
    settings.home.mkdir(parents=True, exist_ok=True)
    for target, name in ((store, STORE_FILE), (registry, REGISTRY_FILE)):
        for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(source / name, target)
    if artifacts.exists():
        shutil.rmtree(artifacts)
    if (source / ARTIFACTS).exists():
        shutil.copytree(source / ARTIFACTS, artifacts)
    if (source / SPOOL).exists():
        shutil.copytree(source / SPOOL, settings.home / "spool", dirs_exist_ok=True)
    old_root = str(manifest["artifact_root"])
    if old_root != str(artifacts):
        _relocate(registry, old_root, str(artifacts))
    return BackupResult(source, {**manifest, "restored_to": str(settings.home)})


def _relocate(registry: Path, old: str, new: str) -> None:
    """Point every artifact location MLflow stored (experiments, runs, model versions, logged
    models...) at the new artifact root: each text column, wherever it starts with the old."""
    with sqlite3.connect(registry) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [
                r[1]
                for r in conn.execute(f'PRAGMA table_info("{table}")')
                if "CHAR" in r[2].upper() or "TEXT" in r[2].upper()
            ]
            for column in columns:
                for prefix_old, prefix_new in ((f"file://{old}", f"file://{new}"), (old, new)):
                    conn.execute(
                        f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                        f'WHERE substr("{column}", 1, ?) = ?',
                        (prefix_new, len(prefix_old) + 1, len(prefix_old), prefix_old),
                    )


def _copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    # the copy is a plain rollback-journal file until a server opens it in WAL mode again


def _counts(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with sqlite3.connect(folder / STORE_FILE) as conn:
        for table in ("inference_log", "feedback", "audit_events", "rollouts", "alerts"):
            try:
                counts[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            except sqlite3.OperationalError:
                counts[table] = 0
    with sqlite3.connect(folder / REGISTRY_FILE) as conn:
        counts["model_versions"] = int(
            conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]
        )
    return counts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sqlite_path(url: str, what: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise UserError(
            f"{what} is not a SQLite file; back up PostgreSQL with pg_dump and a remote MLflow "
            "with its database and object store (docs/runbooks.md#backup-and-restore)"
        )
    return Path(url.removeprefix("sqlite:///"))


def _file_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    if "://" in uri:
        raise UserError(f"artifacts at {uri} are not local files; back up that store itself")
    return Path(uri)
