"""Benchmark: tuning trials in process (Optuna) against Ray Tune, on the same spec and machine.

Each side is one fresh `conveyor run` subprocess with its own empty ``CONVEYOR_HOME`` on the
breast-cancer example (LogisticRegression, C searched on a log scale, 3-fold CV per trial).
The table shows the whole run's wall time, the tuning step's time (``timings_s.tune`` from
``conveyor run --json``), seconds per trial and the best cross-validated accuracy found. Ray
starts a local instance inside the run (as a user without ``RAY_ADDRESS`` gets), so its start
is part of the tuning step; on this 2-core machine Ray can run two trials at once.

    .venv/bin/python benchmarks/tuning.py                  # 20 trials each
    .venv/bin/python benchmarks/tuning.py --trials 40 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONVEYOR = Path(sys.executable).parent / "conveyor"
SPEC = """\
name: bench_{backend}
task: classification
data: {{source: "sklearn:breast_cancer", target: target, seed: 3}}
model:
  estimator: sklearn.linear_model.LogisticRegression
  params: {{max_iter: 3000}}
tuning:
  backend: {backend}
  trials: {trials}
  metric: accuracy
  search_space:
    C: {{type: float, low: 0.0001, high: 100, log: true}}
"""


def run_side(backend: str, trials: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-tuning-{backend}-") as tmp:
        folder = Path(tmp)
        (folder / "conveyor.yaml").write_text(SPEC.format(backend=backend, trials=trials))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "RAY_"))}
        env |= {"CONVEYOR_HOME": str(folder / "home"), "MLFLOW_DISABLE_TELEMETRY": "true"}
        started = time.perf_counter()
        done = subprocess.run(
            [str(CONVEYOR), "run", "--json"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{backend}: conveyor run exited {done.returncode}\n{done.stderr[-2000:]}")
    info = json.loads(done.stdout)
    tune_s = float(info["timings_s"]["tune"])
    return {
        "backend": backend,
        "trials": info["tuning"]["trials"],
        "wall_s": round(wall, 2),
        "tune_s": round(tune_s, 2),
        "s_per_trial": round(tune_s / trials, 3),
        "best_accuracy": round(float(info["tuning"]["best_value"]), 4),
        "best_C": info["params"]["C"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="Also write benchmarks/results/.")
    args = parser.parse_args()
    rows = [run_side(backend, args.trials) for backend in ("optuna", "ray")]
    header = (
        f"{'backend':<8} {'trials':>6} {'wall s':>8} {'tune s':>8} {'s/trial':>8} {'best acc':>9}"
    )
    print(f"tuning {args.trials} trials on {platform.node()} ({os.cpu_count()} CPUs)")
    print(header)
    for r in rows:
        print(
            f"{r['backend']:<8} {r['trials']:>6} {r['wall_s']:>8} {r['tune_s']:>8} "
            f"{r['s_per_trial']:>8} {r['best_accuracy']:>9}"
        )
    ratio = rows[1]["tune_s"] / rows[0]["tune_s"]
    print(f"ray / in-process tuning time: {ratio:.2f}x")
    if args.json:
        out = ROOT / "benchmarks" / "results" / "tuning.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"trials": args.trials, "rows": rows, "ratio": ratio}, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
