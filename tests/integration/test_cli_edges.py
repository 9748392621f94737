"""The CLI's edges through the real entry point (a `conveyor` subprocess): usage errors, hostile
project files, and credentials in URLs that must never be printed."""

from __future__ import annotations

import http.server
import json
import os
import resource
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.procs import CONVEYOR

pytestmark = pytest.mark.integration

SECRET = "s3cret-Pa55"

GOOD = """\
name: wine
task: classification
data: {source: sklearn:wine, target: target}
model: {estimator: sklearn.linear_model.LogisticRegression}
"""


def conveyor(
    *args: str,
    env: dict[str, str] | None = None,
    memory_mb: int | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `conveyor` script; optionally capped in address space."""

    def cap() -> None:
        if memory_mb is not None:
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [CONVEYOR, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "usage", "hint", "error"),
    [
        (["nosuch"], "Usage: conveyor [OPTIONS] COMMAND", "conveyor --help", "No such command"),
        (["valdate"], "Usage: conveyor [OPTIONS] COMMAND", "conveyor --help", "'validate'?"),
        (
            ["init", "x", "--datta", "y"],
            "Usage: conveyor init [OPTIONS]",
            "conveyor init --help",
            "No such option: --datta",
        ),
        (
            ["init", "x", "--data", "y"],
            "Usage: conveyor init [OPTIONS]",
            "conveyor init --help",
            "--data needs --target",
        ),
        (
            ["serve", "--port", "eighty"],
            "Usage: conveyor serve [OPTIONS]",
            "conveyor serve --help",
            "Invalid value for '--port'",
        ),
        (
            ["promote", "wine"],
            "Usage: conveyor promote [OPTIONS]",
            "conveyor promote --help",
            "Missing argument",
        ),
    ],
)
def test_usage_errors_show_usage_and_exit_2(
    home: Path, args: list[str], usage: str, hint: str, error: str
) -> None:
    result = conveyor(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert usage in result.stderr
    assert f"Try '{hint}' for help." in result.stderr
    assert error in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_usage_error_with_json_prints_json(home: Path) -> None:
    result = conveyor("nosuch", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "error": "No such command 'nosuch'.",
        "type": "UsageError",
        "exit_code": 2,
    }
    assert "Usage: conveyor" in result.stderr


def test_alias_bomb_is_refused_at_once(home: Path, tmp_path: Path) -> None:
    """A 0.6 KB file whose aliases expand to 387 million values: refused, exit 2, naming the
    file and the line, in bounded time and memory (it used to take 36 s and die of MemoryError)."""
    lines = [GOOD.rstrip(), "serving:", "  l0: &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    spec = tmp_path / "conveyor.yaml"
    spec.write_text("\n".join(lines) + "\n")
    assert spec.stat().st_size < 1024
    result = conveyor("validate", "--project", str(tmp_path), memory_mb=2048, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"error: {spec}: invalid project spec" in result.stderr
    assert "line 10: YAML aliases expand the file by more than 10,000 values" in result.stderr


@pytest.fixture
def tracking_server() -> Iterator[tuple[int, list[str]]]:
    """A local server that answers MLflow's /health and drops every API call, recording the
    Authorization header it was sent."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            if self.path.endswith("/health"):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")
                return
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # MLflow's call fails mid-request

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1]), seen
    server.shutdown()
    server.server_close()


def test_tracking_uri_password_is_masked_and_still_used(
    home: Path, tracking_server: tuple[int, list[str]]
) -> None:
    port, seen = tracking_server
    env = {
        "CONVEYOR_TRACKING_URI": f"http://alice:{SECRET}@127.0.0.1:{port}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        "CONVEYOR_LOG_LEVEL": "DEBUG",  # every log line too
    }
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    for args in (["models", "list"], ["models", "list", "--json"], ["serve", "wine"]):
        result = results[" ".join(args)] = conveyor(*args, env=env)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert SECRET not in output, output[-3000:]
        assert "Traceback" not in output
    text = results["models list"].stderr
    assert f"http://alice:***@127.0.0.1:{port}" in text  # the server is named, the password not
    # the credentials reached the server as a Basic header (urllib took them for the host name)
    assert "Basic YWxpY2U6czNjcmV0LVBhNTU=" in seen


def test_unreachable_tracking_server_message_masks_the_password(home: Path) -> None:
    env = {"CONVEYOR_TRACKING_URI": f"http://alice:{SECRET}@127.0.0.1:{closed_port()}"}
    result = conveyor("models", "list", env=env)
    assert result.returncode == 1
    assert "is unreachable" in result.stderr and "alice:***@127.0.0.1" in result.stderr
    assert SECRET not in result.stderr


def test_store_url_password_is_masked(home: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql+psycopg://conveyor:{SECRET}@127.0.0.1:{closed_port()}/conveyor"
    result = conveyor("alerts", "list", env={"CONVEYOR_STORE_URL": url})
    assert result.returncode == 1, result.stderr
    assert "conveyor:***@127.0.0.1" in result.stderr
    assert SECRET not in result.stdout + result.stderr
