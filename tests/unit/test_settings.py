from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.settings import LogFormat, Settings
from tests.conftest import CliResult


def test_defaults_hang_off_conveyor_home(home: Path) -> None:
    settings = Settings()
    assert settings.home == home
    assert settings.tracking_uri == f"sqlite:///{home}/mlflow.db"
    assert settings.store_url == f"sqlite:///{home}/conveyor.db"
    assert settings.artifact_root == (home / "artifacts").as_uri()
    assert settings.artifact_root.startswith("file:///")
    assert settings.experiment == ""
    assert settings.log_level == "WARNING"
    assert settings.log_format is LogFormat.TEXT
    assert settings.tracking_timeout_s == 5.0
    assert settings.tracking_is_local is True


def test_reading_settings_creates_nothing(home: Path) -> None:
    Settings()
    assert not home.exists()


def test_relative_home_is_made_absolute(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVEYOR_HOME", "state/here")
    settings = Settings()
    assert settings.home == tmp_path.resolve() / "state" / "here"
    assert settings.tracking_uri == f"sqlite:///{tmp_path.resolve()}/state/here/mlflow.db"


def test_home_expands_the_user_directory(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CONVEYOR_HOME", "~/.conveyor")
    assert Settings().home == tmp_path.resolve() / ".conveyor"


def test_without_conveyor_home_the_default_is_dot_conveyor(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVEYOR_HOME")
    monkeypatch.chdir(tmp_path)
    assert Settings().home == tmp_path.resolve() / ".conveyor"


def test_environment_overrides_each_default(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("CONVEYOR_STORE_URL", "postgresql+psycopg://u@db/conveyor")
    monkeypatch.setenv("CONVEYOR_ARTIFACT_ROOT", "s3://bucket/artifacts")
    monkeypatch.setenv("CONVEYOR_EXPERIMENT", "shared")
    monkeypatch.setenv("CONVEYOR_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("CONVEYOR_LOG_FORMAT", "json")
    monkeypatch.setenv("CONVEYOR_TRACKING_TIMEOUT_S", "0.5")
    settings = Settings()
    assert settings.home == home
    assert settings.tracking_uri == "http://mlflow.internal:5000"
    assert settings.store_url == "postgresql+psycopg://u@db/conveyor"
    assert settings.artifact_root == "s3://bucket/artifacts"
    assert settings.experiment == "shared"
    assert settings.log_level == "DEBUG"
    assert settings.log_format is LogFormat.JSON
    assert settings.tracking_timeout_s == 0.5
    assert settings.tracking_is_local is False


def test_one_override_keeps_the_other_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_STORE_URL", "sqlite:////elsewhere/c.db")
    settings = Settings()
    assert settings.store_url == "sqlite:////elsewhere/c.db"
    assert settings.tracking_uri == f"sqlite:///{home}/mlflow.db"


def test_unprefixed_variables_are_ignored(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKING_URI", "http://wrong:5000")
    monkeypatch.setenv("STORE_URL", "sqlite:////wrong.db")
    settings = Settings()
    assert settings.tracking_uri == f"sqlite:///{home}/mlflow.db"
    assert settings.tracking_source == "default"
    assert settings.store_url == f"sqlite:///{home}/conveyor.db"


def test_mlflows_own_variable_is_honoured(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Teams already export MLFLOW_TRACKING_URI; Conveyor's own variable wins over it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    settings = Settings()
    assert settings.tracking_uri == "http://mlflow.internal:5000"
    assert settings.tracking_source == "MLFLOW_TRACKING_URI"
    monkeypatch.setenv("CONVEYOR_TRACKING_URI", "http://conveyor.internal:5000")
    settings = Settings()
    assert settings.tracking_uri == "http://conveyor.internal:5000"
    assert settings.tracking_source == "CONVEYOR_TRACKING_URI"


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("MLFLOW_MODEL_NAME", "churn", "model_name", "churn"),
        ("MLFLOW_MODEL_STAGE", "Production", "model_stage", "production"),
        ("MLFLOW_MODEL_STAGE", "Staging", "model_stage", "staging"),
        ("MLFLOW_MODEL_STAGE", "champion", "model_stage", "champion"),
        ("MODEL_AUTO_REFRESH_SECONDS", "5", "refresh_seconds", 5.0),
        ("LOG_LEVEL", "INFO", "log_level", "INFO"),
        ("LOG_FORMAT", "json", "log_format", LogFormat.JSON),
    ],
)
def test_the_service_settings_teams_already_have(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(Settings(), field) == expected
    # the CONVEYOR_ name wins when both are set
    raw, typed = {
        "model_name": ("wine", "wine"),
        "model_stage": ("candidate", "candidate"),
        "refresh_seconds": ("7", 7.0),
        "log_level": ("ERROR", "ERROR"),
        "log_format": ("text", LogFormat.TEXT),
    }[field]
    monkeypatch.setenv(f"CONVEYOR_{field.upper()}", raw)
    assert getattr(Settings(), field) == typed != expected


def test_admin_api_token_is_the_admin_token(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_API_TOKEN", "from-the-seeds-0123456789")
    token = Settings().admin_token
    assert token is not None and token.get_secret_value() == "from-the-seeds-0123456789"
    monkeypatch.setenv("CONVEYOR_ADMIN_TOKEN", "conveyors-own-0123456789")
    token = Settings().admin_token
    assert token is not None and token.get_secret_value() == "conveyors-own-0123456789"


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("sqlite:////tmp/mlflow.db", True),
        ("file:///tmp/mlruns", True),
        ("/tmp/mlruns", True),
        ("mlruns", True),
        ("http://localhost:5000", False),
        ("https://mlflow.example.com", False),
        ("databricks", False),
        ("databricks://profile", False),
    ],
)
def test_tracking_is_local(
    home: Path, monkeypatch: pytest.MonkeyPatch, uri: str, local: bool
) -> None:
    monkeypatch.setenv("CONVEYOR_TRACKING_URI", uri)
    assert Settings().tracking_is_local is local


def test_a_bad_setting_is_a_clear_cli_error(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_LOG_FORMAT", "xml")
    result = cli("models", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid CONVEYOR_* setting")
    assert "CONVEYOR_LOG_FORMAT" in result.stderr  # the variable to fix, by its name
    assert "(got 'xml')" in result.stderr  # the value given, as it is no secret
    assert "Traceback" not in result.stderr + result.stdout
    as_json = cli("models", "list", "--json")
    assert as_json.exit_code == 2
    assert as_json.stderr == ""
    payload = as_json.json()
    assert payload["exit_code"] == 2
    assert "invalid CONVEYOR_* setting" in payload["error"]
    assert "CONVEYOR_LOG_FORMAT" in payload["error"]


def test_a_short_admin_token_is_refused_without_being_printed(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_ADMIN_TOKEN", "hunter2-hunter2")  # 15 characters
    result = cli("models", "list")
    assert result.exit_code == 2
    assert "CONVEYOR_ADMIN_TOKEN: must be at least 16 characters" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    monkeypatch.setenv("CONVEYOR_ADMIN_TOKEN", "hunter2-hunter2!")
    assert cli("models", "list").exit_code == 0


def test_connecting_leaves_mlflow_tracking_uri_as_it_was(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow exports the URI it is given to os.environ; Conveyor honours MLFLOW_TRACKING_URI,
    so a second project in the same process (a notebook, the Python API) would otherwise
    inherit the first one's registry."""
    import os

    from conveyor.registry.client import connect

    connect(Settings())
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path / "second"))
    assert Settings().tracking_uri == f"sqlite:///{tmp_path / 'second'}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://theirs:5000")
    connect(Settings(tracking_uri=f"sqlite:///{tmp_path / 'x.db'}"))
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://theirs:5000"
