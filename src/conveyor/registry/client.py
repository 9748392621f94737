"""Connection to MLflow and the one place MLflow errors become Conveyor errors."""

from __future__ import annotations

import contextlib
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.display import mask_urls, safe_url
from conveyor.errors import ConveyorError, NotFoundError, ServiceUnavailableError
from conveyor.registry.seed import seed_tracking_db
from conveyor.settings import environment_kept

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from conveyor.settings import Settings

log = logging.getLogger(__name__)


@contextlib.contextmanager
def mlflow_errors(what: str = "") -> Iterator[None]:
    """Translate MLflow and transport errors raised inside the block."""
    from mlflow.exceptions import MlflowException, RestException

    try:
        yield
    except RestException as exc:
        message = mask_urls(exc.message)  # MLflow quotes the tracking URI, password included
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in message.lower():
            raise NotFoundError(what or message) from None
        if exc.error_code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"):
            raise ServiceUnavailableError(f"MLflow registry unavailable: {message[:300]}") from None
        raise ConveyorError(f"MLflow: {message}") from None
    except MlflowException as exc:
        message = mask_urls(exc.message)
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in message.lower():
            raise NotFoundError(what or message) from None
        if ("API request" in message and "failed" in message) or _database_down(message):
            raise ServiceUnavailableError(f"MLflow registry unavailable: {message[:300]}") from None
        raise ConveyorError(f"MLflow: {message}") from None


def _database_down(message: str) -> bool:
    """MLflow's SQL stores pass the driver's error on: a database that cannot be opened,
    is locked, or refuses connections is unavailable, not "not found" nor a bad request."""
    return any(
        marker in message
        for marker in ("OperationalError", "unable to open database", "could not connect")
    )


def probe_tracking(settings: Settings) -> None:
    """Fail fast, with a clear message, when a remote tracking server does not answer."""
    if settings.tracking_is_local:
        return
    shown = safe_url(settings.tracking_uri)
    try:
        with urllib.request.urlopen(
            _health_request(settings.tracking_uri), timeout=settings.tracking_timeout_s
        ) as resp:
            if resp.status >= 500:
                raise ServiceUnavailableError(
                    f"MLflow tracking server {shown} answered {resp.status}"
                )
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        reason = mask_urls(str(getattr(exc, "reason", exc)))
        raise ServiceUnavailableError(
            f"MLflow tracking server {shown} is unreachable ({reason}); check CONVEYOR_TRACKING_URI"
        ) from None


def _health_request(tracking_uri: str) -> urllib.request.Request:
    """GET <uri>/health; credentials in the URI (as MLflow accepts them) become a Basic header,
    since urllib would take ``user:password@host`` for the host name."""
    import base64
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(tracking_uri.rstrip("/") + "/health")
    headers: dict[str, str] = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return urllib.request.Request(parts.geturl(), headers=headers)


def connect(settings: Settings, create: bool = True) -> MlflowClient:
    """Point MLflow at the configured store and return a client.

    MLflow's fluent API keeps the tracking URI in process state; this is the one place that
    sets it, from ``Settings``, before anything logs. Without ``create``, a missing embedded
    registry file is unavailable instead of made (readers such as the server never create
    the registry as a side effect).
    """
    import mlflow

    probe_tracking(settings)
    if not create and settings.tracking_uri.startswith("sqlite:///"):
        db = Path(settings.tracking_uri.removeprefix("sqlite:///"))
        if not db.is_file():
            raise ServiceUnavailableError(f"no MLflow registry at {db}")
    if settings.tracking_is_local:
        settings.home.mkdir(parents=True, exist_ok=True)
        Path(settings.artifact_root.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    with environment_kept("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
    _quiet_mlflow()
    if not settings.tracking_uri.startswith("sqlite:///"):
        return mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    db_path = settings.tracking_uri.removeprefix("sqlite:///")
    with _schema_lock(db_path), mlflow_errors():
        seed_tracking_db(Path(db_path), settings.cache_dir)
        client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
        client.search_registered_models(max_results=1)  # opens (and caches) the registry store
    return client


def reopen(client: MlflowClient) -> None:
    """Close the connections MLflow keeps to a registry database, so the next client opens the
    file now at its path (MLflow caches one store per URI and its pool holds the old file)."""
    stores = [getattr(getattr(client, "_tracking_client", None), "store", None)]
    with contextlib.suppress(Exception):  # MLflow internals: best effort
        stores.append(client._get_registry_client().store)  # type: ignore[no-untyped-call]
    for store in stores:
        engine = getattr(store, "engine", None)
        if engine is not None:
            engine.dispose()


@contextlib.contextmanager
def _schema_lock(db_path: str) -> Iterator[None]:
    """Hold an exclusive file lock while MLflow opens its SQLite stores.

    Opening a store on a fresh database runs MLflow's schema migrations; several `conveyor run`
    processes starting at once would run them concurrently and fail ("duplicate column name",
    "table _alembic_tmp_... already exists"). The first creates the schema; the others wait.
    """
    with open(f"{db_path}.init-lock", "a+b") as lock_file:
        if sys.platform == "win32":
            import msvcrt

            lock_file.seek(0)
            msvcrt.locking(lock_file.fileno(), msvcrt.LK_LOCK, 1)  # retries for ~10 s
        else:
            import fcntl

            fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield  # the lock goes with the file when it is closed


def _quiet_mlflow() -> None:
    """Keep MLflow's progress bars and advisory warnings out of Conveyor's output."""
    import warnings

    from mlflow.environment_variables import (
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
        MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT,
    )

    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set("false")  # type: ignore[no-untyped-call]
    # a remote server makes MLflow print run links to stdout, which would break --json output
    MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.set("true")  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
    for name in ("mlflow", "alembic", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # the cloudpickle format is chosen on purpose (any estimator or train_function output)
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)


def ensure_experiment(client: MlflowClient, settings: Settings, name: str) -> str:
    """The experiment's id, creating it (with local artifacts under the home) if needed."""
    with mlflow_errors():
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = settings.artifact_root if settings.tracking_is_local else None
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except Exception:
            # another process created it between our lookup and create
            again = client.get_experiment_by_name(name)
            if again is None:
                raise
            return str(again.experiment_id)


def version_tags(client: MlflowClient, name: str, version: str) -> dict[str, Any]:
    with mlflow_errors(f"model {name!r} has no version {version}"):
        mv = client.get_model_version(name, version)
    return dict(mv.tags)


def legacy_stage_version(client: MlflowClient, name: str, alias: str) -> Any:
    """The newest version of ``name`` in MLflow's deprecated stage named like ``alias``
    (``production`` → ``Production``), or None: registries from before aliases keep their
    production version there."""
    import warnings

    stage = alias.capitalize()
    if stage not in ("Production", "Staging"):
        return None
    try:
        with warnings.catch_warnings(), mlflow_errors():
            warnings.simplefilter("ignore")  # the stage API is deprecated, and still answers
            found = client.get_latest_versions(name, stages=[stage])
    except NotFoundError:
        return None
    return max(found, key=lambda mv: int(mv.version)) if found else None
