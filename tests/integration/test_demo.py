"""`make demo`'s steps as a real subprocess, on a fresh home, as a newcomer would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_script_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DEMO_DIR"] = str(tmp_path / "demo")
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert "registered wine version 1" in text
    assert "wine version 1 is now production" in text
    assert "Traceback" not in text
    assert '"model":{"name":"wine","version":"1","stage":"production"}' in text
    assert 'conveyor_model_info{model="wine",runtime="onnx"' in text
    assert (tmp_path / "demo" / "my-model" / "run_info.json").exists()
    # the shifted traffic is caught by the server's monitor and shown by the CLI
    alerts = text[text.index("== conveyor alerts list") : text.index("== conveyor monitor wine")]
    assert "data_drift" in alerts and "firing" in alerts
    assert "features drifted: alcohol" in alerts
    monitor = text[text.index("== conveyor monitor wine") : text.index("== conveyor report wine")]
    # v2 is rolled out by canary and promoted; v3 (permuted labels) is rolled back
    good = text[text.index("== conveyor rollout start wine 2") : text.index("== v3:")]
    assert "wine rollout #1 (canary): version 1 → 2, succeeded" in good, good[-4000:]
    assert "registry: production is version 2" in good, good[-4000:]
    bad = text[
        text.index("== conveyor rollout start wine 3") : text.index("== conveyor rollout history")
    ]
    assert "version 2 → 3, rolled_back" in bad and "online_accuracy" in bad, bad[-4000:]
    assert "candidate 3 is rejected" in bad and "production is version 2" in bad
    assert "drift in" in monitor and "(exit 4: an alert rule fires)" in monitor
    for feature in ("alcohol", "hue", "proline"):
        assert f"{feature}: chi2 p_adj" in monitor
    # the console ran beside the server: its URL was printed, and on the demo's home it shows
    # both rollouts, v2 promoted and v3 rolled back
    assert "console: http://127.0.0.1:" in text
    home = next(line for line in text.splitlines() if line.startswith("Console on these files"))
    demo_home = home.split("CONVEYOR_HOME=", 1)[1].split()[0]
    from conveyor.console.views import Console
    from conveyor.registry.client import connect
    from conveyor.registry.stages import ModelRegistry
    from conveyor.rollout.wiring import controller_for
    from conveyor.settings import Settings
    from conveyor.store.engine import Store

    settings = Settings(home=Path(demo_home))
    store = Store(settings.store_url).create()
    try:
        view = Console(
            settings,
            store,
            ModelRegistry(connect(settings), store),
            controller_for(settings, store),
        )
        shown = view.rollout("wine")
        outcomes = {r["candidate"]: r["state"] for r in [shown["rollout"], *shown["past"]]}
        assert outcomes == {"2": "succeeded", "3": "rolled_back"}
    finally:
        store.close()
    (report,) = (tmp_path / "demo" / "reports").glob("*.html")
    assert str(report) in text  # its path is printed
    html = report.read_text()
    assert html.count("<svg") >= 5 and "alcohol" in html
