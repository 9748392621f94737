"""Benchmark: what a large or hostile `POST /feedback` costs a running `conveyor serve`.

One run builds the wine model (as ``benchmarks/serving.py`` does: `conveyor run` + `promote`
in a temporary ``CONVEYOR_HOME``), starts `conveyor serve wine` (one worker, its defaults,
SQLite store unless ``--conveyor-env CONVEYOR_STORE_URL=...``) on a free port, and measures:

- **batch**: one `/feedback` batch of ``--batch`` labels while a probe sends 1-row
  `/predict` requests back to back. The labels name real predictions (requests of 1,000 rows
  each, made first) unless ``--unknown``. Reported: the batch's status and wall time, and the
  probe's latency before (3 s) and during the batch (p50, p99, max).
- **flood**: ``--flood`` labels for request ids that were never predicted, posted in batches
  of ``--flood-batch``. Reported: the answers by status, the time taken, the rows the store
  holds afterwards (``feedback`` and, when it exists, ``feedback_pending``) and how much the
  SQLite files grew.

    .venv/bin/python benchmarks/feedback.py                    # 10,000-label batch, 100k flood
    .venv/bin/python benchmarks/feedback.py --batch 205000 --unknown
    .venv/bin/python benchmarks/feedback.py --conveyor-env CONVEYOR_FEEDBACK_MAX_ITEMS=50000

The server is stopped by its own PID; temporary directories are removed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # a sibling script, not a package
    build_model,
    clean_env,
    find_main_bin,
    free_port,
    http,
    started,
)

PREDICT_ROWS = 1_000  # rows per prediction request whose (request id, row) the labels name


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
    }


class Probe(threading.Thread):
    """1-row /predict requests back to back; (start, latency ms, status) of each."""

    def __init__(self, url: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.body = body
        self.samples: list[tuple[float, float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            began = time.monotonic()
            try:
                status, _ = http("POST", self.url + "/predict", self.body, timeout=60)
            except OSError:
                status = 0
            self.samples.append((began, (time.monotonic() - began) * 1000, status))

    def between(self, start: float, end: float) -> list[float]:
        return [lat for at, lat, _ in self.samples if start <= at < end]


def predicted_keys(url: str, rows: list[list[float]], wanted: int) -> list[tuple[str, int]]:
    keys: list[tuple[str, int]] = []
    body = json.dumps({"features": (rows * (PREDICT_ROWS // len(rows) + 1))[:PREDICT_ROWS]})
    while len(keys) < wanted:
        status, raw = http("POST", url + "/predict", body.encode(), timeout=60)
        if status != 200:
            raise RuntimeError(f"/predict answered {status}: {raw[:200]!r}")
        rid = json.loads(raw)["request_id"]
        keys.extend((rid, i) for i in range(PREDICT_ROWS))
    return keys[:wanted]


def summary(raw: bytes) -> Any:
    try:
        answer = json.loads(raw)
    except ValueError:
        return raw[:200].decode(errors="replace")
    if isinstance(answer, dict):
        return {
            k: (v if not isinstance(v, list) else f"[{len(v)} items]") for k, v in answer.items()
        }
    return answer


def store_rows(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        return {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("feedback", "feedback_pending")
            if t in tables
        }
    finally:
        conn.close()


def store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def batch_scenario(url: str, rows: list[list[float]], size: int, unknown: bool) -> dict[str, Any]:
    if unknown:
        keys = [(uuid.uuid4().hex[:12], 0) for _ in range(size)]  # short: 205k fit in 8 MiB
    else:
        keys = predicted_keys(url, rows, size)
    items = [
        {"request_id": rid, "row": row, "label": 1} if row else {"request_id": rid, "label": 1}
        for rid, row in keys
    ]
    body = json.dumps({"feedback": items}, separators=(",", ":")).encode()
    probe = Probe(url, json.dumps({"features": rows[:1]}).encode())
    probe.start()
    time.sleep(3.0)  # the probe's baseline
    began = time.monotonic()
    status, raw = http("POST", url + "/feedback", body, timeout=600)
    ended = time.monotonic()
    time.sleep(0.5)
    probe.halt.set()
    probe.join(60)
    return {
        "labels": size,
        "body_mb": round(len(body) / 1e6, 2),
        "known_ids": not unknown,
        "status": status,
        "answer": summary(raw),
        "seconds": round(ended - began, 3),
        "predict_before": quantiles(probe.between(began - 3.0, began)),
        "predict_during": quantiles(probe.between(began, ended)),
    }


def flood_scenario(url: str, db: Path | None, total: int, batch: int) -> dict[str, Any]:
    before_rows = store_rows(db) if db else {}
    before_bytes = store_bytes(db) if db else 0
    statuses: dict[int, int] = {}
    began = time.monotonic()
    sent = 0
    while sent < total:
        n = min(batch, total - sent)
        items = [{"request_id": uuid.uuid4().hex, "label": 1} for _ in range(n)]
        status, _ = http(
            "POST",
            url + "/feedback",
            json.dumps({"feedback": items}, separators=(",", ":")).encode(),
            600,
        )
        statuses[status] = statuses.get(status, 0) + n
        sent += n
    seconds = time.monotonic() - began
    result: dict[str, Any] = {
        "labels_sent": total,
        "batch": batch,
        "labels_by_status": statuses,
        "seconds": round(seconds, 2),
    }
    if db:
        after = store_rows(db)
        result["rows_added"] = {t: after[t] - before_rows.get(t, 0) for t in after}
        result["store_growth_mb"] = round((store_bytes(db) - before_bytes) / 1e6, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10_000, help="labels in the big batch")
    parser.add_argument("--unknown", action="store_true", help="the big batch names no predictions")
    parser.add_argument("--flood", type=int, default=100_000, help="never-predicted labels sent")
    parser.add_argument("--flood-batch", type=int, default=1_000, help="labels per flood request")
    parser.add_argument("--conveyor-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.conveyor_env)
    main_bin = find_main_bin()
    work = Path(tempfile.mkdtemp(prefix="conveyor-feedback-bench-"))
    try:
        model = build_model(work, main_bin, lambda msg: print(msg, file=sys.stderr))
        port = free_port()
        env = clean_env(main_bin, CONVEYOR_HOME=str(model.home), **extra)
        db = None if "CONVEYOR_STORE_URL" in extra else model.home / "conveyor.db"
        cmd = [str(main_bin / "conveyor"), "serve", "wine", "--port", str(port)]
        (work / "logs").mkdir()
        with started(
            "conveyor",
            cmd,
            cwd=model.project,
            env=env,
            port=port,
            ready_path="/ready",
            logs=work / "logs",
        ) as server:
            results = {
                "settings": extra,
                "batch": batch_scenario(server.url, model.rows[100], args.batch, args.unknown),
                "flood": flood_scenario(server.url, db, args.flood, args.flood_batch),
            }
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
