"""docs/spec.md is generated from the spec's models and cannot drift from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from conveyor.spec.keys import key_paths, unwrap
from conveyor.spec.models import ProjectSpec
from conveyor.spec.reference import main, render_markdown, sections

DOC = Path(__file__).parents[2] / "docs" / "spec.md"


def fields() -> list[tuple[str, Any]]:
    """Every (dotted key, FieldInfo) of the project file, sections included."""
    found = []
    for path in key_paths():
        owner: type[BaseModel] = ProjectSpec
        for part in path[:-1]:
            owner = unwrap(owner.model_fields[part].annotation)
        found.append((".".join(path), owner.model_fields[path[-1]]))
    return found


def test_the_committed_reference_is_what_the_models_generate() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/spec.md is out of date: python -m conveyor.spec.reference --out docs/spec.md"
    )


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "spec.md"
    stale.write_text("old\n")
    assert main(["--out", str(stale), "--check"]) == 1
    assert main(["--out", str(stale)]) == 0
    assert main(["--out", str(stale), "--check"]) == 0


def test_every_key_is_described_with_an_example() -> None:
    entries = {e.key: e for s in sections() for e in s.entries}
    for key, field in fields():
        assert field.description, f"{key} has no description"
        if not isinstance(unwrap(field.annotation), type) or not issubclass(
            unwrap(field.annotation), BaseModel
        ):
            assert field.examples or not field.is_required(), f"{key} needs an example"
    # every key of every section, the keys inside search_space entries as <name>
    shown = {k.replace(".<name>", "") for k in entries}
    assert {".".join(p) for p in key_paths()} <= shown
    for key, entry in entries.items():
        assert entry.description and entry.type, key
        assert entry.example, key


@pytest.mark.parametrize(
    "key",
    [
        "data.features",
        "data.categorical",
        "gates.allow_breaking_schema",
        "gates.onnx_parity.probability_tolerance",
        "tuning.search_space.<name>.log",
        "rollout.analysis.on_inconclusive",
    ],
)
def test_keys_people_could_not_find_are_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC.read_text(encoding="utf-8")


def test_every_explicit_example_is_valid_for_its_key() -> None:
    for key, field in fields():
        annotation = field.annotation
        if field.metadata:  # the bounds (gt, le, ...) belong to the type an example must meet
            annotation = Annotated[annotation, *field.metadata]
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        for example in field.examples or []:
            try:
                adapter.validate_python(example)
            except ValidationError as exc:
                pytest.fail(f"{key}: example {example!r} is not valid: {exc}")


def test_sections_of_one_part() -> None:
    (analysis,) = sections("rollout.analysis")
    assert analysis.entries[0].key == "rollout.analysis.alpha"
    assert [s.path for s in sections("gates")] == ["gates", "gates.champion", "gates.onnx_parity"]
    with pytest.raises(KeyError):
        sections("nope")
