from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import SpecError
from conveyor.spec import load_spec
from conveyor.spec.models import Task

GOOD = """\
name: wine
task: classification
data: {source: sklearn:wine, target: target}
model: {estimator: sklearn.linear_model.LogisticRegression}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conveyor.yaml"
    path.write_text(text)
    return path


def test_minimal_spec_gets_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.task is Task.CLASSIFICATION
    assert spec.data.test_fraction == 0.25
    assert spec.primary_metric() == "f1_macro"
    assert spec.registry.require_approval is False


def test_directory_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    assert load_spec(tmp_path).name == "wine"


def test_bounded_metric_error_names_yaml_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "gates:\n  min:\n    accuracy: 1.5\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "gates.min" in err.value.message
    assert "must be ≥ 0 and ≤ 1" in err.value.message
    assert "line 6" in err.value.message


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: wine\ntask: clustering\ndata: {source: sklearn:nope, target: t}\nmodle: {}\n",
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    wheres = [p.where for p in err.value.problems]
    assert any(w.startswith("task") for w in wheres)
    assert any(w.startswith("data.source") for w in wheres)
    assert any(w.startswith("modle") for w in wheres)  # unknown key, a typo
    assert any(w.startswith("model") and "modle" not in w for w in wheres)  # required, missing


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "name: wine\ndata: [unclosed\n"))
    assert "malformed YAML" in err.value.message
    assert "line" in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_metric_must_fit_the_task(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"unknown metric for a classification task at gates\.min\.rmse"
    ):
        load_spec(write(tmp_path, GOOD + "gates: {min: {rmse: 3}}\n"))


def test_slice_gate_needs_a_slice(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such slice"):
        load_spec(write(tmp_path, GOOD + "gates: {slices: {old: {accuracy: 0.5}}}\n"))


def test_estimator_xor_train_function(tmp_path: Path) -> None:
    text = GOOD.replace(
        "model: {estimator: sklearn.linear_model.LogisticRegression}", "model: {params: {}}"
    )
    with pytest.raises(SpecError, match="exactly one of 'estimator' or 'train_function'"):
        load_spec(write(tmp_path, text))


def test_tuning_range_is_checked(tmp_path: Path) -> None:
    text = GOOD + "tuning:\n  search_space:\n    C: {type: float, low: 5, high: 1}\n"
    with pytest.raises(SpecError, match=r"tuning\.search_space\.C"):
        load_spec(write(tmp_path, text))


def test_spec_hash_ignores_formatting(tmp_path: Path) -> None:
    from conveyor.spec import spec_hash

    a = load_spec(write(tmp_path, GOOD))
    (tmp_path / "b").mkdir()
    b = load_spec(
        write(
            tmp_path / "b",
            GOOD.replace(
                "data: {source: sklearn:wine, target: target}",
                "data:\n  target: target\n  source: sklearn:wine",
            ),
        )
    )
    assert spec_hash(a) == spec_hash(b)


def test_the_readme_project_file_is_valid(tmp_path: Path) -> None:
    """The documented project file loads as written (the docs cannot drift from the spec)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("## The project file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "conveyor.yaml").write_text(block)
    spec = load_spec(tmp_path / "conveyor.yaml")
    assert spec.monitoring.drift.psi_alert == 0.3
    assert spec.monitoring.webhooks == ["https://hooks.example.com/conveyor"]
    assert spec.gates.slices["high_alcohol"]["accuracy"] == 0.8
