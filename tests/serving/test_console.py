"""The console in a real browser (Debian's headless Chromium, driven by Playwright) against a
real `conveyor serve` and `conveyor ui` sharing a store, with traffic: the models and versions
pages; a canary started while the page is open shows the split change and the verdicts without
a reload; a rollback by button asks for the token and a reason, which the audit keeps; a
drifted window shows its drifted features. Screenshots are written next to the test's files
(and into docs/console/ when CONVEYOR_CONSOLE_SCREENSHOTS=1, as scripts/console-screenshots.sh
sets it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import BIN, Registered, free_port
from tests.serving.server import running_server
from tests.serving.test_monitoring import wine_rows

pytestmark = pytest.mark.integration
playwright = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "console-admin-token-1234"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"


@contextlib.contextmanager
def console(reg: Registered, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = reg.home.parent / "console.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "conveyor"), "ui", "--port", str(port)],
            env=reg.env() | env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"conveyor ui exited {proc.returncode}:\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/meta", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"conveyor ui not up in 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def traffic(url: str, shifted: bool) -> Iterator[None]:
    """Requests from a thread until the block ends (bounded: it stops with the test)."""
    stop = threading.Event()
    rows = wine_rows(400, 9, shifted=shifted)

    def send() -> None:
        with httpx.Client(timeout=5) as client:
            i = 0
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    client.post(f"{url}/predict", json={"instances": [rows[i % len(rows)]]})
                i += 1
                time.sleep(0.01)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def shot(page: object, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
    if os.environ.get("CONVEYOR_CONSOLE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_the_console_in_a_browser(wine_registered: Registered, tmp_path: Path) -> None:
    reg = wine_registered.clone(tmp_path)
    env = {
        "CONVEYOR_ADMIN_TOKEN": TOKEN,
        "CONVEYOR_ROLLOUT_POLL_SECONDS": "0.5",
        "CONVEYOR_ROLLOUT_CONTROLLER_SECONDS": "0.5",
        "CONVEYOR_MONITOR_FLUSH_SECONDS": "1",
    }
    with (
        running_server(reg, "wine", env=env) as server,
        console(reg, env) as ui,
        traffic(server.url, shifted=True),
        playwright.sync_playwright() as p,
    ):
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # models, then the model's versions
        page.goto(f"{ui}/#/")
        page.wait_for_selector("tr[data-model=wine]")
        shot(page, tmp_path, "models")
        page.click("tr[data-model=wine] a")
        page.wait_for_selector("tr[data-version='2']")
        stages = page.locator("tr[data-version] td:nth-child(2) .badge").all_inner_texts()
        assert stages == ["staging", "production"]
        shot(page, tmp_path, "versions")

        # open the rollout tab before anything runs, then start a canary from the outside
        page.click("[data-tab=rollout]")
        page.wait_for_selector("[data-testid=no-rollout]")
        started = subprocess.run(
            [str(BIN / "conveyor"), "rollout", "start", "wine", "2", "--strategy", "canary",
             "--steps", "20,60,100", "--step-seconds", "6", "--reason", "console test"],
            env=reg.env() | env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        # no reload: the page follows the rollout, the split changes and verdicts appear
        share = page.locator("[data-testid=candidate-share]")
        share.wait_for(timeout=30_000)
        page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=candidate-share]')"
            "?.dataset.share) >= 20",
            timeout=30_000,
        )
        page.wait_for_selector("tr[data-check]", timeout=60_000)
        verdicts = page.locator("tr[data-check] .badge").all_inner_texts()
        assert verdicts and set(verdicts) <= {"pass", "marginal", "inconclusive", "fail"}
        shot(page, tmp_path, "rollout")

        # roll back by button: the dialog asks for the token, a name and a reason
        page.click("button[data-command=rollback]")
        page.fill("#confirm-token", "wrong-token-000000")
        page.fill("#confirm-by", "alice")
        page.fill("#confirm-reason", "latency looks off on the canary")
        page.click("#confirm-go")
        page.wait_for_selector("#confirm-error:has-text('wrong admin token')")
        page.fill("#confirm-token", TOKEN)
        page.click("#confirm-go")
        page.wait_for_selector("#rollout-head .badge:has-text('rolled_back')", timeout=30_000)
        assert "latency looks off" in page.inner_text("[data-testid=decision]")

        # a drifted window: the monitoring tab names the drifted features
        page.click("[data-tab=monitoring]")
        page.wait_for_function(
            "() => (document.querySelector('[data-testid=drifted]')?.textContent || '')"
            ".includes('alcohol')",
            timeout=60_000,
        )
        drifted = page.locator("tr[data-status=drift]").evaluate_all(
            "rows => rows.map(r => r.dataset.feature)"
        )
        assert {"alcohol", "proline"} <= set(drifted)
        shot(page, tmp_path, "monitoring")
        browser.close()
        assert errors == []

    # the rollout's events and the registry's audit trail keep who rolled back and why
    def conveyor_json(*args: str) -> Any:
        done = subprocess.run(
            [str(BIN / "conveyor"), *args, "--json"],
            env=reg.env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    [latest, *_] = conveyor_json("rollout", "history", "wine")["rollouts"]
    assert latest["state"] == "rolled_back"
    events = conveyor_json("rollout", "history", "wine", "--events", str(latest["id"]))["events"]
    rollback = [e for e in events if e["to_state"] == "rolled_back"]
    assert rollback and rollback[0]["actor"] == "console:alice"
    assert rollback[0]["reason"] == "latency looks off on the canary"
    audit = conveyor_json("models", "history", "wine")
    entries = audit if isinstance(audit, list) else audit.get("history", audit.get("events", []))
    assert any("latency looks off on the canary" in json.dumps(e) for e in entries), entries


def test_the_api_says_what_is_wrong(wine_registered: Registered, tmp_path: Path) -> None:
    reg = wine_registered.clone(tmp_path)
    with console(reg, {}) as ui:
        assert httpx.get(f"{ui}/api/models/nope", timeout=60).status_code == 404
        no_rollout = httpx.get(f"{ui}/api/models/wine/rollout", timeout=60).json()
        assert no_rollout["rollout"] is None
        off = httpx.post(f"{ui}/api/models/wine/rollout/pause", json={"reason": "x"}, timeout=60)
        assert off.status_code == 403 and "CONVEYOR_ADMIN_TOKEN" in off.json()["error"]
        assert httpx.get(f"{ui}/api/meta", timeout=60).json()["actions"] is False
        page = httpx.get(f"{ui}/", timeout=60)
        assert page.status_code == 200 and "/static/vendor/echarts.min.js" in page.text
        assert httpx.get(f"{ui}/static/vendor/echarts.min.js", timeout=60).status_code == 200
    with console(reg, {"CONVEYOR_ADMIN_TOKEN": TOKEN}) as ui:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        missing = httpx.post(
            f"{ui}/api/models/wine/rollout/pause", json={}, headers=auth, timeout=60
        )
        assert missing.status_code == 400 and missing.json()["problems"][0]["loc"] == "reason"
        bad = httpx.post(
            f"{ui}/api/models/wine/rollout/explode", json={"reason": "x"}, headers=auth
        )
        assert bad.status_code == 400
        none = httpx.post(
            f"{ui}/api/models/wine/rollout/pause", json={"reason": "x"}, headers=auth, timeout=60
        )
        assert none.status_code in (404, 409)  # nothing to pause: said, not a 500


def test_schemathesis_finds_no_server_error(wine_registered: Registered, tmp_path: Path) -> None:
    import re
    import sys

    reg = wine_registered.clone(tmp_path)
    with console(reg, {"CONVEYOR_ADMIN_TOKEN": TOKEN}) as ui:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"{ui}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "20", "--seed", "1",
             "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
    log = (reg.home.parent / "console.log").read_text()
    assert done.returncode == 0, done.stdout[-4000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counts is not None and counts.group(1) == counts.group(2)
    assert "Traceback" not in log, log[-3000:]
