"""/metrics is clean under `promtool check metrics` (Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (scripts/install-test-tools.sh)",
)
async def test_metrics_pass_promtool(
    wine_client: httpx.AsyncClient, wine_row: dict[str, float]
) -> None:
    await wine_client.post("/predict", json={"instances": [wine_row] * 4})
    await wine_client.post("/predict", json={"instances": [{}]})
    await wine_client.post("/feedback", json={"request_id": "x", "label": 1})
    text = (await wine_client.get("/metrics")).text
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr
