"""Where a served model comes from: a registry alias (cached per version) or a local directory."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conveyor.errors import NotFoundError
from conveyor.serving.bundle import ModelIdentity
from conveyor.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

COMPLETE_MARKER = ".conveyor-complete"


class ModelSource(Protocol):
    def current(self) -> ModelIdentity:
        """Which version should be served now (cheap: called on every refresh)."""
        ...

    def fetch(self, identity: ModelIdentity) -> Path:
        """A local directory holding that version."""
        ...


@dataclass
class LocalSource:
    path: Path

    def current(self) -> ModelIdentity:
        return ModelIdentity(name=self.path.resolve().name, version="local", stage="local")

    def fetch(self, identity: ModelIdentity) -> Path:
        return self.path


class RegistrySource:
    """The version behind ``alias`` of ``name`` in MLflow; downloads are cached per version."""

    def __init__(self, settings: Settings, name: str, alias: str) -> None:
        self.settings = settings
        self.name = name
        self.alias = alias
        self._client: MlflowClient | None = None

    def _registry(self) -> MlflowClient:
        if self._client is None:
            from conveyor.registry.client import connect

            self._client = connect(self.settings)
        return self._client

    def current(self) -> ModelIdentity:
        from mlflow.exceptions import MlflowException

        from conveyor.registry import tags as T
        from conveyor.registry.client import mlflow_errors

        client = self._registry()
        with mlflow_errors():
            try:
                mv = client.get_model_version_by_alias(self.name, self.alias)
            except MlflowException:
                raise NotFoundError(
                    f"model {self.name!r} has no version with alias {self.alias!r}"
                ) from None
        tags = dict(mv.tags)
        metrics = {
            k.removeprefix(T.METRIC_PREFIX): float(v)
            for k, v in tags.items()
            if k.startswith(T.METRIC_PREFIX)
        }
        return ModelIdentity(
            name=self.name,
            version=str(mv.version),
            stage=self.alias,
            semver=tags.get(T.SEMVER, ""),
            run_id=mv.run_id or "",
            metrics=metrics,
        )

    def fetch(self, identity: ModelIdentity) -> Path:
        import mlflow

        from conveyor.registry.client import mlflow_errors

        target = self.settings.home / "cache" / "models" / self.name / identity.version
        if (target / COMPLETE_MARKER).exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
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
