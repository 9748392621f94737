"""Benchmark: Conveyor's drift check against Evidently's DataDriftPreset on the same data.

35 columns (30 numeric, 5 categorical); a 10,000-row reference; current windows of 1k, 10k,
100k and 1M rows. In every window four features really shift (SHIFTED: a mean moved by one
std, a doubled spread, a skewed feature moved, a category mix changed), four drift by a real
but negligible amount (NEGLIGIBLE: 0.03 std, 3 % of spread or scale, one point of a
category's share; significant on the big windows, harmless) and the rest are unchanged (one of
them integer-valued with ties, one 5 % missing on both sides). The data is written once per
size to Parquet in a temporary directory; every measured side is its own subprocess reading
those files:

- ``conveyor``: ``compare_arrays`` (the comparison `conveyor drift` makes, per-feature KS /
  chi-square, PSI, distance, one BH family) on columns already read into numpy arrays.
- ``conveyor-cli``: the real command, ``conveyor drift --reference R --current C --json``,
  which reads the files one column at a time.
- ``evidently``: Evidently 0.7 ``Report([DataDriftPreset()])`` with its default methods and
  thresholds on pandas DataFrames, in its own venv (``scripts/evidently-venv.sh``) running
  this file with ``--worker evidently``, so its dependencies never enter Conveyor's venv.

"read s" is Parquet to memory; "drift s" is the comparison alone (imports and reading
excluded, for both tools; for conveyor-cli the command's own read + compare total); "wall s"
is the whole subprocess, interpreter start to exit. "peak MB" is that subprocess's own
ru_maxrss (``os.wait4``), "read MB" the same once the data is in memory, "cpu s" its user +
system time. "other" is how many cores the rest of the machine kept busy meanwhile
(/proc/stat): on a shared machine, read the numbers next to it.

Targets (printed PASS/MISS): at 1M rows Conveyor is ≥ 20× faster than Evidently with ≤ ⅓ of
its peak memory (``conveyor`` by drift s, ``conveyor-cli`` by wall s, each against the same
measure of Evidently); both flag exactly SHIFTED at every size. Evidently's flags are
reported, not judged.

    .venv/bin/python benchmarks/drift.py                         # 1k, 10k, 100k, 1M rows
    .venv/bin/python benchmarks/drift.py --sizes 1000,10000 --skip-evidently
    .venv/bin/python benchmarks/drift.py --json                  # + benchmarks/results/drift.json

This file imports only the standard library at the top: the Evidently venv runs it too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVIDENTLY_PYTHON = ROOT / ".venv-evidently" / "bin" / "python"
DEFAULT_JSON = HERE / "results" / "drift.json"
REFERENCE_ROWS = 10_000
SIZES = (1_000, 10_000, 100_000, 1_000_000)
TOOLS = ("conveyor", "conveyor-cli", "evidently")
SHIFTED = frozenset({"n00", "n01", "n02", "c0"})
NEGLIGIBLE = frozenset({"n03", "n04", "n05", "c1"})
TARGET_ROWS = 1_000_000
SPEEDUP_TARGET = 20.0
MEMORY_TARGET = 1 / 3
TIMEOUT_S = 1800.0  # per subprocess; Evidently at 1M rows takes about a minute and a half


class BenchmarkError(Exception):
    pass


# --------------------------------------------------------------------------- data


def make_columns(rows: int, seed: int | list[int], current: bool) -> dict[str, Any]:
    """One window as numpy arrays; ``current`` applies the changes of SHIFTED and NEGLIGIBLE."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def change(by: float) -> float:
        return by if current else 0.0

    columns: dict[str, Any] = {
        "n00": rng.normal(change(1.0), 1.0, rows),  # mean moves by one std
        "n01": rng.normal(0.0, 1.0 + change(1.0), rows),  # spread doubles
        "n02": rng.lognormal(change(0.5), 0.6, rows),  # a skewed one moves
        "n03": rng.normal(change(0.03), 1.0, rows),  # real, negligible
        "n04": rng.normal(0.0, 1.0 + change(0.03), rows),
        "n05": rng.exponential(1.0 + change(0.03), rows),
        "n06": rng.poisson(4, rows).astype(float),  # integer-valued: ties
    }
    sparse = rng.normal(size=rows)
    sparse[rng.random(rows) < 0.05] = np.nan  # 5 % missing on both sides
    columns["n07"] = sparse
    for i in range(8, 30):
        family = i % 3
        if family == 0:
            columns[f"n{i:02d}"] = rng.normal(i, 1 + i / 10, rows)
        elif family == 1:
            columns[f"n{i:02d}"] = rng.uniform(0, i, rows)
        else:
            columns[f"n{i:02d}"] = rng.lognormal(0, 0.5, rows)
    mix = [0.15, 0.25, 0.3, 0.3] if current else [0.4, 0.3, 0.2, 0.1]
    columns["c0"] = rng.choice(np.array(["a", "b", "c", "d"]), rows, p=mix)
    slight = [0.49, 0.31, 0.2] if current else [0.5, 0.3, 0.2]
    columns["c1"] = rng.choice(np.array(["x", "y", "z"]), rows, p=slight)
    cities = np.array([f"city{i:02d}" for i in range(50)])
    zipf = 1 / np.arange(1, 51)
    columns["c2"] = rng.choice(cities, rows, p=zipf / zipf.sum())
    columns["c3"] = rng.choice(np.array(["yes", "no"]), rows, p=[0.3, 0.7])
    columns["c4"] = rng.choice(np.array([f"k{i}" for i in range(8)]), rows)
    return columns


def write_window(path: Path, rows: int, current: bool) -> None:
    """A window as Parquet; the seed depends on the size only, so a subset run sees the same
    data as the full run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    seed = [2, rows] if current else [1]
    pq.write_table(pa.table(make_columns(rows, seed, current)), path)


def write_in_child(path: Path, rows: int, current: bool, timeout: float) -> None:
    """``write_window`` in a subprocess. This process must never grow: a child's ru_maxrss
    includes its parent's peak resident size (the child runs in the parent's memory from
    vfork to exec, and Linux keeps that high-water mark across exec), so a parent that once
    held a million rows would inflate every peak measured after."""
    which = "current" if current else "reference"
    cmd = [str(conveyor_bin() / "python"), str(Path(__file__).resolve()), "--write"]
    proc = subprocess.run(
        [*cmd, str(path), str(rows), which], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"writing {rows:,} rows failed:\n{_tail(proc.stderr)}")


# --------------------------------------------------------------------------- workers
# Run in a subprocess (``--worker NAME REFERENCE CURRENT``); print one JSON line.


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def read_arrays(path: str) -> dict[str, Any]:
    """A Parquet file as one numpy array per column. Strings are read dictionary-encoded and
    decoded to object arrays sharing one str per category, as pandas holds them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    strings = [f.name for f in schema if pa.types.is_string(f.type)]
    handle = pq.ParquetFile(path, read_dictionary=strings)
    arrays: dict[str, Any] = {}
    for name in schema.names:
        column = handle.read(columns=[name]).column(0)
        if pa.types.is_dictionary(column.type) and column.null_count == 0:
            column = column.unify_dictionaries()
            labels = column.chunk(0).dictionary.to_numpy(zero_copy_only=False)
            codes = [c.indices.to_numpy(zero_copy_only=False) for c in column.chunks]
            arrays[name] = labels[np.concatenate(codes)] if codes else labels[:0]
        else:
            arrays[name] = column.to_numpy()
    return arrays


LAZY_IMPORTS = (
    "scipy.special",
    "scipy.stats",
    "conveyor.data.profile",
    "conveyor.monitoring.corrections",
    "conveyor.monitoring.stats",
)


def conveyor_worker(reference: str, current: str) -> dict[str, Any]:
    """In Conveyor's venv: both files into numpy arrays, ``compare_arrays``, the verdicts."""
    import importlib

    from conveyor.monitoring.drift import compare_arrays

    # the drift modules import their dependencies on first use; import them here, as
    # Evidently's worker imports Evidently, so that neither tool's imports count as drift time
    for module in LAZY_IMPORTS:
        importlib.import_module(module)

    started = time.perf_counter()
    ref, cur = read_arrays(reference), read_arrays(current)
    read = time.perf_counter()
    loaded_mb = _peak_mb()
    report = compare_arrays(ref, cur)
    done = time.perf_counter()
    return {
        "read_s": read - started,
        "drift_s": done - read,
        "loaded_mb": loaded_mb,
        "drifted": report.drifted,
        "warned": report.warned,
        "features": {f.name: _conveyor_feature(f.to_dict()) for f in report.features},
    }


def _conveyor_feature(f: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "test", "p_adjusted", "psi", "distance")
    return {k: f[k] for k in keys}


def evidently_worker(reference: str, current: str) -> dict[str, Any]:
    """Inside the Evidently venv: both files into pandas, DataDriftPreset, the verdicts."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    read = time.perf_counter()
    loaded_mb = _peak_mb()
    numeric = [c for c in ref.columns if pd.api.types.is_numeric_dtype(ref[c])]
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=[c for c in ref.columns if c not in numeric],
    )
    report = Report([DataDriftPreset()], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = snapshot.dict()
    done = time.perf_counter()
    features: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith(":ValueDrift"):
            features[config["column"]] = {
                "method": config.get("method"),
                "score": metric.get("value"),
                "threshold": config.get("threshold"),
            }
    drifted = []
    for test in result["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        if str(params.get("type", "")).endswith(":ValueDrift"):
            failed = test["status"] == "FAIL"
            features.setdefault(params["column"], {})["drifted"] = failed
            if failed:
                drifted.append(params["column"])
    return {
        "read_s": read - started,
        "drift_s": done - read,
        "loaded_mb": loaded_mb,
        "drifted": drifted,
        "warned": [],
        "features": features,
    }


WORKERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "conveyor": conveyor_worker,
    "evidently": evidently_worker,
}


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    rows: int
    tool: str
    read_s: float | None
    drift_s: float
    wall_s: float
    cpu_s: float
    peak_mb: float
    loaded_mb: float | None
    other_cores: float
    loadavg_1m: float
    flagged: list[str]
    warned: list[str]
    features: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return set(self.flagged) == SHIFTED


@dataclass(frozen=True)
class Child:
    wall_s: float
    cpu_s: float
    peak_mb: float
    other_cores: float
    loadavg_1m: float
    code: int
    stdout: str
    stderr: str


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def run_child(cmd: list[str], env: dict[str, str], work: Path, timeout: float) -> Child:
    """Run ``cmd`` to completion and measure it with its own rusage (``os.wait4``)."""
    out_path, err_path = work / "stdout", work / "stderr"
    loadavg = os.getloadavg()[0]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        busy0, started = machine_busy_seconds(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=work)
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    raise BenchmarkError(f"{cmd[0]} still running after {timeout:.0f} s")
                time.sleep(0.02)
        except BaseException:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            raise
        wall = time.perf_counter() - started
        busy = machine_busy_seconds() - busy0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    cpu = usage.ru_utime + usage.ru_stime
    return Child(
        wall_s=wall,
        cpu_s=cpu,
        peak_mb=usage.ru_maxrss / 1024,
        other_cores=max(busy - cpu, 0.0) / wall,
        loadavg_1m=loadavg,
        code=proc.returncode,
        stdout=out_path.read_text(),
        stderr=err_path.read_text(),
    )


def clean_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    env.update(CONVEYOR_HOME=str(work / "home"), DO_NOT_TRACK="true", TMPDIR=str(work))
    return env


def conveyor_bin() -> Path:
    for candidate in (ROOT / ".venv" / "bin", Path(sys.executable).parent):
        if (candidate / "conveyor").exists():
            return candidate
    raise BenchmarkError("no `conveyor` executable: run `make setup` first")


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-20:])


def measure(
    tool: str, rows: int, reference: Path, current: Path, work: Path, timeout: float
) -> Run:
    env = clean_env(work)
    if tool == "conveyor-cli":
        cmd = [str(conveyor_bin() / "conveyor"), "drift", "--reference", str(reference)]
        child = run_child([*cmd, "--current", str(current), "--json"], env, work, timeout)
        if child.code not in (0, 4):  # 4: drift found
            raise BenchmarkError(f"conveyor drift exited {child.code}:\n{_tail(child.stderr)}")
        report = json.loads(child.stdout)
        result = {
            "read_s": None,
            "drift_s": report["timings_s"]["total"],
            "loaded_mb": None,
            "drifted": report["drifted"],
            "warned": report["warned"],
            "features": {f["name"]: _conveyor_feature(f) for f in report["features"]},
        }
    else:
        python = EVIDENTLY_PYTHON if tool == "evidently" else conveyor_bin() / "python"
        cmd = [str(python), str(Path(__file__).resolve()), "--worker", tool]
        child = run_child([*cmd, str(reference), str(current)], env, work, timeout)
        if child.code != 0:
            raise BenchmarkError(f"{tool} worker exited {child.code}:\n{_tail(child.stderr)}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
    return Run(
        rows=rows,
        tool=tool,
        read_s=result["read_s"],
        drift_s=result["drift_s"],
        wall_s=child.wall_s,
        cpu_s=child.cpu_s,
        peak_mb=child.peak_mb,
        loaded_mb=result["loaded_mb"],
        other_cores=child.other_cores,
        loadavg_1m=child.loadavg_1m,
        flagged=sorted(result["drifted"]),
        warned=sorted(result["warned"]),
        features=result["features"],
    )


def benchmark(
    sizes: list[int], tools: list[str], timeout: float, progress: Callable[[str], None]
) -> tuple[list[Run], dict[str, Any]]:
    runs: list[Run] = []
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="conveyor-drift-bench-") as tmp:
        work = Path(tmp)
        reference = work / "reference.parquet"
        write_in_child(reference, REFERENCE_ROWS, current=False, timeout=timeout)
        for size in sizes:
            current = work / f"current-{size}.parquet"
            progress(f"writing {size:,} rows")
            write_in_child(current, size, current=True, timeout=timeout)
            for tool in tools:
                run = measure(tool, size, reference, current, work, timeout)
                runs.append(run)
                progress(
                    f"  {size:>9,} {tool:<13} drift {run.drift_s:7.2f} s  wall {run.wall_s:7.2f} s"
                    f"  peak {run.peak_mb:6.0f} MB  flagged {','.join(run.flagged) or '-'}"
                )
            current.unlink()
    meta = {
        "benchmark": "per-feature drift, 35 columns, Conveyor against Evidently's DataDriftPreset",
        "reference_rows": REFERENCE_ROWS,
        "sizes": sizes,
        "tools": tools,
        "shifted": sorted(SHIFTED),
        "negligible": sorted(NEGLIGIBLE),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_start": loadavg_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "elapsed_s": round(time.perf_counter() - started, 1),
        "versions": versions(
            conveyor_bin() / "python", ("conveyor-mlops", "numpy", "scipy", "pyarrow")
        )
        | {
            f"evidently-venv:{k}": v
            for k, v in versions(
                EVIDENTLY_PYTHON, ("evidently", "pandas", "numpy", "pyarrow")
            ).items()
        },
    }
    if "evidently" not in tools:
        meta["versions"] = {k: v for k, v in meta["versions"].items() if "evidently" not in k}
    return runs, meta


def versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    try:
        proc = subprocess.run(
            [str(python), "-c", code, *packages], capture_output=True, text=True, timeout=60
        )
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return {}


# --------------------------------------------------------------------------- report


@dataclass
class Verdict:
    name: str
    value: float | None
    target: str
    passed: bool | None
    detail: str


def find(runs: list[Run], rows: int, tool: str) -> Run | None:
    return next((r for r in runs if (r.rows, r.tool) == (rows, tool)), None)


def verdicts(runs: list[Run]) -> list[Verdict]:
    out: list[Verdict] = []
    evidently = find(runs, TARGET_ROWS, "evidently")
    at = f"{TARGET_ROWS:,} rows"
    for tool, attr in (("conveyor", "drift_s"), ("conveyor-cli", "wall_s")):
        ours = find(runs, TARGET_ROWS, tool)
        speed = f"{at}, {attr.replace('_s', ' s')}: evidently / {tool}"
        memory = f"{at}, peak MB: {tool} / evidently"
        if ours is None or evidently is None:
            out.append(Verdict(speed, None, f"≥ {SPEEDUP_TARGET:g}×", None, "not measured"))
            out.append(Verdict(memory, None, "≤ 0.33", None, "not measured"))
            continue
        theirs_s, ours_s = getattr(evidently, attr), getattr(ours, attr)
        ratio = theirs_s / ours_s
        out.append(
            Verdict(
                speed,
                round(ratio, 1),
                f"≥ {SPEEDUP_TARGET:g}×",
                ratio >= SPEEDUP_TARGET,
                f"{theirs_s:.2f} s vs {ours_s:.2f} s",
            )
        )
        share = ours.peak_mb / evidently.peak_mb
        out.append(
            Verdict(
                memory,
                round(share, 3),
                "≤ 0.33",
                share <= MEMORY_TARGET,
                f"{ours.peak_mb:,.0f} MB vs {evidently.peak_mb:,.0f} MB",
            )
        )
    for tool in ("conveyor", "conveyor-cli"):
        mine = [r for r in runs if r.tool == tool]
        wrong = [f"{r.rows:,}: {','.join(r.flagged) or '-'}" for r in mine if not r.exact]
        out.append(
            Verdict(
                f"{tool} flags exactly the shifted features",
                None,
                "every size",
                None if not mine else not wrong,
                "at " + ", ".join(f"{r.rows:,}" for r in mine) if not wrong else "; ".join(wrong),
            )
        )
    return out


def render(runs: list[Run], checks: list[Verdict], meta: dict[str, Any]) -> str:
    head = (
        f"{'rows':>9}  {'tool':<13}{'read s':>7}{'drift s':>9}{'wall s':>8}{'cpu s':>7}"
        f"{'read MB':>9}{'peak MB':>9}{'other':>7}  {'flagged':<22}{'= shifted':>9}"
    )
    lines = [
        f"drift benchmark — 35 columns (30 numeric, 5 categorical) against a "
        f"{meta['reference_rows']:,}-row reference; {meta['cpus']} CPUs",
        "",
        head,
        "-" * len(head),
    ]
    last = None
    for r in runs:
        if last is not None and r.rows != last:
            lines.append("")
        last = r.rows
        read = "-" if r.read_s is None else f"{r.read_s:.2f}"
        loaded = "-" if r.loaded_mb is None else f"{r.loaded_mb:,.0f}"
        lines.append(
            f"{r.rows:>9,}  {r.tool:<13}{read:>7}{r.drift_s:>9.2f}{r.wall_s:>8.2f}{r.cpu_s:>7.1f}"
            f"{loaded:>9}{r.peak_mb:>9,.0f}{r.other_cores:>7.2f}  {','.join(r.flagged) or '-':<22}"
            f"{'yes' if r.exact else 'NO':>9}"
        )
    lines += [
        "",
        f"shifted: {','.join(sorted(SHIFTED))}; real but negligible: {','.join(sorted(NEGLIGIBLE))}",
    ]
    for r in runs:
        if r.tool != "conveyor":
            continue
        quiet = [
            f"{n} (p_adj {f['p_adjusted']:.2g}, PSI {f['psi']:.4f})"
            for n, f in sorted(r.features.items())
            if n in NEGLIGIBLE and f["p_adjusted"] is not None and f["p_adjusted"] < 0.05
        ]
        if quiet:
            lines.append(
                f"  {r.rows:>9,} rows: significant but under the PSI threshold, so not "
                f"flagged: {', '.join(quiet)}"
            )
    evidently = find(runs, TARGET_ROWS, "evidently")
    ours = [r for r in (find(runs, TARGET_ROWS, t) for t in TOOLS[:2]) if r is not None]
    if evidently is not None and ours:
        ratios = ", ".join(f"evidently / {r.tool} {evidently.cpu_s / r.cpu_s:.1f}×" for r in ours)
        lines.append(
            f"  {TARGET_ROWS:,} rows, CPU time of the whole subprocess (less sensitive to other "
            f"work on the machine): {ratios}"
        )
    lines += [
        "drift s: the comparison alone, imports and reading excluded (conveyor-cli: the "
        "command's own read + compare, its lazy imports included); wall s: the whole subprocess",
        "peak MB: the subprocess's ru_maxrss (read MB: the same once the data was in memory); "
        "other: cores the rest of the machine kept busy during the run",
        f"load average: {meta['loadavg_start']} at start, {meta['loadavg_end']} at end; "
        f"{meta['elapsed_s']:.0f} s in all",
        "",
        "targets",
    ]
    for v in checks:
        mark = {True: "PASS", False: "MISS", None: "n/a "}[v.passed]
        value = "" if v.value is None else f"{v.value:g}"
        lines.append(f"  {mark}  {v.name:<50}{value:>7}  target {v.target:<10} ({v.detail})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["--write"]:
        path, rows, which = args_list[1:4]
        write_window(Path(path), int(rows), current=which == "current")
        return 0
    if args_list[:1] == ["--worker"]:
        name, reference, current = args_list[1:4]
        print(json.dumps(WORKERS[name](reference, current)))
        return 0
    parser = argparse.ArgumentParser(
        description="Benchmark Conveyor's drift check against Evidently's DataDriftPreset."
    )
    parser.add_argument(
        "--sizes",
        help=f"comma-separated current-window sizes ({','.join(str(s) for s in SIZES)})",
    )
    parser.add_argument(
        "--skip-evidently", action="store_true", help="measure Conveyor only (no Evidently venv)"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=DEFAULT_JSON,
        type=Path,
        metavar="PATH",
        help=f"also write the results as JSON (default path: {DEFAULT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, help="seconds allowed per subprocess"
    )
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when a measured target is missed"
    )
    args = parser.parse_args(args_list)
    sizes = list(SIZES)
    if args.sizes:
        try:
            sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            parser.error("--sizes: comma-separated integers")
        if not sizes or min(sizes) < 1:
            parser.error("--sizes: each must be ≥ 1")
    tools = [t for t in TOOLS if not (args.skip_evidently and t == "evidently")]
    if "evidently" in tools and not EVIDENTLY_PYTHON.exists():
        parser.error(
            "Evidently's venv is missing: run scripts/evidently-venv.sh, or pass --skip-evidently"
        )

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through run_child, which stops the running child

    signal.signal(signal.SIGTERM, interrupted)
    try:
        runs, meta = benchmark(sizes, tools, args.timeout, progress)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    checks = verdicts(runs)
    print(render(runs, checks, meta))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            **meta,
            "runs": [asdict(r) | {"exact": r.exact} for r in runs],
            "targets": [asdict(v) for v in checks],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    missed = any(v.passed is False for v in checks)
    return 1 if args.fail_on_miss and missed else 0


if __name__ == "__main__":
    sys.exit(main())
