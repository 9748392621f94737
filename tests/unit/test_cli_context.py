"""The CLI's composition root: settings built once per invocation, and one store, registry,
strategy registry and rollout controller per process, each built on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conveyor.cli import main as cli_main
from conveyor.cli.context import CliContext
from conveyor.settings import Settings


def test_an_invocation_builds_its_settings_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[Settings] = []

    class Counted(Settings):
        def __init__(self, **values: Any) -> None:
            super().__init__(**values)
            built.append(self)

    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.setattr(cli_main, "Settings", Counted)
    # the root callback runs before the subcommand's --help is shown
    assert cli_main.main(["rollout", "history", "--help"]) == 0
    assert "Past rollouts" in capsys.readouterr().out
    assert len(built) == 1


def test_the_controller_strategies_and_registry_are_built_once_and_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []

    def connect(settings: Settings) -> str:
        opened.append(settings)
        return "client"

    monkeypatch.setattr("conveyor.registry.client.connect", connect)
    cli = CliContext(Settings(home=tmp_path))
    try:
        controller = cli.controller()
        assert cli.controller() is controller
        assert controller.strategies is cli.strategies()
        assert opened == []  # nothing reached the registry yet
        assert cli.registry() is controller.registry  # one registry for commands and controller
        assert len(opened) == 1
    finally:
        cli.close()
