"""Conveyor's Python API: what the CLI does, for notebooks and scripts.

    import conveyor

    project = conveyor.Project.init("wine-model", example="wine")
    checked = project.validate()                # rows, schema, findings
    result = project.run(params={"C": 0.5})     # a registered version, or GateFailedError
    with conveyor.Registry() as registry:
        registry.promote("wine", result.registered.version, reason="first release")
    with conveyor.serve("wine") as server:      # a real `conveyor serve` on a free port
        server.predict([{...}])
    conveyor.drift("train.csv", "last_week.csv")
    conveyor.monitor("wine", window_minutes=60)

Every call takes an optional ``Settings`` (default: from ``CONVEYOR_*`` variables, as the CLI),
raises Conveyor's own errors (``conveyor.ConveyorError`` and its subclasses), and returns the
same objects the CLI prints, each with ``to_dict()``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from conveyor.errors import ServiceUnavailableError
from conveyor.settings import Settings, child_environment

if TYPE_CHECKING:
    from conveyor.data.schema import Schema
    from conveyor.data.survey import Finding
    from conveyor.monitoring.file_drift import FileDrift
    from conveyor.pipeline.run import RunResult
    from conveyor.registry.stages import ModelRegistry, VersionInfo
    from conveyor.spec.models import ProjectSpec
    from conveyor.store.audit import AuditEvent
    from conveyor.store.engine import Store

__all__ = ["Project", "Registry", "Server", "Validation", "drift", "monitor", "serve"]


@dataclass(frozen=True)
class Validation:
    """What `validate` found: the data's size and fingerprint, the schema, the findings."""

    name: str
    rows: int
    fingerprint: str
    schema: Schema
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "fingerprint": self.fingerprint,
            "schema": self.schema.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


class Project:
    """A directory with a ``conveyor.yaml``: validate it, run it."""

    def __init__(self, path: str | Path, settings: Settings | None = None) -> None:
        path = Path(path)
        self.directory = (
            path if path.is_dir() or path.suffix not in (".yaml", ".yml") else path.parent
        )
        self.settings = settings or Settings()

    @classmethod
    def init(
        cls,
        directory: str | Path,
        example: str = "wine",
        *,
        name: str | None = None,
        force: bool = False,
        settings: Settings | None = None,
    ) -> Project:
        """A new project from an example (wine, breast_cancer, iris, diabetes)."""
        from conveyor.templates import init_project

        init_project(Path(directory), example, name, force)
        return cls(directory, settings)

    @classmethod
    def from_table(
        cls,
        directory: str | Path,
        data: str | Path,
        target: str,
        *,
        task: str | None = None,
        name: str | None = None,
        force: bool = False,
        settings: Settings | None = None,
    ) -> Project:
        """A new project for your own CSV/Parquet file (as `conveyor init --data`)."""
        from conveyor.scaffold import init_from_table
        from conveyor.spec.models import Task

        init_from_table(
            Path(directory), Path(data), target, Task(task) if task else None, name, force
        )
        return cls(directory, settings)

    @property
    def spec(self) -> ProjectSpec:
        """The project file, read (and checked) now."""
        from conveyor.spec import load_spec

        return load_spec(self.directory)

    def validate(self) -> Validation:
        """Check the spec, the estimator's params and the data; every problem at once."""
        from conveyor.pipeline.dataset import prepare_data
        from conveyor.training.pipeline import resolve_model

        spec = self.spec
        resolve_model(spec, self.directory)
        data = prepare_data(spec, self.directory)
        return Validation(spec.name, len(data.frame), data.fingerprint, data.schema, data.findings)

    def run(self, params: dict[str, Any] | None = None, *, actor: str = "api") -> RunResult:
        """Train (and tune), evaluate, export, gate, register; ``params`` override the spec's
        ``model.params`` for this run. Raises ``GateFailedError`` (with the report) when a
        gate fails: nothing is registered then."""
        from conveyor.pipeline.run import run_pipeline

        spec = self.spec
        if params:
            model = spec.model.model_copy(update={"params": {**spec.model.params, **params}})
            spec = spec.model_copy(update={"model": model})
        store = _store(self.settings)
        try:
            return run_pipeline(spec, self.directory.resolve(), self.settings, store, actor=actor)
        finally:
            store.close()

    def __repr__(self) -> str:
        return f"Project({str(self.directory)!r})"


class Registry:
    """Registered models and their versions, stages and history (MLflow + the audit trail)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._store: Store | None = None
        self._registry: ModelRegistry | None = None

    @property
    def _models(self) -> ModelRegistry:
        if self._registry is None:
            from conveyor.registry.client import connect
            from conveyor.registry.stages import ModelRegistry

            self._store = _store(self.settings)
            self._registry = ModelRegistry(connect(self.settings), self._store)
        return self._registry

    def models(self) -> list[dict[str, Any]]:
        return self._models.models()

    def versions(self, name: str) -> list[VersionInfo]:
        return self._models.versions(name)

    def get(self, name: str, version: str | None = None) -> VersionInfo:
        """One version; without ``version``, production if set, else the latest."""
        return self._models.get(name, version)

    def promote(
        self, name: str, version: str, *, to: str = "production", reason: str, by: str = "api"
    ) -> VersionInfo:
        return self._models.promote(name, str(version), to, by, reason)

    def approve(self, name: str, version: str, *, reason: str, by: str) -> VersionInfo:
        return self._models.approve(name, str(version), by, reason)

    def rollback(self, name: str, *, reason: str, by: str = "api") -> VersionInfo:
        return self._models.rollback(name, by, reason)

    def history(self, name: str) -> list[AuditEvent]:
        return self._models.history(name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store, self._registry = None, None

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Server:
    """A `conveyor serve` process started by ``serve()``; stopped by ``stop()`` or ``with``."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def predict(self, instances: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
        """``POST /predict``; raises ``ConveyorError`` with the server's message on a 4xx/5xx."""
        return self._post("/predict", {"instances": instances})

    def feedback(self, request_id: str, label: Any, row: int = 0) -> dict[str, Any]:
        """``POST /feedback``: the true label of a prediction, for online accuracy."""
        return self._post("/feedback", {"request_id": request_id, "row": row, "label": label})

    def info(self) -> dict[str, Any]:
        import httpx

        answer = httpx.get(f"{self.url}/model/info", timeout=10)
        return dict(answer.json())

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait (every acknowledged prediction reaches the store), then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        from conveyor.errors import ConveyorError, UserError

        answer = httpx.post(f"{self.url}{path}", json=body, timeout=30)
        payload = dict(answer.json())
        if answer.status_code >= 500:
            raise ConveyorError(f"{path}: {answer.status_code} {payload.get('error', '')}")
        if answer.status_code >= 400:
            raise UserError(f"{path}: {answer.status_code} {payload.get('error', '')}")
        return payload

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server({self.url!r}, pid={self.pid})"


def serve(
    name: str | None = None,
    *,
    stage: str = "production",
    model_path: str | Path | None = None,
    port: int | None = None,
    settings: Settings | None = None,
    ready_timeout: float = 60.0,
) -> Server:
    """Start `conveyor serve` in its own process on 127.0.0.1 and return once it is ready."""
    settings = settings or Settings()
    port = port or _free_port()
    args = [sys.executable, "-m", "conveyor", "serve", "--port", str(port)]
    if model_path is not None:
        args += ["--model-path", str(model_path)]
    elif name is not None:
        args += [name, "--stage", stage]
    else:
        from conveyor.errors import UserError

        raise UserError("serve() needs a model name or model_path")
    env = child_environment(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    log = settings.home / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    _wait_ready(server, ready_timeout)
    return server


def drift(
    reference: str | Path,
    current: str | Path,
    *,
    columns: list[str] | None = None,
    prediction: str | None = None,
    threshold: float = 0.3,
    alpha: float = 0.05,
) -> FileDrift:
    """Compare a current dataset with a reference (a file or a model's profile.json)."""
    from conveyor.monitoring.drift import DriftConfig
    from conveyor.monitoring.file_drift import drift_between_files

    config = DriftConfig(alpha=alpha, psi_warn=min(0.2, threshold), psi_alert=threshold)
    return drift_between_files(
        Path(reference), Path(current), config, columns=columns, prediction=prediction
    )


def monitor(
    name: str,
    *,
    version: str | None = None,
    stage: str = "production",
    window_minutes: float | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Drift, online performance and health of a served version (as `conveyor monitor --json`),
    with the alert rules' verdicts under ``checks``."""
    import dataclasses

    from conveyor.bundle.sources import registered_bundle
    from conveyor.monitoring.alerts import evaluate
    from conveyor.monitoring.assess import assess

    settings = settings or Settings()
    bundle = registered_bundle(settings, name, version, stage)
    store = _store(settings)
    try:
        assessment = assess(store, bundle, window_minutes)
    finally:
        store.close()
    checks = evaluate(assessment, bundle.monitoring)
    return {**assessment.to_dict(), "checks": [dataclasses.asdict(c) for c in checks]}


def _store(settings: Settings) -> Store:
    from conveyor.store.engine import Store

    settings.home.mkdir(parents=True, exist_ok=True)
    return Store(settings.store_url).create()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: Server, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise ServiceUnavailableError(
                f"conveyor serve exited {server.process.returncode}: {tail.strip()}"
            )
        try:
            if httpx.get(f"{server.url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise ServiceUnavailableError(f"conveyor serve not ready within {timeout:g} s ({server.log})")
