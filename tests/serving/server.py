"""Start `conveyor serve` as a real subprocess on a free port; always stopped by its own PID."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.serving.conftest import BIN, Registered, free_port


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@contextmanager
def running_server(
    reg: Registered, *args: str, env: dict[str, str] | None = None, ready_timeout: float = 60.0
) -> Iterator[Server]:
    port = free_port()
    log = reg.home.parent / f"server-{port}.log"
    full_env = reg.env() | (env or {})
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "conveyor"), "serve", *args, "--port", str(port)],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=reg.project,
        )
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready in {ready_timeout}s:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str], timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)
