"""Which version a server loads: the embedded registry read directly agrees with MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.bundle.sources import RegistrySource
from conveyor.errors import NotFoundError
from conveyor.settings import Settings
from tests.serving.conftest import Registered

pytestmark = pytest.mark.integration


def test_direct_alias_read_matches_mlflow_and_follows_promotion(
    wine_registered: Registered, tmp_path: Path
) -> None:
    reg = wine_registered.clone(tmp_path)
    settings = Settings(home=reg.home)
    for alias, version in (("production", "1"), ("staging", "2")):
        source = RegistrySource(settings, "wine", alias)
        assert source._read_local_registry() is not None  # the fast path answered
        fast = source.current()
        assert fast == source._current_through_mlflow()
        assert fast.version == version and fast.stage == alias
        assert fast.semver and fast.run_id and fast.metrics["accuracy"] > 0.8
        assert source._read_local_registry(version=version) is not None
        assert source.version(version) == fast  # a version by number: the same identity
    assert RegistrySource(settings, "wine", "production")._read_local_registry(version="9") is None
    with pytest.raises(NotFoundError, match="no version 9"):
        RegistrySource(settings, "wine", "production").version("9")  # MLflow says so
    reg.conveyor("promote", "wine", "2", "--to", "production")
    assert RegistrySource(settings, "wine", "production").current().version == "2"


def test_unknown_alias_or_model_is_reported_by_mlflow(
    wine_registered: Registered, tmp_path: Path
) -> None:
    settings = Settings(home=wine_registered.clone(tmp_path).home)
    for name, alias in (("wine", "canary"), ("no-such-model", "production")):
        source = RegistrySource(settings, name, alias)
        assert source._read_local_registry() is None
        with pytest.raises(NotFoundError, match=alias):
            source.current()


def test_a_version_resolved_directly_downloads_from_this_registry(
    wine_registered: Registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import mlflow

    reg = wine_registered.clone(tmp_path)
    shutil.rmtree(reg.home / "cache", ignore_errors=True)
    # whatever MLflow pointed at before in this process must not be where the model comes from
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # set by MLflow above; honoured by Settings
    source = RegistrySource(Settings(home=reg.home), "wine", "production")
    identity = source.current()
    path = source.fetch(identity)
    assert path == reg.home / "cache" / "models" / "wine" / "1"
    assert (path / "extra_files" / "model.onnx").is_file()
    assert source.fetch(identity) == path  # cached


def test_serve_follows_the_stage_from_the_environment(
    wine_registered: Registered, tmp_path: Path
) -> None:
    """Containers set CONVEYOR_MODEL_STAGE; `conveyor serve` without --stage must honour it."""
    import httpx

    from tests.serving.server import running_server

    reg = wine_registered.clone(tmp_path)
    with running_server(reg, "wine", env={"CONVEYOR_MODEL_STAGE": "staging"}) as server:
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
    assert (info["version"], info["stage"]) == ("2", "staging")


def test_a_registry_moved_away_is_never_recreated_and_is_followed_when_back(
    wine_registered: Registered, tmp_path: Path, wine_row: dict[str, float]
) -> None:
    """Renaming mlflow.db away while serving: the server keeps its version, says the registry
    is unreachable, creates no empty registry in its place, and follows a promotion once the
    file is back (an empty registry created meanwhile kept it on the old version for good)."""
    import os
    import time

    import httpx

    from tests.serving.server import running_server

    reg = wine_registered.clone(tmp_path)
    db, away = reg.home / "mlflow.db", reg.home / "mlflow.db.away"
    with running_server(reg, "wine", "--refresh-seconds", "0.3") as server:
        os.rename(db, away)
        deadline = time.monotonic() + 20
        while True:
            health = httpx.get(f"{server.url}/health?verbose=true", timeout=5).json()
            if health["registry"]["reachable"] is False:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        time.sleep(1)  # a few more refreshes without the file
        assert not db.exists(), "reading the registry created an empty one"
        assert "no MLflow registry at" in health["registry"]["error"]
        answer = httpx.post(f"{server.url}/predict", json={"instances": [wine_row]}, timeout=5)
        assert answer.json()["model"]["version"] == "1"
        os.rename(away, db)
        reg.conveyor("promote", "wine", "2", "--to", "production")
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/model/info", timeout=5).json()["version"] != "2":
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.2)
        refusals = server.output().count("no MLflow registry at")
    assert refusals == 1, "one line when the registry went away, not one per refresh"


def test_a_rendered_configmap_pins_the_version_it_names(
    wine_registered: Registered, tmp_path: Path
) -> None:
    """The server started with the environment `conveyor k8s render --version 1` writes serves
    version 1 while the production alias points at version 2, and does not follow a refresh."""
    import time

    import httpx
    import yaml

    from tests.serving.server import running_server

    reg = wine_registered.clone(tmp_path)
    reg.conveyor("promote", "wine", "2", "--to", "production")
    out = tmp_path / "k8s"
    reg.conveyor(
        "k8s", "render", "wine", "--version", "1", "--image", "ghcr.io/acme/conveyor:1",
        "--out", str(out),
    )  # fmt: skip
    data = yaml.safe_load((out / "base" / "configmap.yaml").read_text())["data"]
    # the model settings as rendered; the paths are the container's, so this test's home
    env = {k: v for k, v in data.items() if k.startswith("CONVEYOR_MODEL_")}
    assert env == {
        "CONVEYOR_MODEL_NAME": "wine",
        "CONVEYOR_MODEL_STAGE": "production",
        "CONVEYOR_MODEL_VERSION": "1",
    }
    with running_server(reg, "--refresh-seconds", "0.3", env=env) as server:
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        assert (info["version"], info["stage"]) == ("1", "pinned")
        time.sleep(1)  # refreshes come and go: the pin holds
        info = httpx.get(f"{server.url}/model/info", timeout=5).json()
        assert info["version"] == "1"
        assert "pinned by CONVEYOR_MODEL_VERSION" in server.output()
