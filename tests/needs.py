"""Tests that need a separate venv (.venv-peers: MLServer and KServe's client; .venv-feast:
Feast) skip when it is missing, so a laptop without them still runs the rest. In CI a missing
venv must not pass quietly: with CONVEYOR_TEST_REQUIRE_VENVS=1 (set by .ci/run) such a test
fails, naming what is missing and the script that installs it.

tests/conftest.py re-exports the two hooks below, which turn the ``missing_requirement`` mark
into that failure."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pytest

REQUIRE = "CONVEYOR_TEST_REQUIRE_VENVS"


def verdict(available: bool, environ: Mapping[str, str]) -> Literal["run", "skip", "fail"]:
    if available:
        return "run"
    return "fail" if environ.get(REQUIRE, "") == "1" else "skip"


def needs(executable: Path, what: str, installer: str) -> pytest.MarkDecorator:
    """A mark for tests that run ``executable``: nothing when it exists, else a skip, or a
    failure under CONVEYOR_TEST_REQUIRE_VENVS=1."""
    reason = f"{what} not installed ({executable} missing; run {installer})"
    match verdict(executable.exists(), os.environ):
        case "fail":
            return pytest.mark.missing_requirement(f"{reason}, and {REQUIRE}=1 requires it")
        case "skip":
            return pytest.mark.skipif(True, reason=reason)
        case _:
            return pytest.mark.skipif(False, reason=reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"missing_requirement(reason): fails the test ({REQUIRE}=1 and it is missing)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    mark = item.get_closest_marker("missing_requirement")
    if mark is not None:
        pytest.fail(str(mark.args[0]), pytrace=False)
