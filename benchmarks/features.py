"""What reading features from a Feast online store by entity key costs a request.

One run builds the drivers example (`conveyor init --example feast`) with its online store on
Redis (127.0.0.1:6379, a Feast project name of its own, torn down at the end) or SQLite,
trains and promotes it, materializes the features with `conveyor feast materialize` and serves
it with `conveyor serve` from the Feast venv (.venv-feast, scripts/feast-venv.sh). wrk then
sends the same one-row request two ways, in alternation so drift of the machine falls on both:

- ``features``: the row with its three features (the plain path, no lookup);
- ``keys``: ``{"driver_id": 1001}`` alone, the features read from the online store.

The table gives req/s and latency percentiles of each, the p50/p99 the lookup adds (keys minus
features), and the server's own mean lookup time (``conveyor_feature_lookup_seconds``). Every
cell is checked first: both bodies must get the same prediction.

    .venv/bin/python benchmarks/features.py                     # Redis, c=1 and c=16, 5 s cells
    .venv/bin/python benchmarks/features.py --store sqlite --quick
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # a sibling script, not a package
    ROOT,
    BenchmarkError,
    clean_env,
    free_port,
    http,
    run,
    started,
    wrk,
)

FEAST_BIN = ROOT / ".venv-feast" / "bin"
REDIS_STORE = """\
project: {project}
registry: data/registry.db
provider: local
online_store:
  type: redis
  connection_string: "127.0.0.1:6379"
offline_store:
  type: file
entity_key_serialization_version: 3
"""
FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")
READ_ONLINE = """
import json, sys
from feast import FeatureStore
found = FeatureStore(repo_path=sys.argv[1]).get_online_features(
    features=[f"driver_hourly_stats:{f}" for f in ("conv_rate", "acc_rate", "avg_daily_trips")],
    entity_rows=[{"driver_id": 1001}],
).to_dict()
print(json.dumps({k: v[0] for k, v in found.items()}))
"""


def lookup_seconds(url: str) -> tuple[float, float]:
    """(sum, count) of the server's conveyor_feature_lookup_seconds."""
    _, text = http("GET", url + "/metrics")
    found = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^conveyor_feature_lookup_seconds_(sum|count)\{model="drivers"\} (\S+)$',
            text.decode(),
            re.M,
        )
    }
    return found.get("sum", 0.0), found.get("count", 0.0)


def build(work: Path, store: str, env: dict[str, str]) -> tuple[Path, str]:
    """The drivers project, trained, promoted and materialized; its Feast project name."""
    conveyor, feast = str(FEAST_BIN / "conveyor"), str(FEAST_BIN / "feast")
    run([conveyor, "init", "drivers", "--example", "feast"], work, env)
    project = work / "drivers"
    name = f"bench_{uuid.uuid4().hex[:8]}"
    if store == "redis":
        (project / "feature_repo" / "feature_store.yaml").write_text(
            REDIS_STORE.format(project=name)
        )
    run([feast, "-c", "feature_repo", "apply"], project, env)
    run([conveyor, "run"], project, env)
    run(
        [conveyor, "promote", "drivers", "1", "--to", "production", "--reason", "bench"],
        project,
        env,
    )
    run([conveyor, "feast", "materialize"], project, env)
    return project, name


def benchmark(
    store: str, concurrency: list[int], duration: int, warmup: int
) -> list[dict[str, Any]]:
    if not (FEAST_BIN / "feast").exists():
        raise BenchmarkError("no .venv-feast: run scripts/feast-venv.sh first")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-features-") as tmp:
        work = Path(tmp)
        env = clean_env(FEAST_BIN, CONVEYOR_HOME=str(work / "home"), PYTHONPATH=str(ROOT / "src"))
        print(f"building the drivers model ({store} online store)...", file=sys.stderr)
        project, _ = build(work, store, env)
        try:
            values = json.loads(
                run([str(FEAST_BIN / "python"), "-c", READ_ONLINE, "feature_repo"], project, env)
                .strip()
                .splitlines()[-1]
            )
            bodies = {
                "features": {"instances": [{f: values[f] for f in FEATURES}]},
                "keys": {"instances": [{"driver_id": 1001}]},
            }
            files = {}
            for name, body in bodies.items():
                files[name] = work / f"{name}.json"
                files[name].write_text(json.dumps(body))
            port = free_port()
            cmd = [str(FEAST_BIN / "conveyor"), "serve", "drivers", "--port", str(port)]
            with started(
                "conveyor-feast", cmd, cwd=project, env=env, port=port, ready_path="/ready",
                logs=work,
            ) as server:  # fmt: skip
                answers = {
                    name: json.loads(http("POST", server.url + "/predict", f.read_bytes())[1])
                    for name, f in files.items()
                }
                if answers["keys"]["probabilities"] != answers["features"]["probabilities"]:
                    raise BenchmarkError(f"keys and features answer differently: {answers}")
                for c in concurrency:
                    for name in ("features", "keys"):
                        print(f"  c={c} {name}...", file=sys.stderr)
                        if warmup:
                            wrk(server.url + "/predict", files[name], c, warmup)
                        before = lookup_seconds(server.url)
                        res = wrk(server.url + "/predict", files[name], c, duration)
                        after = lookup_seconds(server.url)
                        lat = res["latency_us"]
                        ok = res["requests"] - res["errors"]["status"]
                        looked = after[1] - before[1]
                        rows.append(
                            {
                                "body": name,
                                "concurrency": c,
                                "rps": round(ok / (res["duration_us"] / 1e6), 1),
                                "p50_ms": lat["p50"] / 1000,
                                "p99_ms": lat["p99"] / 1000,
                                "errors": sum(res["errors"].values()),
                                "lookup_mean_ms": (
                                    round((after[0] - before[0]) / looked * 1000, 3)
                                    if looked
                                    else None
                                ),
                            }
                        )
        finally:
            if store == "redis":
                run([str(FEAST_BIN / "feast"), "-c", "feature_repo", "teardown"], project, env)
    return rows


def render(rows: list[dict[str, Any]], store: str) -> str:
    lines = [
        f"entity-key requests, drivers model, {store} online store, wrk on 127.0.0.1",
        f"{'body':<9} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'lookup ms':>10} "
        f"{'errors':>6}",
    ]
    for r in rows:
        lookup = "" if r["lookup_mean_ms"] is None else f"{r['lookup_mean_ms']:.3f}"
        lines.append(
            f"{r['body']:<9} {r['concurrency']:>3} {r['rps']:>9,.0f} {r['p50_ms']:>8.3f} "
            f"{r['p99_ms']:>8.3f} {lookup:>10} {r['errors']:>6}"
        )
    lines.append("")
    lines.append("added by the lookup (keys - features):")
    for c in sorted({r["concurrency"] for r in rows}):
        plain = next(r for r in rows if r["concurrency"] == c and r["body"] == "features")
        keyed = next(r for r in rows if r["concurrency"] == c and r["body"] == "keys")
        lines.append(
            f"  c={c:<3} p50 +{keyed['p50_ms'] - plain['p50_ms']:.3f} ms, "
            f"p99 +{keyed['p99_ms'] - plain['p99_ms']:.3f} ms, "
            f"req/s {keyed['rps'] / plain['rps']:.2f}x of the plain path"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["redis", "sqlite"], default="redis")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated, e.g. 1,16")
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each cell")
    parser.add_argument("--quick", action="store_true", help="3 s cells, 1 s warm-up")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    duration, warmup = (3, 1) if args.quick else (args.duration, args.warmup)
    concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    try:
        rows = benchmark(args.store, concurrency, duration, warmup)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(render(rows, args.store))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
