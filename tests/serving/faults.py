"""Real faults for serving tests: a TCP proxy that can refuse, immutable files, the ingester's
process id, and polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(every)


def stored_request_ids(url: str) -> set[str]:
    """Request ids in a store's inference log (empty while its table does not exist)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("select request_id from inference_log")).scalars())
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return set()
    finally:
        engine.dispose()


def ingester_pids(server_pid: int) -> list[int]:
    """Process ids of the inference-log ingesters among the server's children."""
    out = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True)
    found = []
    for pid in map(int, out.stdout.split()):
        with contextlib.suppress(FileNotFoundError):
            if b"conveyor.serving.ingest" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def metric(text: str, line_start: str) -> float:
    """The value of the exposition line starting with ``line_start`` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def chattr_works(probe_dir: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    probe = probe_dir / "chattr-probe"
    probe.write_bytes(b"")
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        subprocess.run(["chattr", "-i", str(probe)], check=True)
        return True
    finally:
        probe.unlink()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Callable[[], None]]:
    """``chattr +i`` on ``path`` (root cannot write it either); yields a function that lifts
    it early; always lifted at the end."""
    if not chattr_works(path.parent):
        pytest.skip("chattr +i is not available on this filesystem")
    subprocess.run(["chattr", "+i", str(path)], check=True)
    lifted = False

    def lift() -> None:
        nonlocal lifted
        if not lifted:
            subprocess.run(["chattr", "-i", str(path)], check=True)
            lifted = True

    try:
        yield lift
    finally:
        lift()


class TcpProxy:
    """127.0.0.1:<port> in front of ``target``, on its own event-loop thread. Closed, it
    accepts and at once closes every connection (the server seems gone); open, it forwards
    bytes both ways. ``close()`` also cuts the connections it carries."""

    def __init__(self, target_host: str, target_port: int, open_: bool = False) -> None:
        self.target = (target_host, target_port)
        self.is_open = open_
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            self._cut()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()  # its self-pipe sockets now, not when the collector finds it

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self._loop.call_soon_threadsafe(self._cut)

    def _cut(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


def postgres_host_port(url: str) -> tuple[str, int]:
    parsed = sa.engine.make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def via_proxy(url: str, proxy: TcpProxy) -> str:
    return (
        sa.engine.make_url(url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
