"""One large or hostile request against a real `conveyor serve`: a quick 4xx, while /health keeps
answering and memory stays bounded; request text cannot forge a log line."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import Registered
from tests.serving.server import Server, running_server

pytestmark = pytest.mark.integration

# generous bounds: before rows were capped, a 3 MB body of 10^6 empty objects took 14-20 s to
# answer, held /health as long and grew the process by 2.5 GB
ANSWER_WITHIN_S = 5.0
HEALTH_WITHIN_S = 2.0
RSS_GROWTH_MB = 600.0


@pytest.fixture(scope="module")
def server(
    wine_registered: Registered, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    reg = wine_registered.clone(tmp_path_factory.mktemp("hostile"))
    env = {
        "CONVEYOR_LOG_LEVEL": "INFO",
        "CONVEYOR_LOG_FORMAT": "text",
        "CONVEYOR_HEADER_TIMEOUT_SECONDS": "1",
        "CONVEYOR_BODY_TIMEOUT_SECONDS": "2",
    }
    with running_server(reg, "wine", "--refresh-seconds", "0", env=env) as srv:
        yield srv


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def v2_binary(rows: int) -> tuple[bytes, dict[str, str]]:
    raw = bytes(rows * 13 * 8)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [rows, 13],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head))}


def bodies() -> dict[str, tuple[str, bytes, dict[str, str], int]]:
    zeros = b"[" + b",".join([b"0"] * 13) + b"]"
    binary, headers = v2_binary(80_000)
    return {
        "instances-1e6-empty": (
            "/predict",
            b'{"instances":[' + b",".join([b"{}"] * 10**6) + b"]}",
            {},
            413,
        ),
        "features-290k-rows": (
            "/predict",
            b'{"features":[' + b",".join([zeros] * 290_000) + b"]}",
            {},
            413,
        ),
        "features-250k-rows-pandas-nan": (  # read by the slower, tolerant parser
            "/predict",
            b'{"features":[' + b",".join([zeros.replace(b"[0,", b"[NaN,")] * 250_000) + b"]}",
            {},
            413,
        ),
        "v2-binary-80k-rows": ("/v2/models/wine/infer", binary, headers, 413),
        "v2-json-data-beyond-shape": (
            "/v2/models/wine/infer",
            b'{"inputs":[{"name":"input-0","shape":[1,13],"datatype":"FP64","data":['
            + b",".join([b"0"] * 3_000_000)
            + b"]}]}",
            {},
            400,
        ),
        "instances-1e4-empty": (
            "/predict",
            b'{"instances":[' + b",".join([b"{}"] * 10**4) + b"]}",
            {},
            422,
        ),
    }


@pytest.mark.parametrize("name", list(bodies()))
def test_hostile_body_answers_fast_without_stalling_health(server: Server, name: str) -> None:
    path, body, headers, status = bodies()[name]
    pid = server.proc.pid
    before = rss_mb(pid)
    done = threading.Event()
    health: list[float] = []
    peak = [before]

    def probe() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not done.is_set():
                began = time.perf_counter()
                assert client.get("/health").status_code == 200
                health.append(time.perf_counter() - began)
                time.sleep(0.01)

    def sample() -> None:  # apart from the probe, which may be the one kept waiting
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.01)

    threads = [threading.Thread(target=f, daemon=True) for f in (probe, sample)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10  # the probe answers once before the hostile request
    while not health:
        assert time.monotonic() < deadline, "the health probe never answered"
        time.sleep(0.01)
    began = time.perf_counter()
    try:
        r = httpx.post(server.url + path, content=body, headers=headers, timeout=60)
        answered = time.perf_counter() - began
    finally:
        done.set()
        for thread in threads:
            thread.join(60)
    assert answered < ANSWER_WITHIN_S, answered
    assert max(health) < HEALTH_WITHIN_S, max(health)
    assert peak[0] - before < RSS_GROWTH_MB, (before, peak[0])
    assert r.status_code == status, r.text[:300]
    assert "error" in r.json()


def test_request_text_cannot_forge_a_log_line(server: Server) -> None:
    forged = "2099-01-01 00:00:00,000 CRITICAL conveyor.forged: injected"
    r = httpx.get(f"{server.url}/nope%0A{forged.replace(' ', '%20')}%0D%0A", timeout=10)
    assert r.status_code == 404
    deadline = time.monotonic() + 10
    while "conveyor.forged" not in server.output():  # the access line is written after the answer
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.05)
    lines = server.output().splitlines()
    assert not [line for line in lines if line.startswith("2099-01-01")]
    access = next(line for line in lines if "conveyor.forged" in line)
    assert "GET /nope\\n2099-01-01 00:00:00,000 CRITICAL conveyor.forged: injected\\r\\n" in access


def test_a_client_that_hangs_up_mid_upload_is_an_abort_not_a_server_error(
    server: Server,
) -> None:
    """Half a body, then the socket closes: counted as status 499 (the client's), one log line,
    no traceback, and nothing that the 5xx error-rate alerts read."""
    import re
    import socket

    def requests_by_status() -> dict[str, float]:
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        counts: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("conveyor_requests_total{") and 'route="/predict"' in line:
                status = re.search(r'status="(\d+)"', line)
                assert status is not None
                counts[status.group(1)] = counts.get(status.group(1), 0) + float(line.split()[-1])
        return counts

    before = requests_by_status()
    body = json.dumps({"instances": [{"alcohol": 13.0}] * 2000}).encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = (
                f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body[: len(body) // 2])
            time.sleep(0.2)  # the server is reading the body when the client goes
    deadline = time.monotonic() + 10
    while requests_by_status().get("499", 0) - before.get("499", 0) < 3:
        assert time.monotonic() < deadline, (requests_by_status(), server.output()[-3000:])
        time.sleep(0.1)
    after = requests_by_status()
    assert after.get("500", 0) == before.get("500", 0)
    output = server.output()
    assert "Traceback" not in output
    assert output.count("client closed the connection") >= 3


def read_answer(sock: socket.socket, within_s: float) -> bytes:
    """What the server sends until it closes the connection (or ``within_s`` passes)."""
    sock.settimeout(within_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def test_a_header_over_the_cap_is_431_and_closed(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        answer = read_answer(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"request line and headers over 32768 bytes" in answer


def test_a_header_streamed_without_end_is_cut_off_early(server: Server) -> None:
    """200 MB of one header, sent as fast as the socket takes it: refused after the cap (a
    read or two past it), not buffered; /health answers meanwhile."""
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            while sent < 200 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(sock, 5)
    assert sent < 16 * 1024 * 1024, sent  # the server closed long before the end
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"", answer[:200]
    assert httpx.get(f"{server.url}/health", timeout=2).status_code == 200


def test_held_connections_with_partial_heads_are_closed_by_the_head_timeout(
    server: Server,
) -> None:
    """Slowloris: 200 connections each holding half a request line. Each is answered 408 and
    closed after the 1 s head timeout; the server answers others all along."""
    socks = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        started = time.monotonic()
        assert httpx.get(f"{server.url}/health", timeout=2).status_code == 200
        answers = [read_answer(sock, 10) for sock in socks]
        waited = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}
    assert waited < 8, waited
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with silent:  # a connection that never sends a byte is closed too, without an answer
        assert read_answer(silent, 5) == b""


def test_a_body_trickling_in_is_408_naming_the_body(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"instances": ['
        )
        answer = read_answer(sock, 10)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["problems"][0]["loc"] == "body"
    assert "not received within 2 s" in body["problems"][0]["msg"]
