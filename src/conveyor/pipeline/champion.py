"""Load a registered version's bundle (model, schema) to compare the candidate with it."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Schema
from conveyor.registry.client import mlflow_errors

if TYPE_CHECKING:
    from mlflow import MlflowClient

BUNDLE_DIR = "extra_files"


@dataclass
class Bundle:
    version: str
    model: Any
    schema: Schema | None


def load_schema(client: MlflowClient, name: str, version: str) -> Schema | None:
    """The schema saved with a version, or None for versions registered without one. A
    registry or artifact store that cannot answer raises: "unreachable" is not "no schema",
    or the schema-compatibility gate would pass unchecked."""
    import mlflow

    with mlflow_errors(f"model {name!r} has no version {version}"):
        location = client.get_model_version_download_uri(name, version).rstrip("/")
    with mlflow_errors(), tempfile.TemporaryDirectory() as tmp:
        saved = mlflow.artifacts.list_artifacts(artifact_uri=f"{location}/{BUNDLE_DIR}")
        if not any(Path(item.path).name == "schema.json" for item in saved or []):
            return None
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location}/{BUNDLE_DIR}/schema.json", dst_path=tmp
        )
        return Schema.from_dict(json.loads(Path(path).read_text()))


def load_bundle(name: str, version: str) -> Bundle:
    import mlflow

    with mlflow_errors(f"model {name!r} has no version {version}"):
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}")
        model = mlflow.sklearn.load_model(local)
    schema_file = Path(local) / BUNDLE_DIR / "schema.json"
    schema = Schema.from_dict(json.loads(schema_file.read_text())) if schema_file.exists() else None
    return Bundle(version, model, schema)
