"""The tracking stack a team runs, exercised for real: `mlflow server` on PostgreSQL with its
artifacts in an S3-compatible store, Conveyor's store on PostgreSQL, and `conveyor run →
promote → serve → rollout` through it.

The S3 endpoint is moto's server, an emulator of the S3 API started by the test (no cloud is
reachable here); MLflow and Conveyor reach it through boto3 exactly as they would reach S3 or
MinIO. Two ways of reaching artifacts are covered: through the MLflow server
(``--serve-artifacts``: clients need no object-store credentials) and directly from S3
(``--no-serve-artifacts``: clients read and write the bucket themselves). The whole path —
two runs, a rollout, the console — runs through the server; directly from S3, one run is
registered, promoted and served (what differs there is only who reads the bucket)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_mlflow_server import free_port
from tests.integration.test_postgres import postgres_admin_url, postgres_database
from tests.serving.conftest import Registered
from tests.serving.server import running_server

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
pytest.importorskip("moto", reason="moto[server] emulates S3 for this test (the dev extra)")
pytest.importorskip("boto3")

BIN = Path(sys.executable).parent
BUCKET = "mlflow-artifacts"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "conveyor-test", "AWS_SECRET_ACCESS_KEY": "conveyor-test"}
SPEC = (
    "name: wine_s3\ntask: classification\n"
    "data: {source: sklearn:wine, target: target}\n"
    "model:\n  estimator: sklearn.linear_model.LogisticRegression\n"
    "  params: {C: %s, max_iter: 1000}\n"
    "gates:\n  champion: {enabled: false}\n"
)


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], log: Path, health: str) -> Iterator[None]:
    """Start a server in its own process group; wait until ``health`` answers 200."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while not _answers(health):
            if proc.poll() is not None:
                pytest.fail(f"{args[0]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{args[0]} not healthy in 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this Popen created
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 emulator on a free loopback port, with the artifacts bucket."""
    import boto3

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with started(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        dict(os.environ),
        log,
        f"{url}/moto-api",
    ):
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **_keys())
        client.create_bucket(Bucket=BUCKET)
        yield url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"]}  # fmt: skip


@pytest.mark.parametrize("artifacts", ["through-server", "direct-s3"])
def test_run_promote_serve_rollout_on_postgres_and_s3(
    s3: str, tmp_path: Path, artifacts: str
) -> None:
    import boto3

    postgres_admin_url()  # skips, with the reason, without a PostgreSQL to run on
    s3_env = {**S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": s3, "AWS_DEFAULT_REGION": "us-east-1"}
    prefix = f"s3://{BUCKET}/{artifacts}"
    with postgres_database("mlflow_t") as backend, postgres_database("store_t") as store:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        serving = (
            ["--serve-artifacts", "--artifacts-destination", prefix]
            if artifacts == "through-server"
            else ["--no-serve-artifacts", "--default-artifact-root", prefix]
        )
        server_env = {**os.environ, **s3_env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with started(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", backend, *serving,
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            server_env, tmp_path / "mlflow.log", f"{url}/health",
        ):  # fmt: skip
            reg = Registered(tmp_path / "home", tmp_path / "project", "wine_s3")
            reg.project.mkdir()
            client_env = {"CONVEYOR_TRACKING_URI": url, "CONVEYOR_STORE_URL": store}
            if artifacts == "direct-s3":  # clients reach the bucket themselves
                client_env |= s3_env

            def conveyor(*args: str) -> subprocess.CompletedProcess[str]:
                done = subprocess.run(
                    [str(BIN / "conveyor"), *args], cwd=reg.project,
                    env=reg.env() | client_env, capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
                return done

            whole = artifacts == "through-server"
            (reg.project / "conveyor.yaml").write_text(SPEC % 1.0)
            first = json.loads(conveyor("run", "--json").stdout)
            conveyor("promote", "wine_s3", first["registered_version"], "--to", "production")
            if whole:
                (reg.project / "conveyor.yaml").write_text(SPEC % 0.05)
                second = json.loads(conveyor("run", "--json").stdout)
                assert (first["registered_version"], second["registered_version"]) == ("1", "2")
            assert not (reg.home / "artifacts").exists() and not (reg.home / "mlflow.db").exists()

            # the artifacts are in the bucket; a client reading S3 directly finds the graph
            bucket = boto3.client("s3", endpoint_url=s3, region_name="us-east-1", **_keys())
            keys = [
                o["Key"]
                for page in bucket.get_paginator("list_objects_v2").paginate(
                    Bucket=BUCKET, Prefix=artifacts
                )
                for o in page.get("Contents", [])
            ]
            graphs = [k for k in keys if k.endswith("extra_files/model.onnx")]
            assert len(graphs) == (2 if whole else 1), keys
            direct = {bucket.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in graphs}

            env = client_env | {
                "CONVEYOR_REFRESH_SECONDS": "1",
                "CONVEYOR_ROLLOUT_POLL_SECONDS": "1",
                "CONVEYOR_ROLLOUT_CONTROLLER_SECONDS": "1",
            }
            with running_server(reg, "wine_s3", env=env) as server:
                row = {"alcohol": 13.2, "malic_acid": 1.78, "ash": 2.14, "alcalinity_of_ash": 11.2,
                       "magnesium": 100.0, "total_phenols": 2.65, "flavanoids": 2.76,
                       "nonflavanoid_phenols": 0.26, "proanthocyanins": 1.28,
                       "color_intensity": 4.38, "hue": 1.05,
                       "od280/od315_of_diluted_wines": 3.4, "proline": 1050.0}  # fmt: skip
                answer = httpx.post(f"{server.url}/predict", json={"instances": [row]}).json()
                assert answer["model"]["version"] == "1"
                cached = (reg.home / "cache" / "models" / "wine_s3" / "1").rglob("model.onnx")
                assert {p.read_bytes() for p in cached} <= direct  # what the server loaded
                if not whole:
                    return

                conveyor("rollout", "start", "wine_s3", "2", "--strategy", "blue_green",
                         "--reason", "through the stack")  # fmt: skip
                deadline = time.monotonic() + 60  # the server's leader begins it
                while time.monotonic() < deadline:
                    shown = json.loads(conveyor("rollout", "status", "wine_s3", "--json").stdout)
                    state = shown["rollout"]
                    if state["state"] != "pending":
                        break
                    time.sleep(0.5)
                assert state["state"] == "progressing", state
                conveyor("rollout", "promote", "wine_s3", "--reason", "checked by hand")
                status = json.loads(conveyor("rollout", "status", "wine_s3", "--wait",
                                             "--timeout", "120", "--json").stdout)  # fmt: skip
                assert status["rollout"]["state"] == "succeeded", status
                deadline = time.monotonic() + 60
                version = answer["model"]["version"]
                while version != "2" and time.monotonic() < deadline:
                    time.sleep(0.5)
                    version = httpx.post(f"{server.url}/predict", json={"instances": [row]}).json()[
                        "model"
                    ]["version"]
                assert version == "2"  # the server followed the alias the rollout moved
            shown = json.loads(conveyor("models", "show", "wine_s3", "2", "--json").stdout)
            assert shown["stage"] == "production"

            # the console reads the same PostgreSQL store and MLflow server
            ui = subprocess.Popen(
                [str(BIN / "conveyor"), "ui", "--port", str(ui_port := free_port())],
                env=reg.env() | client_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                api = f"http://127.0.0.1:{ui_port}/api/models/wine_s3"
                deadline = time.monotonic() + 60
                while not _answers(f"http://127.0.0.1:{ui_port}/api/meta"):
                    assert time.monotonic() < deadline and ui.poll() is None
                    time.sleep(0.2)
                rollout = httpx.get(f"{api}/rollout", timeout=60).json()
                assert rollout["rollout"]["state"] == "succeeded"
                assert rollout["traffic"][-1]["candidate"] == 100
                watched = httpx.get(f"{api}/monitoring?window=60", timeout=60).json()
                assert [v["version"] for v in watched["versions"]] == ["2"]
                assert watched["versions"][0]["health"]["requests"] >= 1  # v2 answered the probe
            finally:
                ui.terminate()
                ui.wait(20)
