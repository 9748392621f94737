"""What every model source answers: whether it knows other versions, its pin, a version by
number. The server's manager asks these instead of probing the source's attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.bundle.sources import LocalSource, ModelSource, RegistrySource
from conveyor.errors import NotFoundError
from conveyor.settings import Settings


def test_a_local_directory_has_one_version_and_no_pin(tmp_path: Path) -> None:
    source: ModelSource = LocalSource(tmp_path / "wine")
    assert source.versioned is False and source.pinned is None
    assert source.current().version == "local"
    with pytest.raises(NotFoundError, match="one model directory: it has no version 2"):
        source.version("2")


def test_a_registry_source_knows_versions_and_says_its_pin(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    source: ModelSource = RegistrySource(settings, "wine", "production", pinned="3")
    assert source.versioned is True and source.pinned == "3"
    assert RegistrySource(settings, "wine", "production").pinned is None
