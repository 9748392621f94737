"""Only conveyor/settings.py reads or writes the environment; what it exports for child
processes builds the same settings there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conveyor.settings import Settings, environment_kept, settings_variables

SRC = Path(__file__).resolve().parents[2] / "src" / "conveyor"
ACCESS = {"environ", "getenv", "putenv", "unsetenv", "environb"}


def environment_uses(tree: ast.AST) -> list[int]:
    """Lines that touch ``os.environ`` / ``os.getenv`` / ... (or name them imported from os)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute | ast.ImportFrom):
            continue
        attribute = (
            isinstance(node, ast.Attribute)
            and node.attr in ACCESS
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )
        imported = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ACCESS for alias in node.names)
        )
        if attribute or imported:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_touches_the_environment() -> None:
    found = {
        f"{path.relative_to(SRC)}:{line}"
        for path in SRC.rglob("*.py")
        if path.name != "settings.py" or path.parent != SRC
        for line in environment_uses(ast.parse(path.read_text()))
    }
    assert not found, sorted(found)


def test_the_check_sees_each_spelling() -> None:
    code = "import os\nfrom os import getenv\nos.environ['A'] = '1'\nos.getenv('B')\n"
    assert environment_uses(ast.parse(code)) == [2, 3, 4]


def test_a_child_builds_the_same_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = Settings(
        home=tmp_path,
        store_url=f"sqlite:///{tmp_path / 'other.db'}",
        model_name="wine",
        model_version="3",
        refresh_seconds=5,
        backend="v2://127.0.0.1:9/wine",
    )
    for name, value in settings_variables(parent).items():
        monkeypatch.setenv(name, value)
    child = Settings()
    fields = ("home", "tracking_uri", "store_url", "model_name", "model_version", "backend")
    assert [getattr(child, f) for f in fields] == [getattr(parent, f) for f in fields]
    assert child.refresh_seconds == 5 and child.model_stage == parent.model_stage


def test_environment_kept_restores_set_and_unset_names(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("CONVEYOR_T_SET", "mine")
    monkeypatch.delenv("CONVEYOR_T_UNSET", raising=False)
    with environment_kept("CONVEYOR_T_SET", "CONVEYOR_T_UNSET"):
        os.environ["CONVEYOR_T_SET"] = "theirs"
        os.environ["CONVEYOR_T_UNSET"] = "theirs"
    assert os.environ["CONVEYOR_T_SET"] == "mine" and "CONVEYOR_T_UNSET" not in os.environ
