"""Benchmark: what one large or hostile request costs `conveyor serve` and everyone else.

Builds the wine model as ``serving.py`` does, starts ``conveyor serve wine`` (1 worker,
defaults), and sends each body below once while a second thread probes ``GET /health`` every
10 ms while a third samples the server's resident memory (VmRSS from /proc) every 10 ms. Per body it
prints the status and time to answer, the slowest /health answer meanwhile, and the process's
RSS before and at its peak.

Bodies (each under the default 8 MiB body limit):

- ``instances-1e6-empty``: ``{"instances": [{}, {}, ...]}`` with 10^6 empty objects (3 MB);
- ``instances-1e4-empty``: the same with 10^4 objects (under a row cap, every row is wrong);
- ``features-290k``: ``{"features": [[13 zeros], ...]}``, 290,000 rows (8 MB);
- ``features-250k-nan``: 250,000 such rows with a bare ``NaN`` in each (pandas' way of writing a
  missing value, which orjson refuses: the slower tolerant parser reads it);
- ``v2-json-300k``: one [300000, 13] FP64 tensor as JSON data;
- ``v2-binary-80k``: one [80000, 13] FP64 tensor as binary data;
- ``v2-json-short-data``: shape [1, 13] but 3·10^6 values in ``data``.

    .venv/bin/python benchmarks/hostile_requests.py [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import build_model, find_main_bin, serve

PROBE_EVERY_S = 0.01
ANSWER_TIMEOUT_S = 120.0


@dataclass
class Outcome:
    body: str
    size_mb: float
    status: int
    answer_s: float
    health_max_ms: float
    health_probes: int
    rss_before_mb: float
    rss_peak_mb: float
    error: str


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bodies() -> dict[str, tuple[bytes, dict[str, str], str]]:
    """name → (body, headers, path)."""
    zeros = "[" + ",".join(["0"] * 13) + "]"
    v2_json = (
        b'{"inputs":[{"name":"input-0","shape":[300000,13],"datatype":"FP64","data":['
        + b",".join([b"0"] * (300_000 * 13))
        + b"]}]}"
    )
    raw = bytes(80_000 * 13 * 8)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [80_000, 13],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    short = (
        b'{"inputs":[{"name":"input-0","shape":[1,13],"datatype":"FP64","data":['
        + b",".join([b"0"] * 3_000_000)
        + b"]}]}"
    )
    v2 = "/v2/models/wine/infer"
    return {
        "instances-1e6-empty": (
            b'{"instances":[' + b",".join([b"{}"] * 10**6) + b"]}",
            {},
            "/predict",
        ),
        "instances-1e4-empty": (
            b'{"instances":[' + b",".join([b"{}"] * 10**4) + b"]}",
            {},
            "/predict",
        ),
        "features-290k": (
            ('{"features":[' + ",".join([zeros] * 290_000) + "]}").encode(),
            {},
            "/predict",
        ),
        "features-250k-nan": (
            ('{"features":[' + ",".join([zeros.replace("[0,", "[NaN,")] * 250_000) + "]}").encode(),
            {},
            "/predict",
        ),
        "v2-json-300k": (v2_json, {}, v2),
        "v2-binary-80k": (head + raw, {"Inference-Header-Content-Length": str(len(head))}, v2),
        "v2-json-short-data": (short, {}, v2),
    }


def measure(
    url: str, pid: int, name: str, body: bytes, headers: dict[str, str], path: str
) -> Outcome:
    stop = threading.Event()
    health: list[float] = []
    rss: list[float] = []

    def probe() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/health", timeout=60).read()
            health.append(time.perf_counter() - began)
            time.sleep(PROBE_EVERY_S)

    def sample() -> None:  # its own thread: the probe may wait seconds for an answer
        while not stop.is_set():
            rss.append(rss_mb(pid))
            time.sleep(PROBE_EVERY_S)

    before = rss_mb(pid)
    threads = [threading.Thread(target=f, daemon=True) for f in (probe, sample)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # a few probes before the request
    request = urllib.request.Request(
        url + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    began = time.perf_counter()
    error = ""
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_S) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    answer_s = time.perf_counter() - began
    if status >= 400:
        error = text[:160].decode(errors="replace")
    time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(60)
    return Outcome(
        name,
        round(len(body) / 1e6, 1),
        status,
        round(answer_s, 3),
        round(max(health) * 1000, 1),
        len(health),
        round(before, 0),
        round(max([before, *rss]), 0),
        error,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args()
    main_bin = find_main_bin()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="conveyor-hostile-") as tmp:
        work = Path(tmp)
        model = build_model(work, main_bin, lambda msg: print(msg, file=sys.stderr))
        with serve("conveyor", model, work, main_bin, {}) as server:
            for name, (body, headers, path) in bodies().items():
                outcome = measure(server.url, server.proc.pid, name, body, headers, path)
                outcomes.append(outcome)
                print(json.dumps(asdict(outcome)), file=sys.stderr)
    print(
        f"{'body':22} {'MB':>4} {'status':>6} {'answer s':>9} {'/health max ms':>15} "
        f"{'RSS before':>10} {'RSS peak':>9}"
    )
    for o in outcomes:
        print(
            f"{o.body:22} {o.size_mb:4.1f} {o.status:6d} {o.answer_s:9.3f} {o.health_max_ms:15.1f} "
            f"{o.rss_before_mb:10.0f} {o.rss_peak_mb:9.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
