"""Benchmark: `conveyor serve` against MLServer, `mlflow models serve` and a bare FastAPI + ONNX
endpoint, on the same wine model, under the same load.

One run builds the model once — `conveyor run` on the wine example (a scaled logistic
regression) in a temporary ``CONVEYOR_HOME``, promoted to production — and serves that one
registered version four ways, each on a free port on 127.0.0.1 (all started up front; load
goes to one at a time):

- ``conveyor``: ``conveyor serve wine`` with its defaults (inference log and metrics on),
  1 worker; ``POST /predict`` with ``{"features": [[13 floats], ...]}``.
- ``conveyor-v2``: the same process, ``POST /v2/models/wine/infer`` with one ``[N, 13]`` FP64
  tensor.
- ``conveyor-invocations``: the same process, MLflow's scoring protocol: ``POST /invocations``
  with the same ``{"dataframe_split": {...}}`` body as ``mlflow``.
- ``conveyor-pyfunc``: ``conveyor serve --model-path`` on the same version's directory without
  its ONNX graph, so the model runs through its own pipeline in-process (``PyfuncRuntime``:
  what a model with no ONNX conversion, such as a custom pyfunc, gets); the same body as
  conveyor. Beside ``mlflow``, it is the same Python model behind two servers.
- ``conveyor-gateway`` (only when named in ``--servers``): ``conveyor serve wine --backend
  v2://<mlserver>/wine`` in front of the ``mlserver`` process (started with it): Conveyor
  validates, logs and meters, MLServer runs the model; the same body as conveyor. Its cells
  beside ``mlserver``'s are what the gateway adds.
- ``conveyor-sync`` (only when named in ``--servers``): a second ``conveyor serve wine`` with
  ``CONVEYOR_INFERENCE_LOG_SYNC=true`` (each answer waits for its log record's write and
  fsync, shared by the requests that arrive meanwhile) and its own store file; the same body
  as conveyor. ``--servers conveyor,conveyor-sync`` measures what the setting costs.
- ``mlserver``: ``mlserver start`` from .venv-peers (MLServer 1.7 + mlserver-sklearn, default
  settings but host and ports) on the logged scikit-learn pipeline dumped to joblib (see
  ``peers/mlserver/export_model.py``); the same V2 body as conveyor-v2. It answers with
  ``predict`` only (its default); the others also return probabilities.
- ``mlflow``: ``mlflow models serve --env-manager local -w 1``; ``POST /invocations`` with
  ``{"dataframe_split": {...}}``.
- ``bare-onnx``: uvicorn on ``peers/bare_onnx.py``, FastAPI + ONNX Runtime on the exported
  model.onnx and nothing else; the same body as conveyor.

Every endpoint is first checked to answer 200 with the labels of the logged pipeline (1 and
100 rows). Load comes from ``wrk`` with ``-c N -t min(N, 2)`` and ``peers/post.lua`` (one
fixed POST body; latency percentiles, requests and errors — connect/read/write/timeout and
status ≥ 400 — printed as JSON). Each cell is a warm-up run (discarded), then a measured run.
Cells: 1-row and 100-row requests × concurrency 1, 16, 64; each cell runs on every server in
turn, rotating which goes first, so that other work on a shared machine, which drifts over
minutes, falls on all servers alike. "srv CPU" is user+sys of the server's process tree
during the measured run, in cores; "other" is what the rest of the machine (besides the
server and wrk) used meanwhile, from /proc/stat. On a machine shared with other work, read
the numbers next to it.

Targets (printed PASS/MISS): at 1 row and c16, Conveyor ≥ 30× MLServer's req/s, ≥ 0.9× the
bare endpoint's req/s, p99 ≤ 10 ms; at 100 rows and c16, Conveyor ≥ 1.5× bare's rows/s.

Servers are stopped by their own PID (SIGTERM, SIGKILL after a deadline); worker processes a
server left behind are stopped the same way, by theirs. Temporary directories are removed.

    .venv/bin/python benchmarks/serving.py                       # all servers, 5 s cells
    .venv/bin/python benchmarks/serving.py --quick               # 2 s cells, c1 and c16
    .venv/bin/python benchmarks/serving.py --servers conveyor,bare-onnx --json results.json
    .venv/bin/python benchmarks/serving.py --servers conveyor,conveyor-sync --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
LUA = PEERS / "post.lua"
BARE_APP_DIR = PEERS
MLSERVER_DIR = PEERS / "mlserver"
PEERS_BIN = ROOT / ".venv-peers" / "bin"

SERVERS = (
    "conveyor",
    "conveyor-v2",
    "conveyor-invocations",
    "conveyor-pyfunc",
    "conveyor-gateway",
    "conveyor-sync",
    "mlserver",
    "mlflow",
    "bare-onnx",
)
DEFAULT_SERVERS = tuple(s for s in SERVERS if s not in ("conveyor-sync", "conveyor-gateway"))
ROWS = (1, 100)
CONCURRENCY = (1, 16, 64)
QUICK_CONCURRENCY = (1, 16)
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
SETUP_TIMEOUT_S = 600.0
WRK_TIMEOUT = "10s"
ENV_PREFIXES_DROPPED = ("CONVEYOR_", "MLFLOW_", "MLSERVER_", "PROMETHEUS_")
SPEC = """\
name: wine
task: classification
data: {source: sklearn:wine, target: target}
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {C: 1.0, max_iter: 1000}
gates:
  champion: {enabled: false}
"""


class BenchmarkError(RuntimeError):
    pass


# --------------------------------------------------------------------------- environment


def find_main_bin() -> Path:
    """The project's virtualenv ``bin``, else the directory of the running interpreter."""
    for candidate in (ROOT / ".venv" / "bin", Path(sys.executable).parent):
        if (candidate / "conveyor").exists():
            return candidate
    raise BenchmarkError("no `conveyor` executable: run `make setup` first")


def clean_env(main_bin: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without server settings; MLflow telemetry off; venv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES_DROPPED)}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{main_bin}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise BenchmarkError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc.stdout


def versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    try:
        proc = subprocess.run(
            [str(python), "-c", code, *packages], capture_output=True, text=True, timeout=60
        )
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return {}


# --------------------------------------------------------------------------- processes


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live descendant of ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[tuple[int, str]] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        started = _start_time(child)
        if started is not None:
            found.append((child, started))
        todo += children.get(child, [])
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid`` and its live descendants (and children they reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid, *(d for d, _ in descendants(pid))]:
        fields = _stat(p)
        if fields:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _running(pid: int, started: str) -> bool:
    """``pid`` is still the process that started at ``started``, and not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def _signal_if_same(pid: int, started: str, sig: signal.Signals) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the process that started at ``started``."""
    if _start_time(pid) != started:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server by its PID, SIGKILL it after ``timeout``; then the same for any of
    its worker processes still alive (each by its own PID, checked against its start time)."""
    left = descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    deadline = time.monotonic() + 5.0
    alive = [(p, s) for p, s in left if _signal_if_same(p, s, signal.SIGTERM)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [(p, s) for p, s in alive if _running(p, s)]
    for p, s in alive:
        _signal_if_same(p, s, signal.SIGKILL)


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_s: float = 0.0  # from process start to the first 200 on its readiness path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def http(
    method: str, url: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def started(
    name: str,
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    port: int,
    ready_path: str,
    logs: Path,
) -> Iterator[Server]:
    """Start a server, wait (with a deadline) until ``ready_path`` answers 200, always stop it."""
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, proc, port, log)
    began = time.monotonic()
    try:
        deadline = began + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise BenchmarkError(f"{name} exited {proc.returncode}:\n{server.output()}")
            try:
                if http("GET", server.url + ready_path, timeout=1.0)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"{name} not ready in {READY_TIMEOUT_S:.0f}s:\n{server.output()}"
                )
            time.sleep(0.02)
        server.ready_s = time.monotonic() - began
        yield server
    finally:
        stop(proc)


# --------------------------------------------------------------------------- the model


@dataclass
class Model:
    home: Path
    project: Path
    model_dir: Path
    features: list[str]
    rows: dict[int, list[list[float]]]
    expected: dict[int, list[int]]


def build_model(work: Path, main_bin: Path, progress: Callable[[str], None]) -> Model:
    """`conveyor run` + `conveyor promote` on the wine spec; the version's MLflow model dir."""
    home, project = work / "home", work / "wine"
    project.mkdir()
    (project / "conveyor.yaml").write_text(SPEC)
    env = clean_env(main_bin, CONVEYOR_HOME=str(home), TMPDIR=str(work / "tmp"))
    (work / "tmp").mkdir()
    progress("building the model: conveyor run, conveyor promote")
    info = json.loads(run([str(main_bin / "conveyor"), "run", "--json"], project, env))
    version = str(info["registered_version"])
    run(
        [str(main_bin / "conveyor"), "promote", "wine", version, "--to", "production"], project, env
    )
    code = (
        "import mlflow, sys\n"
        "uri = sys.argv[1]\n"
        "mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)\n"
        "print(mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[2], dst_path=sys.argv[3]))"
    )
    out = run(
        [
            str(main_bin / "python"),
            "-c",
            code,
            f"sqlite:///{home / 'mlflow.db'}",
            f"models:/wine/{version}",
            str(work / "model"),
        ],
        project,
        env,
    )
    model_dir = Path(out.strip().splitlines()[-1])
    schema = json.loads((model_dir / "extra_files" / "schema.json").read_text())
    features = [c["name"] for c in schema["features"]]

    import cloudpickle
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_wine

    x = load_wine().data
    picks = {1: x[[0]], 100: x[np.linspace(0, len(x) - 1, 100).astype(int)]}
    with (model_dir / "model.pkl").open("rb") as f:
        pipeline = cloudpickle.load(f)
    expected = {
        n: [int(v) for v in pipeline.predict(pd.DataFrame(m, columns=features))]
        for n, m in picks.items()
    }
    rows = {n: m.tolist() for n, m in picks.items()}
    return Model(home, project, model_dir, features, rows, expected)


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    name: str  # as in SERVERS
    process: str  # which server process answers it
    path: str
    body: Callable[[Model, int], Any]
    labels: Callable[[Any], list[int]]


def _v2_body(model: Model, n: int) -> Any:
    flat = [v for row in model.rows[n] for v in row]
    return {
        "inputs": [
            {"name": "input-0", "shape": [n, len(model.features)], "datatype": "FP64", "data": flat}
        ]
    }


def _v2_labels(name: str) -> Callable[[Any], list[int]]:
    def labels(resp: Any) -> list[int]:
        out = {o["name"]: o for o in resp["outputs"]}[name]
        return [int(v) for v in out["data"]]

    return labels


def _predict_endpoint(name: str) -> Endpoint:
    """Conveyor's own body on a server process of that name: ``{"features": [[...], ...]}``."""
    return Endpoint(
        name,
        name,
        "/predict",
        lambda m, n: {"features": m.rows[n]},
        lambda r: [int(v) for v in r["predictions"]],
    )


ENDPOINTS = {
    "conveyor": _predict_endpoint("conveyor"),
    "conveyor-v2": Endpoint(
        "conveyor-v2", "conveyor", "/v2/models/wine/infer", _v2_body, _v2_labels("predictions")
    ),
    "conveyor-invocations": Endpoint(
        "conveyor-invocations",
        "conveyor",
        "/invocations",
        lambda m, n: {"dataframe_split": {"columns": m.features, "data": m.rows[n]}},
        lambda r: [int(v) for v in r["predictions"]],
    ),
    "conveyor-pyfunc": _predict_endpoint("conveyor-pyfunc"),
    "conveyor-gateway": _predict_endpoint("conveyor-gateway"),
    "conveyor-sync": _predict_endpoint("conveyor-sync"),
    "mlserver": Endpoint(
        "mlserver", "mlserver", "/v2/models/wine/infer", _v2_body, _v2_labels("predict")
    ),
    "mlflow": Endpoint(
        "mlflow",
        "mlflow",
        "/invocations",
        lambda m, n: {"dataframe_split": {"columns": m.features, "data": m.rows[n]}},
        lambda r: [int(v) for v in r["predictions"]],
    ),
    "bare-onnx": _predict_endpoint("bare-onnx"),
}
# the gateway last: it needs MLServer's address
PROCESS_ORDER = (
    "conveyor",
    "conveyor-sync",
    "conveyor-pyfunc",
    "bare-onnx",
    "mlflow",
    "mlserver",
    "conveyor-gateway",
)


@contextmanager
def serve(
    process: str, model: Model, work: Path, main_bin: Path, conveyor_env: dict[str, str]
) -> Iterator[Server]:
    """One server process on a free port, ready; stopped on exit."""
    port = free_port()
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    if process in ("conveyor", "conveyor-sync", "conveyor-gateway"):
        if process == "conveyor-sync":  # its own store: two ingesters on one SQLite file queue
            sync_store = f"sqlite:///{work / 'sync-store.db'}"
            conveyor_env = conveyor_env | {
                "CONVEYOR_INFERENCE_LOG_SYNC": "true",
                "CONVEYOR_STORE_URL": sync_store,
            }
        if process == "conveyor-gateway":  # CONVEYOR_BACKEND comes from the caller
            gateway_store = f"sqlite:///{work / 'gateway-store.db'}"
            conveyor_env = conveyor_env | {"CONVEYOR_STORE_URL": gateway_store}
        env = clean_env(main_bin, CONVEYOR_HOME=str(model.home), **conveyor_env)
        cmd = [str(main_bin / "conveyor"), "serve", "wine", "--port", str(port)]
        with started(
            process, cmd, cwd=model.project, env=env, port=port, ready_path="/ready", logs=logs
        ) as srv:
            yield srv
    elif process == "conveyor-pyfunc":  # the version without its graph, its own store
        local = work / "pyfunc-model"
        if not local.exists():
            shutil.copytree(model.model_dir, local)
            for name in ("model.onnx", "onnx_inputs.json"):
                (local / "extra_files" / name).unlink()
        env = clean_env(
            main_bin,
            CONVEYOR_HOME=str(work / "pyfunc-home"),
            **conveyor_env,
        )
        cmd = [str(main_bin / "conveyor"), "serve", "--model-path", str(local), "--port", str(port)]
        with started(
            process, cmd, cwd=work, env=env, port=port, ready_path="/ready", logs=logs
        ) as srv:
            yield srv
    elif process == "bare-onnx":
        env = clean_env(main_bin, BARE_ONNX_MODEL_DIR=str(model.model_dir))
        cmd = [
            str(main_bin / "python"),
            "-m",
            "uvicorn",
            "bare_onnx:app",
            "--app-dir",
            str(BARE_APP_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with started(
            process, cmd, cwd=work, env=env, port=port, ready_path="/health", logs=logs
        ) as srv:
            yield srv
    elif process == "mlflow":
        env = clean_env(main_bin)
        cmd = [
            str(main_bin / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model.model_dir),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-w",
            "1",
        ]
        with started(
            process, cmd, cwd=work, env=env, port=port, ready_path="/ping", logs=logs
        ) as srv:
            yield srv
    elif process == "mlserver":
        root = work / "mlserver"
        if not root.exists():
            run(
                [
                    str(PEERS_BIN / "python"),
                    str(MLSERVER_DIR / "export_model.py"),
                    str(model.model_dir),
                    str(root / "wine"),
                ],
                work,
                clean_env(main_bin),
            )
        settings = json.loads((MLSERVER_DIR / "settings.json").read_text())
        grpc_port, metrics_port = free_port(), free_port()
        while len({port, grpc_port, metrics_port}) < 3:
            metrics_port = free_port()
        settings.update(http_port=port, grpc_port=grpc_port, metrics_port=metrics_port)
        (root / "settings.json").write_text(json.dumps(settings, indent=2))
        env = clean_env(PEERS_BIN)
        cmd = [str(PEERS_BIN / "mlserver"), "start", str(root)]
        with started(
            process,
            cmd,
            cwd=root,
            env=env,
            port=port,
            ready_path="/v2/models/wine/ready",
            logs=logs,
        ) as srv:
            yield srv
    else:
        raise BenchmarkError(f"unknown server {process}")


def check(server: Server, endpoint: Endpoint, model: Model, n: int, body: bytes) -> None:
    """One request must answer 200 with the pipeline's labels (ONNX may differ on ≤ 2%)."""
    status, raw = http("POST", server.url + endpoint.path, body, timeout=30)
    if status != 200:
        raise BenchmarkError(f"{endpoint.name}: {n}-row request answered {status}: {raw[:500]!r}")
    got = endpoint.labels(json.loads(raw))
    want = model.expected[n]
    if len(got) != len(want):
        raise BenchmarkError(f"{endpoint.name}: {len(got)} predictions for {n} rows")
    wrong = sum(g != w for g, w in zip(got, want, strict=True))
    if wrong > 0.02 * n:
        raise BenchmarkError(f"{endpoint.name}: {wrong} of {n} labels differ from the pipeline's")


# --------------------------------------------------------------------------- wrk


@dataclass
class Cell:
    server: str
    rows: int
    concurrency: int
    threads: int
    duration_s: float
    requests: int
    rps: float
    rows_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, int]
    server_cpu_cores: float
    wrk_cpu_cores: float
    other_cpu_cores: float
    loadavg_1m: float
    body_bytes: int
    response_bytes: float = 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(url: str, body_file: Path, concurrency: int, seconds: int) -> dict[str, Any]:
    threads = min(concurrency, 2)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(LUA),
        url,
        "--",
        str(body_file),
        "application/json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line[len("WRK_JSON ") :])
            result["threads"] = threads
            return result
    raise BenchmarkError(
        f"wrk gave no summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )


def measure(
    server: Server,
    endpoint: Endpoint,
    rows: int,
    concurrency: int,
    body_file: Path,
    duration: int,
    warmup: int,
) -> Cell:
    url = server.url + endpoint.path
    if warmup > 0:
        wrk(url, body_file, concurrency, warmup)
    cpu0, wrk0, busy0, t0 = (
        tree_cpu_seconds(server.proc.pid),
        children_cpu(),
        machine_busy_seconds(),
        time.monotonic(),
    )
    res = wrk(url, body_file, concurrency, duration)
    wall = time.monotonic() - t0
    srv = tree_cpu_seconds(server.proc.pid) - cpu0
    gen = children_cpu() - wrk0
    busy = machine_busy_seconds() - busy0
    secs = res["duration_us"] / 1e6
    lat = res["latency_us"]
    errors = res["errors"]
    ok = max(res["requests"] - errors["status"], 0)
    return Cell(
        server=endpoint.name,
        rows=rows,
        concurrency=concurrency,
        threads=res["threads"],
        duration_s=round(secs, 3),
        requests=res["requests"],
        rps=round(ok / secs, 1),
        rows_per_s=round(ok * rows / secs, 1),
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        p999_ms=lat["p999"] / 1000,
        mean_ms=round(lat["mean"] / 1000, 3),
        max_ms=lat["max"] / 1000,
        errors=sum(errors.values()),
        error_detail=errors,
        server_cpu_cores=round(srv / wall, 2),
        wrk_cpu_cores=round(gen / wall, 2),
        other_cpu_cores=round(max(busy - srv - gen, 0.0) / wall, 2),
        loadavg_1m=round(os.getloadavg()[0], 2),
        body_bytes=body_file.stat().st_size,
        response_bytes=round(res["bytes"] / max(res["requests"], 1), 1),
    )


# --------------------------------------------------------------------------- report


@dataclass
class Verdict:
    name: str
    value: float | None
    target: str
    passed: bool | None
    detail: str


def find(cells: list[Cell], server: str, rows: int, concurrency: int) -> Cell | None:
    for c in cells:
        if (c.server, c.rows, c.concurrency) == (server, rows, concurrency):
            return c
    return None


def verdicts(cells: list[Cell]) -> list[Verdict]:
    conv1 = find(cells, "conveyor", 1, 16)
    conv100 = find(cells, "conveyor", 100, 16)
    mls1 = find(cells, "mlserver", 1, 16)
    bare1 = find(cells, "bare-onnx", 1, 16)
    bare100 = find(cells, "bare-onnx", 100, 16)
    out: list[Verdict] = []

    def ratio(name: str, a: Cell | None, b: Cell | None, attr: str, need: float) -> None:
        if a is None or b is None or getattr(b, attr) == 0:
            out.append(Verdict(name, None, f"≥ {need:g}×", None, "not measured"))
            return
        value = getattr(a, attr) / getattr(b, attr)
        detail = f"{getattr(a, attr):,.0f} vs {getattr(b, attr):,.0f}"
        out.append(Verdict(name, round(value, 2), f"≥ {need:g}×", value >= need, detail))

    ratio("1-row c16 req/s: conveyor / mlserver", conv1, mls1, "rps", 30)
    ratio("1-row c16 req/s: conveyor / bare-onnx", conv1, bare1, "rps", 0.9)
    if conv1 is None:
        out.append(Verdict("1-row c16 p99 (ms): conveyor", None, "≤ 10 ms", None, "not measured"))
    else:
        out.append(
            Verdict(
                "1-row c16 p99 (ms): conveyor",
                round(conv1.p99_ms, 2),
                "≤ 10 ms",
                conv1.p99_ms <= 10,
                f"p50 {conv1.p50_ms:.2f} ms",
            )
        )
    ratio("100-row c16 rows/s: conveyor / bare-onnx", conv100, bare100, "rows_per_s", 1.5)
    return out


def render(cells: list[Cell], checks: list[Verdict], meta: dict[str, Any]) -> str:
    head = (
        f"{'server':<12}{'rows/req':>9}{'conc':>6}{'req/s':>10}{'rows/s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'srv CPU':>9}{'wrk CPU':>9}{'other':>7}"
    )
    lines = [
        f"serving benchmark — wine, {meta['duration_s']} s per cell after {meta['warmup_s']} s "
        f"warm-up, wrk -c N -t min(N,2), {meta['cpus']} CPUs, 127.0.0.1",
        "",
        head,
        "-" * len(head),
    ]
    last = None
    for c in cells:
        if last is not None and (c.server, c.rows) != last:
            lines.append("")
        last = (c.server, c.rows)
        lines.append(
            f"{c.server:<12}{c.rows:>9}{c.concurrency:>6}{c.rps:>10,.0f}{c.rows_per_s:>11,.0f}"
            f"{c.p50_ms:>9.2f}{c.p99_ms:>9.2f}{c.errors:>8}{c.server_cpu_cores:>9.2f}"
            f"{c.wrk_cpu_cores:>9.2f}{c.other_cpu_cores:>7.2f}"
        )
    lines += [
        "",
        "CPU columns are cores busy during the measured run: the server's process tree, wrk, "
        "and everything else on the machine.",
        f"load average: {meta['loadavg_start']} at start, {meta['loadavg_end']} at end",
        "",
        "start to ready (process spawned → readiness endpoint answers 200): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in meta["start_to_ready_s"].items()),
        "",
        "targets",
    ]
    for v in checks:
        mark = {True: "PASS", False: "MISS", None: "n/a "}[v.passed]
        value = "—" if v.value is None else f"{v.value:g}"
        lines.append(f"  {mark}  {v.name:<42} {value:>8}  target {v.target:<8}  ({v.detail})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def benchmark(
    servers: list[str],
    duration: int,
    warmup: int,
    concurrency: tuple[int, ...],
    progress: Callable[[str], None],
    conveyor_env: dict[str, str] | None = None,
) -> tuple[list[Cell], dict[str, Any]]:
    main_bin = find_main_bin()
    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed (apt-get install wrk)")
    if {"mlserver", "conveyor-gateway"} & set(servers) and not (PEERS_BIN / "mlserver").exists():
        raise BenchmarkError("MLServer is not installed: run scripts/peers-venv.sh")
    cells: list[Cell] = []
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="conveyor-serving-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        model = build_model(work, main_bin, progress)
        bodies = work / "bodies"
        bodies.mkdir()
        running: dict[str, Server] = {}
        startup: dict[str, float] = {}
        if any(ENDPOINTS[s].process.startswith("conveyor") for s in servers):
            # the first start downloads the version into the cache; the measured server below
            # is a restart, which loads from it
            with serve("conveyor", model, work, main_bin, conveyor_env or {}) as first:
                startup["conveyor (first start)"] = first.ready_s
        wanted = {ENDPOINTS[s].process for s in servers}
        if "conveyor-gateway" in wanted:
            wanted.add("mlserver")  # the gateway's backend
        for process in PROCESS_ORDER:
            if process in wanted:
                progress(f"starting {process}")
                env = dict(conveyor_env or {})
                if process == "conveyor-gateway":
                    env["CONVEYOR_BACKEND"] = f"v2://127.0.0.1:{running['mlserver'].port}/wine"
                running[process] = stack.enter_context(serve(process, model, work, main_bin, env))
                label = f"{process} (restart)" if process.startswith("conveyor") else process
                startup[label] = running[process].ready_s
        endpoints = [ENDPOINTS[s] for s in servers]
        for ep in endpoints:
            for n in ROWS:
                body_file = bodies / f"{ep.name}-{n}.json"
                body_file.write_bytes(json.dumps(ep.body(model, n)).encode())
                check(running[ep.process], ep, model, n, body_file.read_bytes())
        # cell by cell, every server in turn (the order rotating), so that load from other
        # work on the machine, which drifts over minutes, falls on all servers alike
        turn = 0
        for n in ROWS:
            for c in concurrency:
                order = endpoints[turn % len(endpoints) :] + endpoints[: turn % len(endpoints)]
                turn += 1
                for ep in order:
                    srv = running[ep.process]
                    if srv.proc.poll() is not None:
                        raise BenchmarkError(f"{srv.name} died during the run:\n{srv.output()}")
                    cell = measure(srv, ep, n, c, bodies / f"{ep.name}-{n}.json", duration, warmup)
                    cells.append(cell)
                    progress(
                        f"  rows {n:>3}  c{c:<3} {ep.name:<12} {cell.rps:>9,.0f} req/s  "
                        f"p50 {cell.p50_ms:6.2f} ms  p99 {cell.p99_ms:7.2f} ms  "
                        f"errors {cell.errors}  other CPU {cell.other_cpu_cores:.2f}"
                    )
    rank = {name: i for i, name in enumerate(servers)}
    cells.sort(key=lambda c: (rank[c.server], c.rows, c.concurrency))
    meta = {
        "benchmark": "model servers on the wine model, wrk on 127.0.0.1",
        "duration_s": duration,
        "warmup_s": warmup,
        "concurrency": list(concurrency),
        "rows": list(ROWS),
        "servers": servers,
        "conveyor_env": conveyor_env or {},
        "start_to_ready_s": {k: round(v, 2) for k, v in startup.items()},
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_start": loadavg_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            **versions(
                main_bin / "python",
                (
                    "conveyor-mlops",
                    "fastapi",
                    "starlette",
                    "uvicorn",
                    "uvloop",
                    "httptools",
                    "onnxruntime",
                    "mlflow",
                    "scikit-learn",
                    "orjson",
                    "prometheus-client",
                ),
            ),
            **(
                {
                    f"peers:{k}": v
                    for k, v in versions(
                        PEERS_BIN / "python", ("mlserver", "mlserver-sklearn", "uvloop", "fastapi")
                    ).items()
                }
                if "mlserver" in servers
                else {}
            ),
        },
    }
    return cells, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark conveyor serve against MLServer, mlflow models serve and a bare "
        "FastAPI + ONNX endpoint on the same model, with wrk."
    )
    parser.add_argument("--duration", type=int, help="seconds per measured cell (5; --quick: 2)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per cell (1)")
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)} (all but conveyor-sync)",
    )
    parser.add_argument(
        "--concurrency", help="comma-separated connection counts (1,16,64; --quick: 1,16)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 s cells at concurrency 1 and 16 only"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=Path("serving-benchmark.json"),
        type=Path,
        metavar="PATH",
        help="also write the results as JSON (default path: serving-benchmark.json)",
    )
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when a measured target is missed"
    )
    parser.add_argument(
        "--conveyor-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a CONVEYOR_* setting for the Conveyor server (repeatable), e.g. "
        "CONVEYOR_INFERENCE_LOG=false to measure what the inference log costs",
    )
    args = parser.parse_args(argv)
    conveyor_env: dict[str, str] = {}
    for item in args.conveyor_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("CONVEYOR_"):
            parser.error(f"--conveyor-env {item!r}: expected CONVEYOR_NAME=value")
        conveyor_env[key] = value
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = sorted(set(servers) - set(SERVERS))
    if unknown or not servers:
        parser.error(f"--servers: unknown {unknown}; choose from {', '.join(SERVERS)}")
    servers = [s for s in SERVERS if s in servers]
    duration = args.duration if args.duration is not None else (2 if args.quick else 5)
    if duration < 1 or args.warmup < 0:
        parser.error("--duration must be ≥ 1 and --warmup ≥ 0 (whole seconds: wrk's unit)")
    if args.concurrency:
        try:
            concurrency = tuple(int(c) for c in args.concurrency.split(","))
        except ValueError:
            parser.error("--concurrency: comma-separated integers")
        if any(c < 1 for c in concurrency):
            parser.error("--concurrency: each must be ≥ 1")
    else:
        concurrency = QUICK_CONCURRENCY if args.quick else CONCURRENCY

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through the finally blocks that stop the servers

    signal.signal(signal.SIGTERM, interrupted)

    try:
        cells, meta = benchmark(servers, duration, args.warmup, concurrency, progress, conveyor_env)
    except (BenchmarkError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    checks = verdicts(cells)
    print(render(cells, checks, meta))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            **meta,
            "cells": [asdict(c) for c in cells],
            "targets": [asdict(v) for v in checks],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    missed = any(v.passed is False for v in checks)
    return 1 if args.fail_on_miss and missed else 0


if __name__ == "__main__":
    sys.exit(main())
