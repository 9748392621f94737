"""One boundary for MLflow: "not found" and "unavailable" are never confused. A registry that
fails on a single call (as a tracking server does when it drops a connection) makes the
champion gates raise, not skip as if there were no production version."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from mlflow.exceptions import MlflowException

from conveyor.bundle.sources import registered_schema
from conveyor.errors import ConveyorError, NotFoundError, ServiceUnavailableError
from conveyor.pipeline.evaluate import _champion_gates
from conveyor.registry import tags as T
from conveyor.registry.client import connect, mlflow_errors
from conveyor.registry.stages import ModelRegistry
from conveyor.settings import Settings
from conveyor.spec.models import ProjectSpec
from conveyor.store import Store

pytestmark = pytest.mark.integration

DROPPED = (
    "API request to endpoint /api/2.0/mlflow/registered-models/alias failed with exception "
    "HTTPConnectionPool(host='mlflow', port=5000): Max retries exceeded"
)


class Failing:
    """A real MLflow client whose named methods fail as MLflow fails when its server is gone."""

    def __init__(self, client: Any, *failing: str) -> None:
        self._client = client
        self._failing = set(failing)

    def __getattr__(self, name: str) -> Any:
        if name in self._failing:

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise MlflowException(DROPPED)

            return fail
        return getattr(self._client, name)


@pytest.fixture
def registry(home: Path) -> Any:
    settings = Settings(home=home)
    store = Store(settings.store_url).create()
    client = connect(settings)
    client.create_registered_model("wine")
    experiment = client.create_experiment("wine", artifact_location=str(home / "artifacts"))
    run = client.create_run(experiment).info.run_id
    source = home / "artifacts" / run / "artifacts" / "model"
    (source / "extra_files").mkdir(parents=True)
    client.create_model_version("wine", str(source), run_id=run)
    yield ModelRegistry(client, store)
    store.close()


def test_a_missing_alias_is_none_and_a_dropped_registry_raises(registry: ModelRegistry) -> None:
    assert registry.by_alias("wine", T.PRODUCTION) is None
    assert registry.by_alias("no-such-model", T.PRODUCTION) is None
    failing = ModelRegistry(
        cast(Any, Failing(registry.client, "get_model_version_by_alias")), registry.store
    )
    with pytest.raises(ServiceUnavailableError, match="MLflow registry unavailable"):
        failing.by_alias("wine", T.PRODUCTION)


def test_champion_gates_raise_when_the_registry_fails_on_the_production_lookup(
    registry: ModelRegistry,
) -> None:
    registry.promote("wine", "1", T.PRODUCTION, "alice", "first")
    failing = ModelRegistry(
        cast(Any, Failing(registry.client, "get_model_version_by_alias")), registry.store
    )
    spec = cast(ProjectSpec, type("Spec", (), {"name": "wine"})())
    report: Any = type("Report", (), {"add": lambda self, gate: added.append(gate)})()
    added: list[Any] = []
    with pytest.raises(ServiceUnavailableError):
        _champion_gates(spec, cast(Any, None), {}, report, failing, cast(Any, None))
    assert added == []  # no gate was skipped "for lack of a production version"


def test_a_version_without_a_schema_is_none_and_an_unreachable_store_raises(
    registry: ModelRegistry,
) -> None:
    assert registered_schema(registry.client, "wine", "1") is None
    with pytest.raises(NotFoundError, match="has no version 7"):
        registered_schema(registry.client, "wine", "7")
    failing = Failing(registry.client, "get_model_version_download_uri")
    with pytest.raises(ServiceUnavailableError):
        registered_schema(cast(Any, failing), "wine", "1")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("(sqlite3.OperationalError) database is locked", ServiceUnavailableError),
        ("(psycopg.OperationalError) could not connect to server", ServiceUnavailableError),
        ("Registered model alias production not found.", NotFoundError),
        ("Invalid value 'x' for parameter 'version'", ConveyorError),
    ],
)
def test_mlflow_errors_sort_database_failures_from_absence(
    message: str, error: type[Exception]
) -> None:
    """The messages MLflow's SQL stores raise (a locked SQLite database waits MLflow's 20 s
    busy timeout first, too slow to provoke here)."""
    with pytest.raises(error) as raised, mlflow_errors():
        raise MlflowException(message)
    assert type(raised.value) is error


@pytest.mark.parametrize(
    ("code", "message", "error"),
    [
        ("INVALID_PARAMETER_VALUE", "Registered model alias staging not found.", NotFoundError),
        ("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=x not found", NotFoundError),
        ("TEMPORARILY_UNAVAILABLE", "try again", ServiceUnavailableError),
        ("INVALID_PARAMETER_VALUE", "Invalid value 'x' for parameter 'version'", ConveyorError),
    ],
)
def test_a_tracking_servers_answers_sort_the_same_way(
    code: str, message: str, error: type[Exception]
) -> None:
    """What an `mlflow server` answers (RestException): a missing alias comes back as
    INVALID_PARAMETER_VALUE, and is "not found" all the same."""
    from mlflow.exceptions import RestException

    with pytest.raises(error) as raised, mlflow_errors():
        raise RestException({"error_code": code, "message": message})
    assert type(raised.value) is error
