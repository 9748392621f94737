"""Importing Conveyor, and starting its CLI, must not pay for the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("mlflow", "pandas", "sklearn", "onnxruntime", "optuna")


def imported_modules(code: str) -> set[str]:
    """Every module ``python -X importtime -c CODE`` imports, from its stderr report."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                modules.add(name)
    assert modules, "no -X importtime report on stderr"
    return modules


def heavy_in(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in heavy)


def test_the_report_is_read_correctly() -> None:
    modules = imported_modules("import json, pandas")
    assert "json" in modules
    assert heavy_in(modules, HEAVY)  # pandas is seen, so an absence below means something


def test_import_conveyor_is_light() -> None:
    modules = imported_modules("import conveyor")
    assert "conveyor" in modules
    assert heavy_in(modules, HEAVY) == []


@pytest.mark.parametrize("module", ["conveyor.cli.main", "conveyor.errors", "conveyor.settings"])
def test_cli_entry_point_is_light(module: str) -> None:
    modules = imported_modules(f"import {module}")
    assert module in modules
    assert heavy_in(modules, ("mlflow", "sklearn", "pandas")) == []
