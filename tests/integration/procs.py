"""Subprocesses of the real `conveyor` CLI for integration tests, stopped by their own PIDs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CONVEYOR = str(Path(sys.executable).parent / "conveyor")


class Processes:
    """Subprocesses started by one test; each is stopped by its own PID when the test ends."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(
        self, args: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this Popen created
                proc.wait(timeout=10)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()  # now, not when the collector finds them


def communicate_all(
    procs: list[subprocess.Popen[str]], deadline_s: float
) -> list[tuple[int, str, str]]:
    deadline = time.monotonic() + deadline_s
    results = []
    for proc in procs:
        remaining = max(1.0, deadline - time.monotonic())
        out, err = proc.communicate(timeout=remaining)
        results.append((proc.returncode, out, err))
    return results
