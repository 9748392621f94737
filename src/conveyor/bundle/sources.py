"""Where a served model comes from: a registry alias (cached per version) or a local directory."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conveyor.bundle.model import BUNDLE_DIR, SCHEMA_FILE, Bundle, ModelIdentity, read_bundle
from conveyor.errors import NotFoundError, ServiceUnavailableError
from conveyor.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from conveyor.data.schema import Schema

COMPLETE_MARKER = ".conveyor-complete"
PINNED = "pinned"  # the stage of a version served by number (CONVEYOR_MODEL_VERSION)


class ModelSource(Protocol):
    @property
    def versioned(self) -> bool:
        """Whether ``version`` finds versions besides the served one (a rollout's candidate)."""
        ...

    @property
    def pinned(self) -> str | None:
        """The version served whatever the alias says, or None: a pin, not a rollout that
        succeeded, says what runs."""
        ...

    def current(self) -> ModelIdentity:
        """Which version should be served now (cheap: called on every refresh)."""
        ...

    def version(self, version: str) -> ModelIdentity:
        """A given version of the model; ``NotFoundError`` when the source has no such one."""
        ...

    def fetch(self, identity: ModelIdentity) -> Path:
        """A local directory holding that version."""
        ...


@dataclass
class LocalSource:
    """A model directory: one version, never another."""

    path: Path

    @property
    def versioned(self) -> bool:
        return False

    @property
    def pinned(self) -> str | None:
        return None

    def current(self) -> ModelIdentity:
        return ModelIdentity(name=self.path.resolve().name, version="local", stage="local")

    def version(self, version: str) -> ModelIdentity:
        raise NotFoundError(
            f"{self.path} is one model directory: it has no version {version} (serve a "
            "registered model to roll out another version)"
        )

    def fetch(self, identity: ModelIdentity) -> Path:
        return self.path


def _missing(path: Path) -> str:
    return (
        f"no MLflow registry at {path} (conveyor run registers a first version; "
        "CONVEYOR_TRACKING_URI points elsewhere)"
    )


class RegistrySource:
    """The version behind ``alias`` of ``name`` in MLflow; downloads are cached per version."""

    versioned = True

    def __init__(
        self, settings: Settings, name: str, alias: str, pinned: str | None = None
    ) -> None:
        self.settings = settings
        self.name = name
        self.alias = alias
        self.pinned = pinned  # a version served whatever the alias says (stage "pinned")
        self._client: MlflowClient | None = None
        self._file_id: tuple[int, int] | None = None

    def _registry(self) -> MlflowClient:
        """MLflow, for what the direct read cannot answer. An embedded registry file must exist
        (serving never creates one: an empty registry made while the real file was moved away
        would be read, and held open, in its place) and is re-opened when the file was
        replaced (a restore, a move back), since MLflow keeps connections to the old file."""
        from conveyor.registry.client import connect, reopen

        file_id = self._registry_file_id()
        if self._client is not None and file_id != self._file_id:
            reopen(self._client)
            self._client = None
        if self._client is None:
            self._client = connect(self.settings, create=False)
            self._file_id = file_id
        return self._client

    def _registry_file_id(self) -> tuple[int, int] | None:
        """(device, inode) of the embedded registry; None for a registry elsewhere. Raises
        ``ServiceUnavailableError`` when the file is missing."""
        uri = self.settings.tracking_uri
        if not uri.startswith("sqlite:///"):
            return None
        path = Path(uri.removeprefix("sqlite:///"))
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ServiceUnavailableError(_missing(path)) from None
        return stat.st_dev, stat.st_ino

    def current(self) -> ModelIdentity:
        self._registry_file_id()  # a missing registry is unreachable, not "no such version"
        if self.pinned is not None:
            return replace(self.version(self.pinned), stage=PINNED)
        found = self._read_local_registry()
        if found is not None:
            return self._identity(*found)
        return self._current_through_mlflow()

    def _read_local_registry(
        self, version: str | None = None
    ) -> tuple[str, str, dict[str, str]] | None:
        """The version behind this source's alias (or ``version`` itself) read straight from the
        embedded SQLite registry, read-only, in a few milliseconds: importing MLflow to ask it
        costs ~1 s on every start and refresh. None when the registry is not a local SQLite
        file, the version is not there, or its tables are not the ones this query knows;
        MLflow then answers (and reports a missing alias or version properly)."""
        uri = self.settings.tracking_uri
        if not uri.startswith("sqlite:///"):
            return None
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ServiceUnavailableError(_missing(path))
        import sqlite3

        if version is None:
            query = (
                "SELECT mv.version, mv.run_id FROM registered_model_aliases a "
                "JOIN model_versions mv ON mv.name = a.name AND mv.version = a.version "
                "WHERE a.name = ? AND a.alias = ?"
            )
            params: tuple[str, ...] = (self.name, self.alias)
        else:
            query = "SELECT version, run_id FROM model_versions WHERE name = ? AND version = ?"
            params = (self.name, str(version))
        try:
            with contextlib.closing(
                sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
            ) as conn:
                row = conn.execute(query, params).fetchone()
                if row is None:
                    return None
                tags = dict(
                    conn.execute(
                        "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                        (self.name, row[0]),
                    ).fetchall()
                )
        except sqlite3.Error:
            return None
        return str(row[0]), row[1] or "", tags

    def _current_through_mlflow(self) -> ModelIdentity:
        """The alias's version; without the alias, the newest version in MLflow's deprecated
        stage of the same name (``Production``, ``Staging``) — aliases win when both exist."""
        from conveyor.registry.client import legacy_stage_version, mlflow_errors

        client = self._registry()
        try:
            with mlflow_errors():
                mv = client.get_model_version_by_alias(self.name, self.alias)
        except NotFoundError:
            mv = legacy_stage_version(client, self.name, self.alias)
            if mv is None:
                raise NotFoundError(
                    f"model {self.name!r} has no version with alias {self.alias!r} (nor in "
                    f"MLflow's legacy stage {self.alias.capitalize()!r})"
                ) from None
        return self._identity(str(mv.version), mv.run_id or "", dict(mv.tags))

    def version(self, version: str) -> ModelIdentity:
        """A given version of the model, whatever its aliases (``stage`` stays the alias this
        source follows)."""
        found = self._read_local_registry(version=version)
        if found is not None:
            return self._identity(*found)
        from conveyor.registry.client import mlflow_errors

        client = self._registry()
        with mlflow_errors(f"model {self.name!r} has no version {version}"):
            mv = client.get_model_version(self.name, version)
        return self._identity(str(mv.version), mv.run_id or "", dict(mv.tags))

    def _identity(self, version: str, run_id: str, tags: dict[str, str]) -> ModelIdentity:
        from conveyor.registry import tags as T

        metrics = {
            k.removeprefix(T.METRIC_PREFIX): float(v)
            for k, v in tags.items()
            if k.startswith(T.METRIC_PREFIX)
        }
        return ModelIdentity(
            name=self.name,
            version=version,
            stage=self.alias,
            semver=tags.get(T.SEMVER, ""),
            run_id=run_id,
            metrics=metrics,
        )

    def fetch(self, identity: ModelIdentity) -> Path:
        import mlflow

        from conveyor.registry.client import mlflow_errors

        target = self.settings.home / "cache" / "models" / self.name / identity.version
        if (target / COMPLETE_MARKER).exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        self._registry()  # points MLflow at this registry (the alias may have been read directly)
        staging = Path(tempfile.mkdtemp(prefix=f".{identity.version}-", dir=target.parent))
        try:
            with mlflow_errors(f"model {self.name!r} has no version {identity.version}"):
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{self.name}/{identity.version}", dst_path=str(staging)
                )
            Path(local, COMPLETE_MARKER).touch()
            try:
                Path(local).rename(target)
            except OSError:  # another worker finished the same download first
                if not (target / COMPLETE_MARKER).exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target


def registered_bundle(
    settings: Settings, name: str, version: str | None = None, stage: str = "production"
) -> Bundle:
    """A registered version's bundle (schema, reference profile, monitoring settings, holdout
    metrics): the version behind ``stage`` unless ``version`` names one. Downloads are cached
    like the server's."""
    source = RegistrySource(settings, name, stage)
    identity = source.version(version) if version else source.current()
    return read_bundle(source.fetch(identity), identity)


def registered_schema(client: MlflowClient, name: str, version: str) -> Schema | None:
    """The schema saved with a version, or None for versions registered without one. A
    registry or artifact store that cannot answer raises: "unreachable" is not "no schema",
    or the schema-compatibility gate would pass unchecked."""
    import json

    import mlflow

    from conveyor.data.schema import Schema
    from conveyor.registry.client import mlflow_errors

    with mlflow_errors(f"model {name!r} has no version {version}"):
        location = client.get_model_version_download_uri(name, version).rstrip("/")
    with mlflow_errors(), tempfile.TemporaryDirectory() as tmp:
        saved = mlflow.artifacts.list_artifacts(artifact_uri=f"{location}/{BUNDLE_DIR}")
        if not any(Path(item.path).name == SCHEMA_FILE for item in saved or []):
            return None
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location}/{BUNDLE_DIR}/{SCHEMA_FILE}", dst_path=tmp
        )
        return Schema.from_dict(json.loads(Path(path).read_text()))
