"""Shared fixtures: an isolated Conveyor home per test and a CLI runner on the real entry point."""

from __future__ import annotations

import http.server
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# a test whose peer venv is missing fails instead of skipping under CONVEYOR_TEST_REQUIRE_VENVS=1
from tests.needs import pytest_configure as pytest_configure
from tests.needs import pytest_runtest_setup as pytest_runtest_setup

if TYPE_CHECKING:
    from conveyor.notify import WebhookPolicy
    from tests.serving.conftest import Registered


def _cache_bytecode() -> None:
    """With PYTHONDONTWRITEBYTECODE set, every process the tests start (`conveyor serve`,
    `conveyor run`, Ray and Spark workers) compiles Conveyor's modules from source again, and
    this process rewrites every test module. Bytecode goes to a cache outside the source tree
    instead (PYTHONPYCACHEPREFIX, kept between sessions; Python checks each entry against its
    source), for this process and every process it starts. Without the variable nothing
    changes. Runs before this process imports Conveyor."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return
    default = Path(tempfile.gettempdir()) / f"conveyor-tests-pycache-{os.getuid()}"
    prefix = os.environ.setdefault("PYTHONPYCACHEPREFIX", str(default))
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


_cache_bytecode()


def _loopback_only() -> WebhookPolicy:
    from conveyor.notify import WebhookPolicy

    return WebhookPolicy(("127.0.0.1",))


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class WebhookReceiver:
    """A real local HTTP endpoint that records what is POSTed to it (headers, body)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200  # what it answers
    # webhooks reach only public hosts unless allowed: this receiver is on loopback
    policy: WebhookPolicy = field(default_factory=_loopback_only)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append((dict(self.headers.items()), body))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=abc"
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _mlflow_environment_kept() -> Iterator[None]:
    """``mlflow.set_tracking_uri`` exports the URI to ``os.environ`` and Conveyor honours
    MLFLOW_TRACKING_URI: no test's MLflow state may reach the next test's settings or the
    processes it starts. Unset during each test, put back as it was after."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.pop(name, None) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CONVEYOR_HOME; every other CONVEYOR_* variable is cleared."""
    # the unprefixed names Conveyor also honours (MLflow's, the service settings teams have)
    aliases = {"MLFLOW_TRACKING_URI", "MLFLOW_MODEL_NAME", "MLFLOW_MODEL_STAGE", "LOG_LEVEL",
               "LOG_FORMAT", "ADMIN_API_TOKEN", "MODEL_AUTO_REFRESH_SECONDS",
               "OTEL_EXPORTER_OTLP_ENDPOINT"}  # fmt: skip
    for key in list(os.environ):
        if (key.startswith("CONVEYOR_") and key != "CONVEYOR_TEST_POSTGRES_URL") or key in aliases:
            monkeypatch.delenv(key)
    path = tmp_path / "home"
    monkeypatch.setenv("CONVEYOR_HOME", str(path))
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], home: Path) -> Callable[..., CliResult]:
    """Run `conveyor ARGS...` in process through the real entry point (error mapping included)."""

    from conveyor.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


WINE_SPEC = """\
name: {name}
task: classification
data:
  source: sklearn:wine
  target: target
  seed: 7
  slices:
    high_alcohol: {{alcohol: {{gt: 13.0}}}}
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {{C: {C}, max_iter: 1000}}
gates:
  min: {{accuracy: {min_accuracy}}}
  slices:
    high_alcohol: {{accuracy: 0.5}}
  champion: {{tolerance: 0.05}}
registry:
  require_approval: {require_approval}
"""


@pytest.fixture
def wine_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a wine project; keyword arguments change the name, C, accuracy gate, approval."""

    def make(
        name: str = "wine",
        C: float = 1.0,
        min_accuracy: float = 0.8,
        require_approval: bool = False,
        directory: str = "project",
    ) -> Path:
        project = tmp_path / directory
        project.mkdir(exist_ok=True)
        text = WINE_SPEC.format(
            name=name,
            C=C,
            min_accuracy=min_accuracy,
            require_approval=str(require_approval).lower(),
        )
        (project / "conveyor.yaml").write_text(text)
        return project

    return make


# wine version 1 as `wine_trained` registers it; C is the parameter later versions change
WINE_RUN_SPEC = (
    "name: wine\ntask: classification\n"
    "data: {source: sklearn:wine, target: target}\n"
    "model:\n  estimator: sklearn.linear_model.LogisticRegression\n"
    "  params: {C: %s, max_iter: 1000}\n"
    "gates:\n  champion: {enabled: false}\n"
)


@pytest.fixture(scope="session")
def wine_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home in which `conveyor run` registered wine version 1 (WINE_RUN_SPEC, C 1) in
    staging; nothing promoted. Shared by the session: copy the directory before changing
    anything. A copy's registry keeps this home's artifact locations, so runs logged in a copy
    write their artifacts under this home (each its own run directory)."""
    from tests.serving.conftest import Registered

    root = tmp_path_factory.mktemp("wine-trained")
    reg = Registered(root / "home", root / "wine", "wine")
    reg.project.mkdir()
    (reg.project / "conveyor.yaml").write_text(WINE_RUN_SPEC % 1.0)
    reg.prepare("run")
    return reg.home


MIXED_CSV_ROWS = 400


@pytest.fixture(scope="session")
def mixed_registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """A model with a categorical, a nullable numeric and a boolean feature, from a CSV:
    version 1 in production."""
    import numpy as np
    import pandas as pd

    from tests.serving.conftest import Registered

    root = tmp_path_factory.mktemp("mixed-serving")
    reg = Registered(root / "home", root / "mixed", "mixed")
    reg.project.mkdir()
    rng = np.random.default_rng(0)
    n = MIXED_CSV_ROWS
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(10, 3, n)
    size[rng.random(n) < 0.1] = np.nan
    flag = rng.random(n) < 0.5
    label = np.where((colour == "red") | (np.nan_to_num(size) > 12), "yes", "no")
    pd.DataFrame({"colour": colour, "size": size, "flag": flag, "label": label}).to_csv(
        reg.project / "data.csv", index=False
    )
    (reg.project / "conveyor.yaml").write_text(
        "name: mixed\ntask: classification\n"
        "data: {source: data.csv, target: label}\n"
        "model: {estimator: sklearn.linear_model.LogisticRegression}\n"
    )
    reg.prepare("run")
    reg.prepare("promote", "mixed", "1", "--to", "production")
    return reg


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """One local Ray (2 CPUs) for the whole session, started and stopped by this process.

    Ray allows one ``ray.init`` per process, so every test that needs Ray shares this one.
    """
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield str(context.address_info["gcs_address"])
    finally:
        ray.shutdown()
