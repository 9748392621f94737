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
    plain, slack = spec.monitoring.webhooks
    assert plain == "https://hooks.example.com/conveyor"
    assert not isinstance(slack, str) and (slack.url, slack.format) == (
        "https://hooks.slack.com/services/T0/B0/XXXX",
        "slack",
    )
    assert spec.monitoring.alerts.min_accuracy == 0.7
    assert spec.gates.slices["high_alcohol"]["accuracy"] == 0.8


def test_small_aliases_are_expanded_and_located(tmp_path: Path) -> None:
    """Anchors that repeat a small section are fine; a problem inside one names the alias's key."""
    text = GOOD + (
        "monitoring:\n"
        "  webhooks: &hooks [https://hooks.example.com/a]\n"
        "rollout:\n"
        "  webhooks: *hooks\n"
        "  analysis: &strict {alpha: 0.01, min_requests: 50}\n"
        "tuning:\n"
        "  search_space:\n"
        "    C: {type: float, low: 0.1, high: 10}\n"
        "    max_iter: {<<: *strict, type: int}\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    assert [p.where for p in err.value.problems] == [
        "tuning.search_space.max_iter.alpha (line 13)",  # merged from line 9, used on line 13
        "tuning.search_space.max_iter.min_requests (line 13)",
    ]
    ok = load_spec(write(tmp_path, text[: text.index("tuning:")]))
    assert ok.rollout.webhooks == ok.monitoring.webhooks == ["https://hooks.example.com/a"]
    assert ok.rollout.analysis.min_requests == 50


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs": each level aliases the previous one ``width`` times."""
    lines = [GOOD.rstrip(), "serving:", "  l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_expansion_beyond_the_budget_is_refused(tmp_path: Path) -> None:
    from conveyor.spec.document import ALIAS_BUDGET

    assert load_spec(write(tmp_path, alias_bomb(3))).serving  # 9 + 81 + 729 values: fine
    text = alias_bomb(9)  # 9^9 ≈ 387 million values from 0.6 KB
    assert len(text) < 1024
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    (problem,) = err.value.problems
    assert problem.where == "line 10"  # the alias that crossed the budget: *l3 on level 4
    assert f"more than {ALIAS_BUDGET:,} values (at *l3)" in problem.message
    assert str(tmp_path / "conveyor.yaml") in err.value.message


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"line 5: alias \*s refers to its own anchor"):
        load_spec(write(tmp_path, GOOD + "serving: &s {again: *s}\n"))
    with pytest.raises(SpecError, match="line 5: nested deeper than 100 levels"):
        load_spec(write(tmp_path, GOOD + "serving: {x: " + "[" * 5000 + "]" * 5000 + "}\n"))


def test_a_file_that_is_not_utf8_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "conveyor.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)


DATA = "data:\n  source: sklearn:wine\n  target: target\n"


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        # what people write to leave columns out: the key that does it, and how
        (
            DATA + "  exclude: [ash]\n",
            ["data.exclude (line 7)", "did you mean `features`?", "keep"],
        ),
        (DATA + "  drop: [ash]\n", ["data.drop (line 7)", "did you mean `features`?"]),
        # a typo: the closest spelling
        (DATA + "  categoricl: [ash]\n", ["did you mean `categorical`?"]),
        ("gates:\n  allow_breaking: true\n", ["did you mean `allow_breaking_schema`?"]),
        (
            "gates:\n  onnx_parity: {tolerance: 0.01}\n",
            ["gates.onnx_parity.tolerance (line 6)", "probability_tolerance"],
        ),
        # a key of another section: where it belongs
        (DATA + "  estimator: x\n", ["`estimator` belongs under `model`"]),
    ],
)
def test_unknown_key_lists_the_valid_ones_and_suggests(
    tmp_path: Path, extra: str, needles: list[str]
) -> None:
    text = GOOD.replace("data: {source: sklearn:wine, target: target}\n", "") + extra
    if not extra.startswith("data:"):
        text = GOOD + extra
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    (problem,) = err.value.problems
    for needle in needles:
        assert needle in str(problem), str(problem)
    assert "Valid here: " in problem.message
    assert "`conveyor spec " in problem.message


def test_unknown_key_names_every_valid_key_of_its_section(tmp_path: Path) -> None:
    from conveyor.spec.models import DataSpec

    text = GOOD.replace("target: target}", "target: target, exclude: [ash]}")
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, text))
    valid = err.value.problems[0].message.split("Valid here: ")[1].split(" (")[0]
    assert valid.split(", ") == list(DataSpec.model_fields)


def test_feast_feature_references_are_checked(tmp_path: Path) -> None:
    """data.feast.features are feature_view:feature, their names distinct across views."""
    base = GOOD.replace(
        "data: {source: sklearn:wine, target: target}",
        "data:\n  source: labels.parquet\n  target: target\n  feast:\n    repo: repo\n"
        "    features: [%s]",
    )
    spec = load_spec(write(tmp_path, base % "stats:conv_rate, stats:acc_rate"))
    assert spec.data.feast is not None and spec.data.feast.timestamp == "event_timestamp"
    for bad, said in (
        ("conv_rate", "a feature reference is feature_view:feature"),
        ("a:x, b:x", "feature names must differ across views: x"),
    ):
        with pytest.raises(SpecError) as caught:
            load_spec(write(tmp_path, base % bad))
        assert "data.feast.features" in str(caught.value) and said in str(caught.value)
