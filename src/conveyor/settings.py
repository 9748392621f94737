"""Process settings, read once from the environment (prefix ``CONVEYOR_``) at the edge.

This is the only module that reads or writes the environment. Everything else receives a
``Settings``; what child processes and other libraries read from the environment is set by the
functions at the end.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from conveyor.notify import WebhookPolicy


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


LEGACY_STAGES = {"Production": "production", "Staging": "staging"}
MIN_ADMIN_TOKEN = 16  # characters; shorter tokens are refused at start


class Settings(BaseSettings):
    """Where Conveyor keeps its state and how it logs.

    Every path default hangs off ``home`` so one variable moves all embedded files.
    """

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore", populate_by_name=True)
    _tracking_source: str = PrivateAttr(default="CONVEYOR_TRACKING_URI")

    home: Path = Field(
        default=Path(".conveyor"),
        description="Directory for every embedded file (MLflow database, artifacts, store).",
    )
    tracking_uri: str = Field(
        default="",
        description="MLflow tracking URI; default MLFLOW_TRACKING_URI (MLflow's own variable) "
        "when that is set, else sqlite:///<home>/mlflow.db.",
    )
    mlflow_tracking_uri: str = Field(
        default="",
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow's own variable: the tracking URI when CONVEYOR_TRACKING_URI is unset.",
    )
    artifact_root: str = Field(
        default="",
        description="Artifact location for new experiments on a local store; default <home>/artifacts.",
    )
    store_url: str = Field(
        default="",
        description="SQLAlchemy URL of Conveyor's own store; default sqlite:///<home>/conveyor.db.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "conveyor",
        description="Machine-wide cache (the empty MLflow schema template).",
    )
    experiment: str = Field(
        default="",
        description="MLflow experiment name; default the model name from the spec.",
    )
    log_level: str = Field(
        default="WARNING",
        validation_alias=AliasChoices("CONVEYOR_LOG_LEVEL", "LOG_LEVEL"),
        description="Level for Conveyor's own log lines (LOG_LEVEL also works).",
    )
    log_format: LogFormat = Field(
        default=LogFormat.TEXT,
        validation_alias=AliasChoices("CONVEYOR_LOG_FORMAT", "LOG_FORMAT"),
        description="text or json log lines (LOG_FORMAT also works).",
    )
    otlp_endpoint: str = Field(
        default="",
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "CONVEYOR_OTLP_ENDPOINT"),
        description="OpenTelemetry collector (OTLP/HTTP, e.g. http://otel-collector:4318): spans "
        "for requests and runs go to <endpoint>/v1/traces; unset: no tracing.",
    )
    otel_service_name: str = Field(
        default="",
        validation_alias=AliasChoices("OTEL_SERVICE_NAME", "CONVEYOR_OTEL_SERVICE_NAME"),
        description="service.name of the spans; default conveyor-serve or conveyor-run.",
    )
    tracking_timeout_s: float = Field(
        default=5.0, description="How long to wait for a remote tracking server to answer a probe."
    )

    # -- serving -------------------------------------------------------------------------
    model_name: str = Field(
        default="",
        validation_alias=AliasChoices("CONVEYOR_MODEL_NAME", "MLFLOW_MODEL_NAME"),
        description="Registered model the server loads (MLFLOW_MODEL_NAME also works).",
    )
    model_stage: str = Field(
        default="production",
        validation_alias=AliasChoices("CONVEYOR_MODEL_STAGE", "MLFLOW_MODEL_STAGE"),
        description="Alias the server follows (MLFLOW_MODEL_STAGE also works; MLflow's legacy "
        "stage names Production and Staging mean the production and staging aliases).",
    )
    model_version: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CONVEYOR_MODEL_VERSION", "MLFLOW_MODEL_VERSION"),
        description="Serve this version of the model whatever its aliases say (a pinned "
        "deployment: `conveyor k8s render --version` writes it); unset: follow "
        "CONVEYOR_MODEL_STAGE.",
    )
    model_path: Path | None = Field(
        default=None, description="A local model directory to serve instead of the registry."
    )
    backend: str | None = Field(
        default=None,
        description="v2://HOST:PORT[/MODEL]: run the model on this Open Inference Protocol server "
        "(Triton, KServe, MLServer, Seldon) while Conveyor validates, logs, monitors and routes; "
        "VERSION=URL entries (comma-separated) send only that version there; unset: in-process.",
    )
    feast_repo: Path | None = Field(
        default=None,
        description="The Feast repository (its feature_store.yaml) whose online store answers "
        "entity-key requests to a model trained with data.feast; unset: the repository it was "
        "trained with.",
    )
    feature_age_check_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the server reads when each feature view was last materialized "
        "(conveyor_feature_age_seconds).",
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="Set (by `conveyor serve --workers N`) when several workers share metrics.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CONVEYOR_ADMIN_TOKEN", "ADMIN_API_TOKEN"),
        description="Bearer token for /admin endpoints; unset disables them (ADMIN_API_TOKEN "
        "also works).",
    )
    refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        validation_alias=AliasChoices("CONVEYOR_REFRESH_SECONDS", "MODEL_AUTO_REFRESH_SECONDS"),
        description="How often the server checks whether its alias moved; 0 never "
        "(MODEL_AUTO_REFRESH_SECONDS also works).",
    )
    retire_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a model taken out of service (a swap, a rollout's candidate "
        "dropped) keeps answering the requests that took it before; any still running then "
        "get 503.",
    )
    max_batch_rows: int = Field(default=256, ge=1, description="Rows merged into one model call.")
    max_batch_wait_ms: float = Field(
        default=0.0, ge=0, description="Extra wait for a batch to fill; 0 is adaptive (no wait)."
    )
    max_queue: int = Field(
        default=2048, ge=1, description="Queued requests before 503 + Retry-After."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Larger bodies get 413."
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Request line and headers together; a larger head gets 431 and the "
        "connection is closed.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request must send its headers within this time of its first byte (or "
        "of connecting); slower ones get 408 and are closed.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request must send its whole body within this time once its headers are "
        "in; slower ones get 408.",
    )
    max_connections: int = Field(
        default=2048,
        ge=1,
        description="Open connections and requests in progress per server process; requests "
        "past it get 503 at once.",
    )
    max_request_rows: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Rows one request may carry (/predict instances or features, a V2 tensor's first "
            "dimension); more get 413. Bounds the decoding, model call and inference-log row of "
            "a single request; score larger sets in several requests."
        ),
    )
    unseen_categories: Literal["allow", "reject"] = Field(
        default="allow", description="What to do with a category the model never saw."
    )
    inference_log: bool = Field(default=True, description="Write every prediction to the store.")
    inference_log_buffer: int = Field(
        default=100_000, ge=100, description="Records held in memory before new ones are dropped."
    )
    inference_log_batch: int = Field(
        default=2000, ge=1, description="Records per spooled segment, at most."
    )
    inference_log_retention_days: float = Field(
        default=30.0, ge=0, description="Inference-log and feedback rows kept; 0 keeps all."
    )
    monitoring: bool = Field(
        default=True, description="Count drift and health per version and evaluate alerts."
    )
    monitor_interval_seconds: float | None = Field(
        default=None, gt=0, description="Alert evaluation period; default the version's spec."
    )
    monitor_flush_seconds: float = Field(
        default=5.0, gt=0, description="How often live counts are written to the store."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key signing webhook bodies (alerts, rollouts)."
    )
    webhook_allow: str = Field(
        default="",
        description="Hosts (names) or networks (CIDR) webhooks may reach although they are not "
        "public, comma separated (an in-cluster Alertmanager: 'alertmanager.monitoring.svc' or "
        "'10.0.0.0/8'). Loopback, private and link-local (cloud metadata) addresses are refused "
        "otherwise.",
    )
    rollout_poll_seconds: float = Field(
        default=2.0, ge=0, description="How often a server reads its model's rollout; 0: never."
    )
    rollout_controller: bool = Field(
        default=True, description="Run the rollout controller in the server (one leader, by lease)."
    )
    rollout_controller_seconds: float = Field(
        default=5.0, gt=0, description="How often the rollout leader checks its rollouts."
    )
    mlflow_ui_url: str = Field(
        default="",
        description="Base URL of an MLflow UI on the same registry; the console links runs "
        "and versions to it. Empty: no links.",
    )
    console_port: int = Field(default=8100, ge=1, le=65535, description="`conveyor ui`'s port.")
    ort_threads: int = Field(
        default=1, ge=1, description="ONNX Runtime intra-op threads per worker."
    )
    inference_log_sync: bool = Field(
        default=False,
        description="Answer a prediction only once its inference-log record is written and "
        "fsynced to the spool (concurrent requests share one write and fsync); off, records "
        "wait up to 0.5 s in memory and a crash of the process (kill -9) loses them.",
    )
    inference_log_spool_max_bytes: int = Field(
        default=1024**3,
        ge=0,
        description="Size of the inference-log spool (segments not yet in the store) at which "
        "CONVEYOR_INFERENCE_LOG_WHEN_FULL applies; 0: no limit.",
    )
    inference_log_when_full: Literal["reject", "drop_oldest"] = Field(
        default="reject",
        description="When the spool or the in-memory buffer is full, or the spool cannot be "
        "written: reject (answer predictions 503 with Retry-After and report not ready: no "
        "prediction is answered that the log cannot keep) or drop_oldest (keep answering; "
        "delete the oldest records, counted in conveyor_inference_log_dropped_total).",
    )
    inference_log_max_rows: int = Field(
        default=1000,
        ge=0,
        description="Rows of one request's inputs and outputs kept in the inference log; a "
        "larger request keeps its row count and its first rows only. 0: keep every row.",
    )
    prediction_log_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of answered requests logged as one structured line each (logger "
        "conveyor.predictions; with CONVEYOR_LOG_FORMAT=json the request id, model, version, "
        "arm, latency, predictions and inputs are JSON keys for Loki or any log pipeline), "
        "sampled by request id. 0: off.",
    )
    prediction_log_max_bytes: int = Field(
        default=4096,
        ge=64,
        description="JSON size at which a prediction line's inputs (and predictions) are cut, "
        "marked truncated.",
    )
    feedback_max_items: int = Field(
        default=10_000,
        ge=1,
        description="Labels in one POST /feedback; a larger batch gets 413 (send it in parts).",
    )
    feedback_rate: float = Field(
        default=20_000,
        ge=0,
        description="Labels per second one server process accepts on POST /feedback, in bursts "
        "of up to feedback_max_items; beyond it 429 with Retry-After. 0: no limit.",
    )
    feedback_recent_ids: int = Field(
        default=50_000,
        ge=0,
        description="Request ids of its latest answers each server process remembers, so a "
        "label sent before its prediction reaches the store joins at once.",
    )
    feedback_pending_max: int = Field(
        default=10_000,
        ge=0,
        description="Labels held (all processes together) while no logged prediction matches "
        "them yet; labels beyond it are refused. 0 refuses every label without a prediction.",
    )
    feedback_pending_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long a held label waits for its prediction to be logged before it is "
        "dropped.",
    )

    @field_validator("webhook_allow")
    @classmethod
    def _networks(cls, text: str) -> str:
        from conveyor.notify import WebhookPolicy

        WebhookPolicy.parse(text)  # a malformed network is refused at start
        return text

    @property
    def webhook_policy(self) -> WebhookPolicy:
        from conveyor.notify import WebhookPolicy

        return WebhookPolicy.parse(self.webhook_allow)

    @field_validator("model_version")
    @classmethod
    def _unpinned_when_empty(cls, version: str | None) -> str | None:
        return version or None  # an overlay unpins with an empty value

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_ADMIN_TOKEN:
            raise ValueError(
                f"must be at least {MIN_ADMIN_TOKEN} characters (it guards "
                "promotion and rollback); make one with: python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return token

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        home = self.home.expanduser().resolve()
        self.home = home
        if not self.tracking_uri and self.mlflow_tracking_uri:
            self.tracking_uri = self.mlflow_tracking_uri
            self._tracking_source = "MLFLOW_TRACKING_URI"
        if not self.tracking_uri:
            self.tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
            self._tracking_source = "default"
        # MLflow's legacy stage names, as the MLFLOW_MODEL_STAGE of existing services spells them
        self.model_stage = LEGACY_STAGES.get(self.model_stage, self.model_stage)
        if not self.artifact_root:
            self.artifact_root = (home / "artifacts").as_uri()
        if not self.store_url:
            self.store_url = f"sqlite:///{home / 'conveyor.db'}"
        return self

    @property
    def tracking_source(self) -> str:
        """Where the tracking URI came from: CONVEYOR_TRACKING_URI, MLFLOW_TRACKING_URI or
        default (the embedded SQLite file)."""
        return self._tracking_source

    @property
    def tracking_is_local(self) -> bool:
        """True unless tracking goes through an MLflow server (http/https/databricks).

        A local store (SQLite, a file path, or a database URL MLflow opens itself) keeps its
        artifacts under ``artifact_root`` and needs no reachability probe.
        """
        return not self.tracking_uri.startswith(("http://", "https://", "databricks"))


# MLflow reports usage to an outside server unless told not to, and decides at import time;
# Conveyor's embedded default keeps everything on this machine. A user may still opt in.
_MLFLOW_TELEMETRY = "MLFLOW_DISABLE_TELEMETRY"


def keep_mlflow_local() -> None:
    """Turn MLflow's telemetry off for this process, unless the user set it."""
    os.environ.setdefault(_MLFLOW_TELEMETRY, "true")


def settings_variables(settings: Settings) -> dict[str, str]:
    """The ``CONVEYOR_*`` variables from which a child process (``conveyor serve``, a uvicorn
    worker) builds the same settings: home, registry, store and the model it serves."""
    found = {
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_TRACKING_URI": settings.tracking_uri,
        "CONVEYOR_STORE_URL": settings.store_url,
        "CONVEYOR_MODEL_STAGE": settings.model_stage,
        "CONVEYOR_REFRESH_SECONDS": str(settings.refresh_seconds),
        "CONVEYOR_MODEL_NAME": settings.model_name,
        "CONVEYOR_MODEL_PATH": None if settings.model_path is None else str(settings.model_path),
        "CONVEYOR_MODEL_VERSION": settings.model_version,
        "CONVEYOR_BACKEND": settings.backend,
    }
    return {name: value for name, value in found.items() if value}


def child_environment(settings: Settings) -> dict[str, str]:
    """This process's environment for a child process of ``settings``, MLflow kept local."""
    telemetry = {_MLFLOW_TELEMETRY: os.environ.get(_MLFLOW_TELEMETRY, "true")}
    return {**os.environ, **telemetry, **settings_variables(settings)}


def export_to_workers(settings: Settings, **extra: str) -> None:
    """Export ``settings`` (and ``extra`` variables) to the workers this process will start
    and that inherit its environment (uvicorn's)."""
    os.environ.update(settings_variables(settings) | extra)


def spark_workers_run_here() -> None:
    """Spark's Python workers must be this interpreter (with Conveyor and its libraries), not
    the first python3 on PATH; PYSPARK_PYTHON is Spark's variable, read when they start."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@contextlib.contextmanager
def environment_kept(*names: str) -> Iterator[None]:
    """Put ``names`` back as they were once the block ends: a library that exports what it is
    given (MLflow's setters export the tracking URI) must not change what the user set."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
