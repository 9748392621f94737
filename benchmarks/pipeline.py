"""Benchmark: `conveyor run` on the wine example against a plain MLflow script doing the same job.

Each repeat runs both sides as fresh subprocesses, each from its own empty temporary
directory: Conveyor with a new ``CONVEYOR_HOME`` (so MLflow's SQLite schema, the artifact
root and Conveyor's store are all created from scratch), the plain script
(``benchmarks/plain_mlflow.py``) with a new SQLite tracking store in its working directory.
Wall time is measured around the whole subprocess (interpreter start to exit); the per-step
breakdowns come from ``conveyor run --json`` (``timings_s``) and from the plain script's own
``--json`` output. The target is Conveyor's median wall time at most half the plain script's.
Both sides run with MLflow telemetry off (no network) and a private ``TMPDIR`` that is
removed with the rest of the repeat's directory.

    .venv/bin/python benchmarks/pipeline.py                 # table, 3 repeats + 1 warm-up
    .venv/bin/python benchmarks/pipeline.py --repeats 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLAIN_SCRIPT = HERE / "plain_mlflow.py"
DEFAULT_TARGET = 0.5
TIMEOUT_S = 600.0
# Variables that would point either side at some other store or change its behaviour.
ENV_PREFIXES_DROPPED = ("CONVEYOR_", "MLFLOW_")


@dataclass
class Sample:
    wall_s: float
    cpu_s: float
    steps_s: dict[str, float]


@dataclass
class Side:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [s.wall_s for s in self.samples]

    @property
    def wall_median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu_median(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    def step_medians(self) -> dict[str, float]:
        names: list[str] = []
        for sample in self.samples:
            names += [n for n in sample.steps_s if n not in names]
        return {n: statistics.median(s.steps_s.get(n, 0.0) for s in self.samples) for n in names}

    def to_dict(self) -> dict[str, Any]:
        return {
            "wall_s": [round(w, 3) for w in self.walls],
            "wall_median_s": round(self.wall_median, 3),
            "wall_min_s": round(min(self.walls), 3),
            "wall_max_s": round(max(self.walls), 3),
            "cpu_s": [round(s.cpu_s, 3) for s in self.samples],
            "cpu_median_s": round(self.cpu_median, 3),
            "steps_median_s": {k: round(v, 3) for k, v in self.step_medians().items()},
            "steps_s": [{k: round(v, 3) for k, v in s.steps_s.items()} for s in self.samples],
        }


class BenchmarkError(RuntimeError):
    pass


def find_venv_bin() -> Path:
    """The project's virtualenv ``bin``, else the directory of the running interpreter."""
    for candidate in (ROOT / ".venv" / "bin", Path(sys.executable).parent):
        if (candidate / "conveyor").exists():
            return candidate
    found = shutil.which("conveyor")
    if found:
        return Path(found).parent
    raise BenchmarkError("no `conveyor` executable: run `make setup` first")


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without CONVEYOR_*/MLFLOW_* settings, MLflow telemetry off.

    MLflow 3 sends usage telemetry over HTTPS by default (a config fetch at import, a flush
    at exit); both sides run with it off so the benchmark stays on this machine and neither
    side is timed waiting on the network.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES_DROPPED)}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    env.update(extra)
    return env


def scratch(work: Path) -> str:
    """A TMPDIR inside ``work``: whatever a side leaves in its temp dir goes with ``work``."""
    path = work / "tmp"
    path.mkdir()
    return str(path)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd`` to completion; return (wall s, CPU s of it and its children, stdout).

    A non-zero exit raises. CPU time is user+sys of the process tree (the plain script's
    requirement-inference subprocess included); it moves much less than wall time when
    other work shares the machine.
    """
    cpu0 = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu0
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BenchmarkError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return wall, cpu, proc.stdout


def last_json_object(stdout: str) -> dict[str, Any]:
    """The JSON document in stdout: the whole text, else the last line that parses."""
    try:
        value = json.loads(stdout)
    except json.JSONDecodeError:
        value = None
        for line in reversed(stdout.strip().splitlines()):
            if line.startswith("{"):
                try:
                    value = json.loads(line)
                    break
                except json.JSONDecodeError:
                    continue
    if not isinstance(value, dict):
        raise BenchmarkError(f"no JSON object in output:\n{stdout[-2000:]}")
    return value


def conveyor_once(bin_dir: Path) -> Sample:
    """`conveyor init` (not timed), then `conveyor run --json` timed, on an empty home."""
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp:
        work = Path(tmp)
        env = clean_env(CONVEYOR_HOME=str(work / "home"), TMPDIR=scratch(work))
        exe = str(bin_dir / "conveyor")
        run([exe, "init", "project", "--example", "wine"], work, env)
        wall, cpu, stdout = run([exe, "run", "--json"], work / "project", env)
        info = last_json_object(stdout)
        if info.get("registered_version") is None:
            raise BenchmarkError(f"conveyor run registered nothing: {info}")
        steps = {k: float(v) for k, v in info.get("timings_s", {}).items()}
        # "evaluate" includes "onnx" (measured inside it); report evaluate without it so the
        # steps add up to the time spent in them
        if "onnx" in steps and "evaluate" in steps:
            steps["evaluate"] = max(0.0, steps["evaluate"] - steps["onnx"])
        steps["outside steps"] = max(0.0, wall - sum(steps.values()))
        return Sample(wall, cpu, steps)


def plain_once(bin_dir: Path) -> Sample:
    """`python plain_mlflow.py --json` timed, from an empty directory."""
    with tempfile.TemporaryDirectory(prefix="plain-mlflow-bench-") as tmp:
        work = Path(tmp)
        env = clean_env(TMPDIR=scratch(work))
        cwd = work / "run"
        cwd.mkdir()
        wall, cpu, stdout = run([str(bin_dir / "python"), str(PLAIN_SCRIPT), "--json"], cwd, env)
        info = last_json_object(stdout)
        steps = {k: float(v) for k, v in info.get("timings_s", {}).items()}
        in_process = steps.pop("total_in_process", sum(steps.values()))
        steps["outside steps"] = max(0.0, wall - in_process)
        return Sample(wall, cpu, steps)


def versions(bin_dir: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, platform\n"
        "d = {p: m.version(p) for p in ('conveyor-mlops', 'mlflow', 'scikit-learn', 'skl2onnx')}\n"
        "d['python'] = platform.python_version()\n"
        "print(json.dumps(d))"
    )
    try:
        _, _, stdout = run([str(bin_dir / "python"), "-c", code], ROOT, clean_env())
        return {str(k): str(v) for k, v in last_json_object(stdout).items()}
    except BenchmarkError:
        return {}


def benchmark(repeats: int, warmup: int, progress: bool) -> tuple[Side, Side]:
    bin_dir = find_venv_bin()
    conveyor, plain = Side("conveyor run"), Side("plain MLflow")
    sides = [(conveyor, conveyor_once), (plain, plain_once)]
    for i in range(warmup + repeats):
        warm = i < warmup
        # alternate which side goes first so drift (thermal, page cache) hits both alike
        order = sides if i % 2 == 0 else sides[::-1]
        for side, once in order:
            sample = once(bin_dir)
            if progress:
                label = "warm-up" if warm else f"repeat {i - warmup + 1}/{repeats}"
                print(f"  {label:<12} {side.name:<13} {sample.wall_s:6.2f} s", file=sys.stderr)
            if not warm:
                side.samples.append(sample)
    return conveyor, plain


def results(conveyor: Side, plain: Side, target: float, repeats: int) -> dict[str, Any]:
    ratio = conveyor.wall_median / plain.wall_median
    cpu_ratio = conveyor.cpu_median / plain.cpu_median if plain.cpu_median else float("nan")
    bin_dir = find_venv_bin()
    return {
        "benchmark": "conveyor run (wine) vs plain MLflow script, empty stores",
        "repeats": repeats,
        "target_ratio": target,
        "ratio": round(ratio, 3),
        "passed": ratio <= target,
        "cpu_ratio": round(cpu_ratio, 3),
        "conveyor": conveyor.to_dict(),
        "plain": plain.to_dict(),
        "environment": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            **versions(bin_dir),
        },
    }


def render_text(res: dict[str, Any]) -> str:
    """The report as plain text tables (also used when rich is not installed)."""
    c, p = res["conveyor"], res["plain"]
    lines = [
        f"conveyor run (wine) vs plain MLflow script — median of {res['repeats']}, empty stores",
        "",
        f"{'':<22}{'conveyor run':>14}{'plain MLflow':>14}",
        f"{'wall median (s)':<22}{c['wall_median_s']:>14.2f}{p['wall_median_s']:>14.2f}",
        f"{'wall min–max (s)':<22}"
        f"{c['wall_min_s']:>7.2f}–{c['wall_max_s']:<6.2f}{p['wall_min_s']:>7.2f}–{p['wall_max_s']:<6.2f}",
        f"{'CPU median (s)':<22}{c['cpu_median_s']:>14.2f}{p['cpu_median_s']:>14.2f}",
        f"{'CPU ratio (info)':<22}{res['cpu_ratio']:>13.2f}×",
        "",
    ]
    for title, side in (("conveyor run steps", c), ("plain MLflow steps", p)):
        lines.append(f"{title:<22}{'median (s)':>14}{'share':>10}")
        for step, secs in side["steps_median_s"].items():
            share = secs / side["wall_median_s"] if side["wall_median_s"] else 0.0
            lines.append(f"  {step:<20}{secs:>14.3f}{share:>10.0%}")
        lines.append("")
    verdict = "PASS" if res["passed"] else "MISS"
    lines.append(
        f"ratio conveyor/plain (wall): {res['ratio']:.2f}×   target ≤ {res['target_ratio']:g}×   {verdict}"
    )
    return "\n".join(lines)


def print_rich(res: dict[str, Any]) -> bool:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return False
    c, p = res["conveyor"], res["plain"]
    console = Console(highlight=False)
    summary = Table(
        title=f"conveyor run (wine) vs plain MLflow script — median of {res['repeats']}, "
        "empty stores",
        title_justify="left",
    )
    summary.add_column("")
    summary.add_column("conveyor run", justify="right")
    summary.add_column("plain MLflow", justify="right")
    summary.add_row("wall median (s)", f"{c['wall_median_s']:.2f}", f"{p['wall_median_s']:.2f}")
    summary.add_row(
        "wall min–max (s)",
        f"{c['wall_min_s']:.2f}–{c['wall_max_s']:.2f}",
        f"{p['wall_min_s']:.2f}–{p['wall_max_s']:.2f}",
    )
    verdict = "[green]PASS[/]" if res["passed"] else "[red]MISS[/]"
    summary.add_row("CPU median (s)", f"{c['cpu_median_s']:.2f}", f"{p['cpu_median_s']:.2f}")
    summary.add_row("CPU ratio (info)", f"{res['cpu_ratio']:.2f}×", "")
    summary.add_row(
        "ratio conveyor/plain (wall)",
        f"{res['ratio']:.2f}×",
        f"target ≤ {res['target_ratio']:g}×  {verdict}",
    )
    console.print(summary)
    for title, side in (("conveyor run: steps", c), ("plain MLflow: steps", p)):
        steps = Table(title=title, title_justify="left")
        steps.add_column("step")
        steps.add_column("median (s)", justify="right")
        steps.add_column("share of wall", justify="right")
        for step, secs in side["steps_median_s"].items():
            share = secs / side["wall_median_s"] if side["wall_median_s"] else 0.0
            steps.add_row(step, f"{secs:.3f}", f"{share:.0%}")
        console.print(steps)
    console.print(
        "[dim]conveyor steps come from `conveyor run --json` timings_s (evaluate shown without "
        "onnx); 'outside steps' is wall time not in any step: interpreter start, imports, "
        "store and run setup, exit. CPU is user+sys of the process tree. "
        f"Load average at end: {res['environment']['load_average_at_end']} on "
        f"{res['environment']['cpus']} CPUs.[/]"
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `conveyor run` on the wine example against a plain MLflow script."
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per side (3)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed rounds first, to warm disk caches (1)"
    )
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET, help="ratio to pass (0.5)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--plain-text", action="store_true", help="no rich formatting")
    parser.add_argument("--output", type=Path, help="also write the JSON results to this file")
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when the ratio misses the target"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be ≥ 1 and --warmup ≥ 0")

    try:
        conveyor, plain = benchmark(args.repeats, args.warmup, progress=not args.json)
    except (BenchmarkError, subprocess.TimeoutExpired) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    res = results(conveyor, plain, args.target, args.repeats)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(res, indent=2) + "\n")
    if args.json:
        print(json.dumps(res, indent=2))
    elif args.plain_text or not print_rich(res):
        print(render_text(res))
    return 1 if args.fail_on_miss and not res["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
