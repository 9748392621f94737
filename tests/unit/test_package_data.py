"""pyproject's package-data against the tree: every pattern names files that exist, and every
file beside the code that a wheel must carry is named (a wheel built from the tree holds the
package's modules and only the files these patterns match)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "conveyor"


def patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names: list[str] = config["tool"]["setuptools"]["package-data"]["conveyor"]
    return names


def data_files() -> set[Path]:
    """The files under the package that are not Python (nor caches of it)."""
    return {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }


def test_every_pattern_matches_a_file() -> None:
    empty = [p for p in patterns() if not [f for f in PACKAGE.glob(p) if f.is_file()]]
    assert not empty, f"package-data patterns matching nothing under src/conveyor: {empty}"


def test_every_data_file_is_packaged() -> None:
    packaged = {f for p in patterns() for f in PACKAGE.glob(p)}
    left_out = sorted(str(f.relative_to(PACKAGE)) for f in data_files() - packaged)
    assert not left_out, f"files under src/conveyor no package-data pattern names: {left_out}"


def test_the_console_page_is_among_them() -> None:
    packaged = {f.relative_to(PACKAGE).as_posix() for p in patterns() for f in PACKAGE.glob(p)}
    assert {
        "py.typed",
        "console/static/index.html",
        "console/static/vendor/echarts.min.js",
    } <= packaged
