"""Property-based requests generated from /openapi.json never get a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.conftest import Registered
from tests.serving.server import running_server

pytestmark = pytest.mark.integration


def test_no_server_errors(wine_registered: Registered, tmp_path: Path) -> None:
    reg = wine_registered.clone(tmp_path)
    with running_server(reg, "wine", "--refresh-seconds", "0") as server:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        log = server.output()
    assert proc.returncode == 0, proc.stdout[-4000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", proc.stdout)
    assert counts is not None and counts.group(1) == counts.group(2) and int(counts.group(1)) > 100
    assert "Traceback" not in log, log[-3000:]
