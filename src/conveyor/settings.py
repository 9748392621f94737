"""Process settings, read once from the environment (prefix ``CONVEYOR_``) at the edge.

This is the only module that reads the environment. Everything else receives a ``Settings``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """Where Conveyor keeps its state and how it logs.

    Every path default hangs off ``home`` so one variable moves all embedded files.
    """

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    home: Path = Field(
        default=Path(".conveyor"),
        description="Directory for every embedded file (MLflow database, artifacts, store).",
    )
    tracking_uri: str = Field(
        default="",
        description="MLflow tracking URI; default sqlite:///<home>/mlflow.db.",
    )
    artifact_root: str = Field(
        default="",
        description="Artifact location for new experiments on a local store; default <home>/artifacts.",
    )
    store_url: str = Field(
        default="",
        description="SQLAlchemy URL of Conveyor's own store; default sqlite:///<home>/conveyor.db.",
    )
    experiment: str = Field(
        default="",
        description="MLflow experiment name; default the model name from the spec.",
    )
    log_level: str = Field(default="WARNING", description="Level for Conveyor's own log lines.")
    log_format: LogFormat = Field(default=LogFormat.TEXT, description="text or json log lines.")
    tracking_timeout_s: float = Field(
        default=5.0, description="How long to wait for a remote tracking server to answer a probe."
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        home = self.home.expanduser().resolve()
        self.home = home
        if not self.tracking_uri:
            self.tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
        if not self.artifact_root:
            self.artifact_root = (home / "artifacts").as_uri()
        if not self.store_url:
            self.store_url = f"sqlite:///{home / 'conveyor.db'}"
        return self

    @property
    def tracking_is_local(self) -> bool:
        """True when the tracking store is a file or SQLite database on this machine."""
        return not self.tracking_uri.startswith(("http://", "https://", "databricks"))
