"""Bad input through the real CLI: exit 2, one clear message naming what is wrong (the file,
key, column or version), JSON with --json, never a traceback, and nothing registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

pytestmark = pytest.mark.integration

Cli = Callable[..., CliResult]

ESTIMATOR = "estimator: sklearn.linear_model.LogisticRegression"


def spec_text(source: str = "data.csv", target: str = "y", model: str = ESTIMATOR) -> str:
    return (
        "name: bad\n"
        "task: classification\n"
        f"data: {{source: {source}, target: {target}}}\n"
        f"model: {{{model}}}\n"
    )


def csv_rows(
    a: Callable[[int], object] = lambda i: i,
    b: Callable[[int], object] = lambda i: i % 3,
    y: Callable[[int], object] = lambda i: i % 2,
    header: str = "a,b,y",
) -> str:
    rows = "\n".join(f"{a(i)},{b(i)},{y(i)}" for i in range(20))
    return f"{header}\n{rows}\n"


def oops_at_7(i: int) -> object:
    return "oops" if i == 7 else i


def red_at_3(i: int) -> object:
    return "[red]" if i == 3 else i


# name: (conveyor.yaml text or None for no file, data file name, data text or None,
#        error type, what the message must name; {spec} and {data} are the two paths)
CASES: dict[str, tuple[str | None, str, str | None, str, list[str]]] = {
    "malformed_yaml": (
        "name: bad\ndata: [unclosed\n",
        "data.csv",
        None,
        "SpecError",
        ["{spec}", "malformed YAML", "line 3"],
    ),
    "no_spec_file": (None, "data.csv", None, "SpecError", ["{spec}", "file not found"]),
    "unknown_estimator": (
        spec_text("sklearn:wine", "target", "estimator: sklearn.linear_model.Nope"),
        "data.csv",
        None,
        "SpecError",
        ["conveyor.yaml", "model.estimator", "'Nope'", "sklearn.linear_model"],
    ),
    "unknown_train_function_module": (
        spec_text("sklearn:wine", "target", "train_function: no_such_module_xyz:train"),
        "data.csv",
        None,
        "SpecError",
        ["conveyor.yaml", "model.train_function", "'no_such_module_xyz'"],
    ),
    "unknown_builtin_dataset": (
        spec_text("sklearn:nope", "target"),
        "data.csv",
        None,
        "SpecError",
        ["{spec}", "data.source", "line 3", "'sklearn:nope'", "sklearn:wine"],
    ),
    "missing_data_file": (
        spec_text(),
        "data.csv",
        None,
        "DataError",
        ["{data}", "data.source", "file not found"],
    ),
    "unsupported_file_type": (
        spec_text("data.json"),
        "data.json",
        "{}",
        "DataError",
        ["{data}", "data.source", "'.json'"],
    ),
    "missing_target_column": (
        spec_text(target="label"),
        "data.csv",
        csv_rows(),
        "DataError",
        ["{data}", "data.target", "column 'label' not found", "a, b, y"],
    ),
    "strings_in_numeric_column": (
        spec_text(),
        "data.csv",
        csv_rows(a=oops_at_7),
        "DataError",
        ["{data}", "column 'a'", "non-numeric", "'oops'", "rows 7"],
    ),
    "all_null_column": (
        spec_text(),
        "data.csv",
        csv_rows(b=lambda i: ""),
        "DataError",
        ["{data}", "column 'b'", "every value is missing"],
    ),
    "empty_csv_file": (spec_text(), "data.csv", "", "DataError", ["{data}", "the file is empty"]),
    "header_only_csv": (
        spec_text(),
        "data.csv",
        "a,b,y\n",
        "DataError",
        ["{data}", "the dataset has no rows"],
    ),
    "single_class_target": (
        spec_text(),
        "data.csv",
        csv_rows(y=lambda i: "yes"),
        "DataError",
        ["{data}", "column 'y'", "single class"],
    ),
}


def assert_clean(result: CliResult) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


def assert_text_error(result: CliResult, needles: list[str], code: int = 2) -> None:
    """Exit ``code``; one `error:` message on stderr that names every needle; no traceback."""
    assert_clean(result)
    assert result.exit_code == code, result.stderr + result.stdout
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    message = result.stderr[result.stderr.index("error:") :]
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def assert_json_error(result: CliResult, kind: str, needles: list[str], code: int = 2) -> dict:
    """Exit ``code``; only JSON on stdout, nothing on stderr; the error names every needle."""
    assert_clean(result)
    assert result.exit_code == code, result.stderr + result.stdout
    assert result.stderr == ""
    payload = result.json()
    assert payload["exit_code"] == code
    assert payload["type"] == kind
    for needle in needles:
        assert needle in payload["error"], f"{needle!r} not in {payload['error']!r}"
    return payload


def assert_nothing_registered(cli: Cli) -> None:
    listed = cli("models", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert listed.json() == []


@pytest.mark.parametrize("case", list(CASES))
def test_bad_project_input(cli: Cli, tmp_path: Path, case: str) -> None:
    spec, data_name, data, kind, needles = CASES[case]
    project = tmp_path / "project"
    project.mkdir()
    if spec is not None:
        (project / "conveyor.yaml").write_text(spec)
    if data is not None:
        (project / data_name).write_text(data)
    paths = {"spec": str(project / "conveyor.yaml"), "data": str(project / data_name)}
    needles = [n.format(**paths) for n in needles]

    assert_text_error(cli("run", "--project", str(project)), needles)
    payload = assert_json_error(cli("run", "--project", str(project), "--json"), kind, needles)
    assert len(payload["problems"]) == 1  # one problem, one message
    assert "file" in payload if kind == "SpecError" else payload["source"] == paths["data"]
    if case != "no_spec_file":
        validated = cli("validate", "--project", str(project), "--json")
        assert_json_error(validated, kind, needles)
    assert not (project / "run_info.json").exists()
    assert_nothing_registered(cli)


def test_every_data_problem_in_one_message(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(spec_text())
    (project / "data.csv").write_text(csv_rows(a=oops_at_7, b=lambda i: "", y=lambda i: 1))
    result = cli("run", "--project", str(project), "--json")
    payload = assert_json_error(result, "DataError", ["3 data problems"])
    assert [p["where"] for p in payload["problems"]] == ["column 'a'", "column 'b'", "column 'y'"]
    text = cli("run", "--project", str(project))
    assert_text_error(text, ["column 'a'", "column 'b'", "column 'y'", "rows 7"])
    assert_nothing_registered(cli)


def test_brackets_in_data_are_shown_as_written(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(spec_text())
    (project / "data.csv").write_text(csv_rows(a=red_at_3, b=lambda i: "", header="a,[b],y"))
    needles = ["column 'a'", "('[red]') at rows 3", "column '[b]': every value is missing"]
    assert_text_error(cli("run", "--project", str(project)), needles)
    assert_json_error(cli("run", "--project", str(project), "--json"), "DataError", needles)
    assert_nothing_registered(cli)


def registered_state(cli: Cli, name: str) -> tuple[list, list]:
    versions = cli("models", "show", name, "--json")
    history = cli("models", "history", name, "--json")
    assert versions.exit_code == history.exit_code == 0, versions.stderr + history.stderr
    return (
        [(v["version"], v["stage"], v["aliases"]) for v in versions.json()],
        [(e["version"], e["action"], e["to_stage"]) for e in history.json()],
    )


def test_versions_that_do_not_exist(cli: Cli, wine_project: Callable[..., Path]) -> None:
    assert cli("run", "--project", str(wine_project())).exit_code == 0
    before = registered_state(cli, "wine")
    for args, needles in [
        (("models", "show", "wine", "9"), ["model 'wine' has no version 9"]),
        (("models", "show", "wine", "abc"), ["model 'wine' has no version abc"]),
        (("models", "show", "wine", "0"), ["model 'wine' has no version 0"]),
        (("promote", "wine", "9"), ["model 'wine' has no version 9"]),
        (("promote", "wine", "1.0.0"), ["model 'wine' has no version 1.0.0"]),
        (("approve", "wine", "9", "--by", "alice"), ["model 'wine' has no version 9"]),
        (("models", "show", "nope", "1"), ["no registered model named 'nope'"]),
        (("models", "history", "nope"), ["no registered model named 'nope'"]),
    ]:
        assert_text_error(cli(*args), needles)
        assert_json_error(cli(*args, "--json"), "NotFoundError", needles)
    assert registered_state(cli, "wine") == before
    assert [m["name"] for m in cli("models", "list", "--json").json()] == ["wine"]


def test_promote_without_required_approval(cli: Cli, wine_project: Callable[..., Path]) -> None:
    assert cli("run", "--project", str(wine_project(require_approval=True))).exit_code == 0
    before = registered_state(cli, "wine")
    needles = ["wine version 1 needs approval before production", "conveyor approve wine 1"]
    assert_text_error(cli("promote", "wine", "1", "--to", "production"), needles)
    assert_json_error(cli("promote", "wine", "1", "--json"), "ApprovalRequiredError", needles)
    assert registered_state(cli, "wine") == before
    assert before == ([("1", "staging", ["staging"])], [("1", "register", "staging")])
    (listed,) = cli("models", "list", "--json").json()
    assert listed["production"] is None


def test_categorical_typo_is_reported(cli, tmp_path) -> None:
    project = tmp_path / "typo"
    project.mkdir()
    (project / "conveyor.yaml").write_text(
        "name: wine\ntask: classification\n"
        "data: {source: sklearn:wine, target: target, categorical: [alcohool]}\n"
        "model: {estimator: sklearn.linear_model.LogisticRegression}\n"
    )
    result = cli("validate", "--project", str(project))
    assert result.exit_code == 2
    assert "data.categorical" in result.stderr and "alcohool" in result.stderr


def test_estimator_error_names_the_spec_file_given(cli, tmp_path) -> None:
    spec = tmp_path / "other-name.yaml"
    spec.write_text(
        "name: wine\ntask: classification\n"
        "data: {source: sklearn:wine, target: target}\n"
        "model: {estimator: sklearn.linear_model.LogisticRegression, params: {no_such_param: 1}}\n"
    )
    result = cli("run", "--project", str(spec), "--json")
    assert result.exit_code == 2
    payload = result.json()
    assert payload["file"] == str(spec)
    assert payload["problems"][0]["where"] == "model.params.no_such_param (line 4)"


def test_a_huge_field_is_clipped_in_the_message(cli: Cli, tmp_path: Path) -> None:
    """A 10 MB value in a numeric column: the message quotes its start and its size, not it."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(spec_text())
    huge = "X" * 10_000_000
    (project / "data.csv").write_text(csv_rows(a=lambda i: huge if i == 7 else i))
    needles = ["column 'a'", "'" + "X" * 60 + "'… (10,000,000 characters)", "rows 7"]
    for command in ("validate", "run"):
        text = cli(command, "--project", str(project))
        assert_text_error(text, needles)
        assert len(text.stderr) < 1000
        payload = assert_json_error(
            cli(command, "--project", str(project), "--json"), "DataError", needles
        )
        assert len(payload["error"]) < 1000
    assert_nothing_registered(cli)


def test_a_huge_header_is_clipped_in_the_message(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(spec_text(target="label"))
    (project / "data.csv").write_text(csv_rows(header="a," + "B" * 1_000_000 + ",y"))
    text = cli("validate", "--project", str(project))
    assert_text_error(text, ["column 'label' not found", "(1,000,000 characters)"])
    assert len(text.stderr) < 1000


def test_params_of_another_estimator_fail_validate(cli: Cli, tmp_path: Path, home: Path) -> None:
    """`C` left over after switching to a random forest: validate fails naming the key (it used
    to pass, and `run` failed after starting an MLflow run)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(
        "name: wine\ntask: classification\ndata: {source: sklearn:wine, target: target}\n"
        "model:\n  estimator: sklearn.ensemble.RandomForestClassifier\n"
        "  params: {C: 1.0, n_estimators: 20}\n"
    )
    needles = ["model.params.C (line 6)", "not a parameter of RandomForestClassifier", "max_depth"]
    assert_text_error(cli("validate", "--project", str(project)), needles)
    payload = assert_json_error(
        cli("validate", "--project", str(project), "--json"), "SpecError", needles
    )
    assert [p["where"] for p in payload["problems"]] == ["model.params.C (line 6)"]
    assert_text_error(cli("run", "--project", str(project)), needles)
    assert not (home / "mlflow.db").exists()  # refused before MLflow was opened
    assert_nothing_registered(cli)


def test_unknown_key_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conveyor.yaml").write_text(
        "name: wine\ntask: classification\n"
        "data:\n  source: sklearn:wine\n  target: target\n  exclude: [ash]\n"
        "model: {estimator: sklearn.linear_model.LogisticRegression}\n"
    )
    needles = ["data.exclude (line 6)", "did you mean `features`?", "Valid here: source, target"]
    assert_text_error(cli("validate", "--project", str(project)), needles)
    assert_json_error(cli("validate", "--project", str(project), "--json"), "SpecError", needles)


def test_spec_command_describes_every_key(cli: Cli) -> None:
    result = cli("spec", "gates")
    assert result.exit_code == 0
    for key in ("gates.allow_breaking_schema", "gates.onnx_parity.probability_tolerance"):
        assert key in result.stdout
    listed = cli("spec", "data", "--json").json()
    assert [k["key"] for k in listed[0]["keys"]][:4] == [
        "data.source",
        "data.target",
        "data.features",
        "data.categorical",
    ]
    assert_text_error(cli("spec", "nope"), ["no section 'nope'", "rollout.analysis"])
