"""What the Feast tests share. Feast pins pandas < 3, so it lives in its own venv (.venv-feast,
scripts/feast-venv.sh) with Conveyor installed beside it: these tests run Conveyor and Feast
from there, as subprocesses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.needs import needs

ROOT = Path(__file__).resolve().parents[2]
FEAST_BIN = ROOT / ".venv-feast" / "bin"
CONVEYOR = str(FEAST_BIN / "conveyor")
needs_feast = needs(FEAST_BIN / "feast", "Feast", "scripts/feast-venv.sh")


def feast_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "MLFLOW_"))}
    return env | {
        "CONVEYOR_HOME": str(home),
        "PYTHONPATH": str(ROOT / "src"),
        "PATH": f"{FEAST_BIN}:{env.get('PATH', '')}",
    }


def run(args: list[str], cwd: Path, env: dict[str, str], code: int = 0) -> str:
    """The command's stdout (its stderr too when it is expected to fail)."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == code, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + (done.stderr if code else "")
