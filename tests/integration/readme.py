"""Run a README section's bash block as written: each line with bash in the directory the
block has reached (``cd X && ...`` moves it), a line ending in ``&`` as a server on a free
port (``localhost:8000`` in later lines points there), and ``conveyor rollout status`` with
requests sent meanwhile, since a rollout is judged on both arms' traffic."""

from __future__ import annotations

import json
import random
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.integration.procs import Processes
from tests.serving.conftest import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(heading: str) -> list[str]:
    """The first bash block after ``## heading``, one command per entry, comments dropped."""
    section = README.read_text().split(f"## {heading}\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def wait_ready(server: subprocess.Popen[str], url: str, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            raise AssertionError(f"{what}: exited\n{server.stderr.read() if server.stderr else ''}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what}: not ready"
        time.sleep(0.3)


@dataclass
class Block:
    """Runs commands of a README block; ``url`` is the last server started."""

    cwd: Path
    env: dict[str, str]
    procs: Processes
    url: str = ""
    answers: list[Any] = field(default_factory=list)  # what each curl printed, parsed
    seconds: dict[str, float] = field(default_factory=dict)  # each command's wall time

    def run(self, command: str, traffic: Callable[[], dict[str, Any]] | None = None) -> None:
        started = time.monotonic()
        try:
            self._run(command, traffic)
        finally:
            self.seconds[command[:60]] = round(time.monotonic() - started, 1)
            print(f"{self.seconds[command[:60]]:>6} s  {command[:60]}")

    def _run(self, command: str, traffic: Callable[[], dict[str, Any]] | None) -> None:
        if command.startswith("cd "):
            where, _, command = command.removeprefix("cd ").partition(" && ")
            self.cwd = self.cwd / where
        if command.endswith("&"):
            port = free_port()
            args = [*shlex.split(command.removesuffix("&")), "--port", str(port)]
            server = self.procs.start(args, self.env, self.cwd)
            self.url = f"http://127.0.0.1:{port}"
            wait_ready(server, self.url, command)
            return
        command = command.replace("localhost:8000", self.url.removeprefix("http://"))
        if command.startswith("conveyor rollout status") and traffic is not None:
            with sending(self.url, traffic):
                self._bash(command)
            return
        out = self._bash(command)
        if command.startswith("curl "):
            self.answers.append(json.loads(out))

    def _bash(self, command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout


@contextmanager
def sending(url: str, body: Callable[[], dict[str, Any]]) -> Iterator[None]:
    """POST /predict with ``body()`` in a loop until the block ends; every answer must be 200."""
    stop = threading.Event()
    failed: list[str] = []
    sent = [0]

    def loop() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                answer = client.post(f"{url}/predict", json=body())
                sent[0] += 1
                if answer.status_code != 200:
                    failed.append(f"{answer.status_code} {answer.text[:300]}")

    sender = threading.Thread(target=loop, daemon=True)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join(timeout=30)
    assert sent[0] and not failed, f"{len(failed)} of {sent[0]} failed: {failed[:3]}"


def random_rows(rows: list[dict[str, Any]], seed: int = 0) -> Callable[[], dict[str, Any]]:
    rng = random.Random(seed)
    return lambda: {"instances": [rng.choice(rows)]}
