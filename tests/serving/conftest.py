"""Serving fixtures: registered models built once per session by the real `conveyor run`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio

from conveyor.bundle.sources import LocalSource
from conveyor.serving.app import create_app
from conveyor.settings import Settings
from tests.conftest import WINE_RUN_SPEC

if TYPE_CHECKING:
    from tests.serving.server import Server

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Registered:
    home: Path
    project: Path
    name: str

    def env(self) -> dict[str, str]:
        # this home's registry, whatever MLflow pointed at in the test process
        mlflow_uris = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CONVEYOR_") and k not in mlflow_uris
        }
        env["CONVEYOR_HOME"] = str(self.home)
        return env

    def conveyor(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "conveyor"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.project,
        )
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc

    def prepare(self, *args: str) -> None:
        """`conveyor ARGS...` through the real entry point in this process, for building a
        fixture: as `conveyor` does it (this home, the environment `env` gives, run from the
        project) without starting an interpreter; this process's environment and working
        directory are put back after."""
        from conveyor.cli.main import main

        saved, cwd = dict(os.environ), Path.cwd()
        try:
            for key in set(os.environ) - set(self.env()):
                del os.environ[key]
            os.environ["CONVEYOR_HOME"] = str(self.home)
            os.chdir(self.project)
            code = main(list(args))
        finally:
            os.chdir(cwd)
            for key in set(os.environ) - set(saved):
                del os.environ[key]
            os.environ.update(saved)
        assert code == 0, f"conveyor {' '.join(args)} exited {code}"

    def clone(self, into: Path) -> Registered:
        """A copy of the home (registry and store) that a test may change freely."""
        import shutil

        shutil.copytree(self.home, into / "home")
        return Registered(into / "home", self.project, self.name)

    def model_dir(self, version: str) -> Path:
        import mlflow

        uri = f"sqlite:///{self.home / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)  # models:/ URIs resolve through the process-wide registry
        mlflow.set_registry_uri(uri)
        return Path(
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{self.name}/{version}")
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def wine_registered(tmp_path_factory: pytest.TempPathFactory, wine_trained: Path) -> Registered:
    """wine v1 (C 1, from `wine_trained`) in production, v2 (C 0.05) in staging."""
    import shutil

    root = tmp_path_factory.mktemp("wine-serving")
    reg = Registered(root / "home", root / "wine", "wine")
    reg.project.mkdir()
    shutil.copytree(wine_trained, reg.home)
    reg.prepare("promote", "wine", "1", "--to", "production")
    (reg.project / "conveyor.yaml").write_text(WINE_RUN_SPEC % 0.05)
    reg.prepare("run")
    return reg


@pytest.fixture(scope="package")
def wine_server(
    wine_registered: Registered, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`conveyor serve wine` (production: version 1, no refresh) on a copy of the home, for
    tests that only send it requests and read its answers: none changes its model, registry
    or settings."""
    from tests.serving.server import running_server

    reg = wine_registered.clone(tmp_path_factory.mktemp("wine-server"))
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        yield server


@pytest.fixture(scope="session")
def nullable_registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """A regression model with missing values in training: a nullable categorical
    (``district``), a nullable numeric (``area``) and a numeric never missing (``rooms``)."""
    import numpy as np
    import pandas as pd

    root = tmp_path_factory.mktemp("nullable-serving")
    reg = Registered(root / "home", root / "houses", "houses")
    reg.project.mkdir()
    rng = np.random.default_rng(1)
    n = 400
    district = rng.choice(np.asarray(["north", "south", "east", "west"], dtype=object), n)
    district[rng.random(n) < 0.08] = None
    area = rng.normal(80, 20, n)
    area[rng.random(n) < 0.1] = np.nan
    rooms = rng.integers(1, 6, n).astype(float)
    price = 1000 * rooms + 10 * np.nan_to_num(area, nan=80) + rng.normal(0, 50, n)
    pd.DataFrame({"district": district, "area": area, "rooms": rooms, "price": price}).to_csv(
        reg.project / "data.csv", index=False
    )
    (reg.project / "conveyor.yaml").write_text(
        "name: houses\ntask: regression\n"
        "data: {source: data.csv, target: price}\n"
        "model: {estimator: sklearn.linear_model.Ridge}\n"
    )
    reg.prepare("run")
    reg.prepare("promote", "houses", "1", "--to", "production")
    return reg


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"home": home, "refresh_seconds": 0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def wine_client(
    wine_registered: Registered, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client on the wine production model, with a fresh store."""
    settings = make_settings(
        wine_registered.home,
        model_name="wine",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        admin_token="s3cret-admin-token",
        # the tests move rollouts by hand: a leader loop in the app would race them
        rollout_controller=False,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest_asyncio.fixture
async def mixed_client(
    mixed_registered: Registered, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        mixed_registered.home,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        unseen_categories="reject",
    )
    app = create_app(settings, LocalSource(mixed_registered.model_dir("1")))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
def wine_row() -> dict[str, float]:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    return {k: float(v) for k, v in frame.drop(columns="target").iloc[0].items()}
