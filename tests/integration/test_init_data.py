"""From a user's own table to a registered model: `conveyor init --data`, then `run`, with the
columns that would hurt the model left out and said why, through the real CLI and MLflow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import CliResult
from tests.unit.test_survey import table

pytestmark = pytest.mark.integration

Cli = Callable[..., CliResult]


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    frame = table(n=600)
    frame = frame.astype({"churned": "float64"})
    frame.loc[[3, 50, 400], "churned"] = np.nan  # unlabelled rows
    path = tmp_path / "data" / "churn.csv"
    path.parent.mkdir()
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def prices_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    n = 500
    area = rng.uniform(30, 200, n)
    rooms = rng.integers(1, 6, n)
    frame = pd.DataFrame(
        {
            "listing_id": rng.permutation(np.arange(70_000, 70_000 + n)),
            "listed_on": pd.date_range("2020-03-01", periods=n, freq="12h").strftime(
                "%Y-%m-%d %H:%M"
            ),
            "area": area,
            "rooms": rooms,
            "district": rng.choice(["north", "south", "centre"], n),
        }
    )
    frame["price"] = 2_000 * area + 15_000 * rooms + rng.normal(0, 20_000, n)
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    return path


def test_init_from_a_classification_table_then_run(
    cli: Cli, tmp_path: Path, churn_csv: Path
) -> None:
    project = tmp_path / "churn"
    made = cli("init", str(project), "--data", str(churn_csv), "--target", "churned", "--json")
    assert made.exit_code == 0, made.stderr
    info = made.json()
    assert info["task"] == "classification"
    assert "2 distinct" in info["task_reason"]
    assert info["features"] == ["plan", "age", "income"]
    assert {f["column"]: f["kind"] for f in info["left_out"]} == {
        "row_number": "identifier",
        "customer_id": "identifier",
        "ticket": "identifier",
        "signup": "date",
        "country": "constant",
        "empty": "constant",
        "label_text": "leakage",
    }
    assert info["dropped_rows"] == 3
    spec = yaml.safe_load((project / "conveyor.yaml").read_text())
    assert spec["data"]["source"] == "../data/churn.csv"
    assert spec["data"]["features"] == ["plan", "age", "income"]
    assert spec["data"]["drop_missing_target"] is True
    # gates a margin under the first fit, and that fit better than guessing
    assert info["baseline"]["accuracy"] > info["guess"]["accuracy"]
    assert spec["gates"]["min"]["accuracy"] == pytest.approx(
        int((info["baseline"]["accuracy"] - 0.05) * 100) / 100
    )
    text = (project / "conveyor.yaml").read_text()
    assert "label_text: predicts the target almost alone" in text  # the reason is in the file

    run = cli("run", "--project", str(project), "--json")
    assert run.exit_code == 0, run.stderr
    result = run.json()
    assert result["registered_version"] == "1"
    assert result["metrics"]["accuracy"] == pytest.approx(info["baseline"]["accuracy"])
    assert result["warnings"] == [
        {
            "column": "churned",
            "kind": "missing_target",
            "level": "note",
            "message": "dropped 3 rows whose target is missing (data.drop_missing_target)",
        }
    ]
    run_info = json.loads((project / "run_info.json").read_text())
    assert run_info["warnings"] == result["warnings"]


def test_init_from_a_regression_table_with_an_id_and_dates(
    cli: Cli, tmp_path: Path, prices_csv: Path
) -> None:
    project = tmp_path / "prices"
    made = cli("init", str(project), "--data", str(prices_csv), "--target", "price")
    assert made.exit_code == 0, made.stderr
    assert "task: regression" in made.stdout
    assert "listing_id" in made.stdout and "identifier" in made.stdout
    spec = yaml.safe_load((project / "conveyor.yaml").read_text())
    assert spec["task"] == "regression"
    assert spec["data"]["features"] == ["area", "rooms", "district"]
    assert set(spec["gates"]) == {"min", "max", "champion"}
    assert spec["model"]["estimator"] == "sklearn.linear_model.Ridge"
    run = cli("run", "--project", str(project), "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["metrics"]["r2"] >= spec["gates"]["min"]["r2"]


def test_dates_as_parts_train_and_become_numeric_features(
    cli: Cli, tmp_path: Path, prices_csv: Path
) -> None:
    project = tmp_path / "parts"
    project.mkdir()
    (project / "conveyor.yaml").write_text(
        "name: parts\ntask: regression\n"
        f"data: {{source: {prices_csv}, target: price, dates: parts,"
        " features: [listed_on, area, rooms]}\n"
        "model: {estimator: sklearn.linear_model.Ridge}\n"
    )
    checked = cli("validate", "--project", str(project), "--json")
    assert checked.exit_code == 0, checked.stderr
    names = [c["name"] for c in checked.json()["schema"]["features"]]
    assert names == [
        "listed_on_year",
        "listed_on_month",
        "listed_on_day",
        "listed_on_weekday",
        "listed_on_hour",
        "area",
        "rooms",
    ]
    assert cli("run", "--project", str(project)).exit_code == 0


def test_a_listed_date_column_needs_a_decision(cli: Cli, tmp_path: Path, prices_csv: Path) -> None:
    project = tmp_path / "dated"
    project.mkdir()
    (project / "conveyor.yaml").write_text(
        "name: dated\ntask: regression\n"
        f"data: {{source: {prices_csv}, target: price, features: [listed_on, area]}}\n"
        "model: {estimator: sklearn.linear_model.Ridge}\n"
    )
    checked = cli("validate", "--project", str(project))
    assert checked.exit_code == 2
    assert "data.features" in checked.stderr and "data.dates: parts" in checked.stderr


def test_validate_and_run_warn_about_harmful_columns(
    cli: Cli, tmp_path: Path, churn_csv: Path
) -> None:
    project = tmp_path / "loose"
    project.mkdir()
    # an all-empty column is an error of its own (test_bad_input), not a warning
    pd.read_csv(churn_csv).drop(columns="empty").to_csv(project / "data.csv", index=False)
    (project / "conveyor.yaml").write_text(
        "name: loose\ntask: classification\n"
        "data: {source: data.csv, target: churned, drop_missing_target: true}\n"
        "model: {estimator: sklearn.linear_model.LogisticRegression, params: {max_iter: 500}}\n"
    )
    checked = cli("validate", "--project", str(project))
    assert checked.exit_code == 0, checked.stderr
    for column in ("customer_id", "ticket", "country", "label_text"):
        assert f"warning '{column}'" in checked.stderr
    assert "'signup': holds dates: left out" in " ".join(checked.stderr.split())
    as_json = cli("validate", "--project", str(project), "--json").json()
    assert {w["column"] for w in as_json["warnings"] if w["level"] == "warning"} == {
        "row_number",
        "customer_id",
        "ticket",
        "country",
        "label_text",
        "signup",  # left out by data.dates: exclude, which the spec did not choose
    }
    run = cli("run", "--project", str(project))
    assert "! warning" in run.stderr and "customer_id" in run.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--data", "{csv}"], "--data needs --target"),
        (["--data", "{csv}", "--target", "churn"], "did you mean 'churned'"),
        (["--data", "{csv}", "--target", "churned", "--task", "ranking"], "--task must be"),
        (["--data", "{csv}", "--target", "churned", "--example", "wine"], "not both"),
        (["--data", "{missing}", "--target", "y"], "file not found"),
        (["--target", "churned"], "go with --data"),
    ],
)
def test_bad_init_arguments(
    cli: Cli, tmp_path: Path, churn_csv: Path, args: list[str], says: str
) -> None:
    filled = [a.format(csv=churn_csv, missing=tmp_path / "nope.csv") for a in args]
    result = cli("init", str(tmp_path / "p"), *filled)
    assert result.exit_code == 2
    assert says in " ".join((result.stderr + result.stdout).split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "p" / "conveyor.yaml").exists()


def test_init_never_overwrites_without_force(cli: Cli, tmp_path: Path, churn_csv: Path) -> None:
    project = tmp_path / "keep"
    project.mkdir()
    (project / "conveyor.yaml").write_text("# mine\n")
    again = cli("init", str(project), "--data", str(churn_csv), "--target", "churned")
    assert again.exit_code == 2
    assert (project / "conveyor.yaml").read_text() == "# mine\n"
    forced = cli("init", str(project), "--data", str(churn_csv), "--target", "churned", "--force")
    assert forced.exit_code == 0
    assert "drop_missing_target: true" in (project / "conveyor.yaml").read_text()
