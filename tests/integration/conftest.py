"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.procs import Processes


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Subprocesses a test starts; all stopped by PID when it ends."""
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop_all()
