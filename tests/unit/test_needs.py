"""A test needing a missing peer venv skips, or fails under CONVEYOR_TEST_REQUIRE_VENVS=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import REQUIRE, needs, verdict

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("available", "environ", "expected"),
    [
        (True, {}, "run"),
        (True, {REQUIRE: "1"}, "run"),
        (False, {}, "skip"),
        (False, {REQUIRE: "0"}, "skip"),
        (False, {REQUIRE: ""}, "skip"),
        (False, {REQUIRE: "1"}, "fail"),
    ],
)
def test_verdict(available: bool, environ: dict[str, str], expected: str) -> None:
    assert verdict(available, environ) == expected


def test_the_mark_follows_the_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    there, missing = tmp_path / "mlserver", tmp_path / "feast"
    there.touch()
    monkeypatch.delenv(REQUIRE, raising=False)
    assert needs(there, "X", "x.sh").mark.args == (False,)
    skip = needs(missing, "Feast", "scripts/feast-venv.sh").mark
    assert skip.name == "skipif" and skip.args == (True,)
    assert "scripts/feast-venv.sh" in skip.kwargs["reason"]
    monkeypatch.setenv(REQUIRE, "1")
    fail = needs(missing, "Feast", "scripts/feast-venv.sh").mark
    assert fail.name == "missing_requirement"
    assert f"{missing} missing" in fail.args[0] and REQUIRE in fail.args[0]


def _run(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    """A real pytest session over one test needing a missing executable."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "conftest.py").write_text(
        "from tests.needs import pytest_configure as pytest_configure\n"
        "from tests.needs import pytest_runtest_setup as pytest_runtest_setup\n",
        encoding="utf-8",
    )
    (tmp_path / "test_peer.py").write_text(
        "from pathlib import Path\n"
        "from tests.needs import needs\n\n"
        "@needs(Path('/nonexistent/bin/mlserver'), 'MLServer', 'scripts/peers-venv.sh')\n"
        "def test_peer():\n"
        "    pass\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != REQUIRE}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if require is not None:
        env[REQUIRE] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--strict-markers"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_session_skips_without_the_variable(tmp_path: Path) -> None:
    done = _run(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout and "MLServer not installed" in done.stdout


def test_a_session_fails_with_the_variable(tmp_path: Path) -> None:
    done = _run(tmp_path, "1")
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout or "1 failed" in done.stdout, done.stdout
    assert "MLServer not installed (/nonexistent/bin/mlserver missing" in done.stdout
    assert f"{REQUIRE}=1 requires it" in done.stdout
