"""`conveyor report` end to end: one registered wine model, live buckets written as two server
processes would, feedback for part of the predictions; the report goes through the real CLI
entry point and headless Chromium renders it (DOM after rendering, and a screenshot)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from conveyor.cli.main import main
from tests.conftest import WINE_SPEC, CliResult

pytestmark = pytest.mark.integration

Cli = Callable[..., CliResult]
MINUTES = 30
SHIFTED = ("alcohol", "color_intensity")  # moved far from training; the rest as trained


@dataclass(frozen=True)
class Served:
    root: Path
    features: list[str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """wine v1 in production, with half an hour of shifted traffic and some feedback."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):
            if key.startswith("CONVEYOR_") and key != "CONVEYOR_TEST_POSTGRES_URL":
                env.delenv(key)
        env.setenv("CONVEYOR_HOME", str(root / "home"))
        project = root / "project"
        project.mkdir()
        spec = WINE_SPEC.format(name="wine", C=1.0, min_accuracy=0.8, require_approval="false")
        (project / "conveyor.yaml").write_text(spec)
        assert main(["run", "--project", str(project), "--json"]) == 0
        assert main(["promote", "wine", "1", "--to", "production", "--reason", "report"]) == 0
        features = _traffic()
        yield Served(root, features)


def _traffic() -> list[str]:
    from sklearn.datasets import load_wine

    from conveyor.bundle.sources import registered_bundle
    from conveyor.monitoring.live import Bucket
    from conveyor.settings import Settings
    from conveyor.store.engine import Store
    from conveyor.store.tables import feedback, inference_log, monitor_buckets

    settings = Settings()
    bundle = registered_bundle(settings, "wine", "1")
    data = load_wine(as_frame=True).frame
    classes = sorted(bundle.profile["prediction"]["category_counts"])
    rng = np.random.default_rng(11)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    buckets, logged, labels = [], [], []
    for m in range(MINUTES):
        minute = now - timedelta(minutes=MINUTES - 1 - m)
        for process in ("host:1", "host:2"):
            rows = data.sample(20, random_state=int(rng.integers(1 << 30)))
            columns = {n: rows[n].to_numpy(dtype=float) for n in bundle.schema.names}
            for name in SHIFTED:
                columns[name] = columns[name] * 1.6 + 2
            predictions = rng.choice(classes, 20)
            bucket = Bucket.empty(bundle.profile)
            bucket.window.update(columns, predictions)
            bucket.requests, bucket.server_errors = 20, int(m % 7 == 0)
            bucket.latency[2], bucket.latency[4] = 15, 5  # 2.5-5 ms and 10-25 ms
            state = bucket.to_state()
            buckets.append(
                {"model": "wine", "version": "1", "minute": minute, "process": process}
                | {"counts": state}
            )
            request_id = f"{process}-{m}"
            logged.append(
                {
                    "request_id": request_id,
                    "at": minute + timedelta(seconds=20),
                    "model": "wine",
                    "version": "1",
                    "rows": 20,
                    "inputs": {},
                    "outputs": {"predictions": predictions.tolist()},
                    "latency_ms": 4.0,
                    "status": 200,
                }
            )
            truth = rows["target"].astype(str).tolist()
            labels += [
                {"request_id": request_id, "row": r, "at": now, "label": truth[r]}
                for r in range(0, 20, 2)
            ]
    store = Store(settings.store_url).create()
    try:
        with store.engine.begin() as conn:
            conn.execute(monitor_buckets.insert(), buckets)
            conn.execute(inference_log.insert(), logged)
            conn.execute(feedback.insert(), labels)
    finally:
        store.close()
    return bundle.schema.names


@pytest.fixture
def run(served: Served, capsys: pytest.CaptureFixture[str]) -> Cli:
    def call(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return call


@pytest.fixture(scope="module")
def report_file(served: Served) -> Path:
    out = served.root / "reports" / "new" / "wine.html"  # directories that do not exist yet
    assert main(["report", "wine", "--out", str(out)]) == 0
    return out


def test_report_is_written_and_its_path_printed(run: Cli, served: Served) -> None:
    out = served.root / "fresh" / "dir" / "r.html"
    done = run("report", "wine", "--out", str(out))
    assert done.exit_code == 0, done.stderr
    assert str(out) in done.stdout and "drift status drift" in done.stdout
    folder = served.root / "not-yet"  # no suffix: a directory to make, the file goes inside
    again = run("report", "wine", "--out", str(folder))
    assert again.exit_code == 0 and (folder / "report-wine-v1.html").is_file(), again.stdout
    html = out.read_text()
    assert "<script" not in html and "<link" not in html and "url(http" not in html
    assert re.findall(r'(?:src|href)="(?!#)', html) == []  # nothing to fetch
    for name in SHIFTED:
        assert f'data-feature="{name}"' in html


def test_json_and_a_directory_as_out(run: Cli, served: Served) -> None:
    folder = served.root / "as-dir"
    folder.mkdir()
    done = run("report", "wine", "--version", "1", "--window", "2h", "--out", str(folder), "--json")
    assert done.exit_code == 0, done.stderr
    written = done.json()
    assert written["path"] == str(folder / "report-wine-v1.html")
    assert written["window_minutes"] == 120 and written["drift_status"] == "drift"
    assert set(SHIFTED) <= set(written["drifted"])
    assert Path(written["path"]).is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report", "nosuchmodel"], "'nosuchmodel'"),
        (["report", "wine", "--version", "42"], "no version 42"),
        (["report", "wine", "--window", "soon"], "not a duration"),
        (["report", "wine", "--window", "0h"], "not a duration"),
        (["report", "wine", "--out", "{file}/sub/r.html"], "cannot create directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    run: Cli, served: Served, args: list[str], expected: str
) -> None:
    blocker = served.root / "a-file"
    blocker.write_text("not a directory")
    done = run(*[a.replace("{file}", str(blocker)) for a in args])
    assert done.exit_code == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


# -- rendered by a real browser -------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (scripts/install-test-tools.sh installs it)")
    return found


def browse(html: Path, *args: str) -> str:
    profile = html.parent / f".chromium-{os.getpid()}"
    done = subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chromium_renders_every_plot(report_file: Path, served: Served) -> None:
    dom = browse(report_file, "--dump-dom")
    kinds = re.findall(r'<svg data-plot="([a-z]+)"', dom)
    assert kinds.count("psi") == 1
    for kind in ("requests", "latency", "errors", "performance", "coverage"):
        assert kinds.count(kind) == 1, kind
    captions = re.findall(r"<figcaption><strong>([^<]*)</strong>", dom)
    for name in SHIFTED:
        assert f"feature {name}" in captions
    assert "the model's predictions" in captions
    unmoved = [f for f in served.features if f not in SHIFTED]
    drawn = set(re.findall(r'data-feature="([^"]*)"', dom))
    assert len(drawn & set(unmoved)) <= 1  # a warning may happen by chance; drift may not
    assert kinds.count("distribution") == len(drawn)
    assert "Insufficient data" not in dom and "No traffic." not in dom


def test_the_screenshot_is_not_blank(report_file: Path) -> None:
    from PIL import Image  # matplotlib depends on Pillow

    png = report_file.parent / "shot.png"
    browse(report_file, "--window-size=1200,2400", f"--screenshot={png}")
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1200, 2400)
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, badges, bars and lines: far from a blank page
    counts = {cast(tuple[int, int, int], colour): n for n, colour in colours}  # RGB: 3 bands
    drift_red = sum(n for (r, g, b), n in counts.items() if r > 180 and g < 70 and b < 70)
    orange = sum(n for (r, g, b), n in counts.items() if r > 200 and 60 < g < 110 and b < 40)
    assert drift_red > 500 and orange > 200  # drift bars and badges; the window's lines


def test_every_chart_is_drawn_at_one_scale(report_file: Path) -> None:
    """Fonts are the same size in every chart: a figure alone in its row (the predictions'
    distribution, often) is not blown up to the row's width."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(),
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(report_file.as_uri())
        scales = page.evaluate(
            """() => [...document.querySelectorAll('svg[data-plot]')].map(svg => [
                svg.dataset.plot,
                svg.getBoundingClientRect().width / svg.viewBox.baseVal.width,
            ])"""
        )
        browser.close()
    assert len(scales) >= 7
    values = [scale for _, scale in scales]
    assert max(values) - min(values) < 0.01, scales
