"""The ingester child process of one server process, kept alive.

The inference log reaches the store only through the ingester (``conveyor.serving.ingest``).
If it dies — killed, out of memory, a bug — nothing would move from the spool to the store
until the server restarted, while the server went on answering. So the server's log writer
thread checks it on every tick: a dead ingester is logged at ERROR, counted, reported on
``/ready`` and ``conveyor_inference_log_ingester_up``, and started again after a backoff
(0.5 s, doubling while it keeps dying young, at most 30 s). A new ingester takes the same
owner prefix, so it ingests exactly what its predecessor left (segments are ingested exactly
once, whatever state the old one died in).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.serving.ingest import IngestConfig
    from conveyor.serving.metrics import ServerMetrics

log = logging.getLogger(__name__)


class IngesterProcess:
    """Starts, watches and restarts one ingester; ``tick()`` and ``stop()`` are called from
    the log writer thread, ``start()`` before it runs."""

    def __init__(
        self,
        config: IngestConfig,
        metrics: ServerMetrics,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        healthy_after_s: float = 60.0,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.healthy_after_s = healthy_after_s
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._backoff_s = min_backoff_s
        self._restart_at: float | None = None
        self._last_pid: int | None = None

    @property
    def up(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.up and self._proc is not None else None

    def start(self) -> None:
        self._spawn()

    def tick(self, now: float | None = None) -> None:
        """Notice a dead ingester and start a new one once its backoff has passed."""
        now = time.monotonic() if now is None else now
        if self._proc is not None:
            code = self._proc.poll()
            if code is None:
                self.metrics.ingester_up.set(1)
                return
            self._forget_dead()
            self.metrics.ingester_up.set(0)
            if now - self._started_at >= self.healthy_after_s:
                self._backoff_s = self.min_backoff_s  # it had been fine for a while
            self._restart_at = now + self._backoff_s
            log.error(
                "inference-log ingester (pid %s) exited with %s; starting a new one in %.1f s "
                "(predictions wait in the spool meanwhile)",
                self._last_pid,
                _describe(code),
                self._backoff_s,
            )
            self._backoff_s = min(self._backoff_s * 2, self.max_backoff_s)
        if self._restart_at is not None and now >= self._restart_at:
            self.restarts += 1
            self.metrics.ingester_restarts.inc()
            self._spawn()

    def stop(self, timeout: float) -> None:
        """Close the ingester's input: it ingests this server's segments and exits. A dead
        ingester is replaced for that final drain, so a stop after a crash still stores every
        spooled record."""
        if not self.up:
            self._forget_dead()
            self._spawn()
        proc = self._proc
        self._restart_at = None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # end of input: drain and exit
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("inference-log ingester still busy after %.0f s; left running", timeout)
        self.metrics.ingester_up.set(0)

    def _forget_dead(self) -> None:
        """Drop an exited ingester, closing our end of its input pipe (else it leaks)."""
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._proc = None

    def _spawn(self) -> None:
        self._restart_at = None
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "conveyor.serving.ingest"], stdin=subprocess.PIPE
            )
            assert proc.stdin is not None
            proc.stdin.write(self.config.to_json() + b"\n")
            proc.stdin.flush()
        except OSError as exc:  # fork failed, or the new process died before reading
            if proc is not None:
                proc.kill()
                proc.wait()
            log.error("inference-log ingester could not start: %s", exc)
            self._restart_at = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.max_backoff_s)
            self.metrics.ingester_up.set(0)
            return
        self._proc = proc
        self._last_pid = proc.pid
        self._started_at = time.monotonic()
        self.metrics.ingester_up.set(1)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"
