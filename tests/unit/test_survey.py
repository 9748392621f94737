"""Columns that would hurt a model are found before training, and ordinary data stays quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.data.dates import expand_dates, is_date_column
from conveyor.data.survey import FindingKind, identifier_like, survey
from conveyor.scaffold import infer_task
from conveyor.spec.models import Task


def table(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, n)
    y = (income + rng.normal(0, 6, n) > 50).astype(int)
    return pd.DataFrame(
        {
            "row_number": np.arange(n),  # counts up: an identifier whatever its name
            "customer_id": rng.permutation(np.arange(10_000, 10_000 + n)),
            "ticket": [f"T-{rng.integers(1_000_000_000)}" for _ in range(n)],
            "signup": pd.date_range("2022-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "plan": rng.choice(
                np.array(["basic", "pro", None], dtype=object), n, p=[0.6, 0.36, 0.04]
            ),
            "age": rng.integers(18, 80, n),  # near-unique it is not: a plain integer feature
            "income": income,
            "country": "fr",
            "empty": np.nan,
            "label_text": np.where(y == 1, "left", "stayed"),  # the target written again
            "churned": y,
        }
    )


def kinds(findings: list) -> dict[str, FindingKind]:
    return {f.column: f.kind for f in findings}


def test_each_harmful_column_is_named_with_its_kind() -> None:
    frame = table()
    features = [c for c in frame.columns if c != "churned"]
    found = kinds(survey(frame, "churned", features, classification=True))
    assert found == {
        "row_number": FindingKind.IDENTIFIER,
        "customer_id": FindingKind.IDENTIFIER,
        "ticket": FindingKind.IDENTIFIER,
        "signup": FindingKind.DATE,
        "country": FindingKind.CONSTANT,
        "empty": FindingKind.CONSTANT,
        "label_text": FindingKind.LEAKAGE,
    }


def test_a_numeric_copy_of_a_regression_target_is_a_leak() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=800)
    price = 3 * x + rng.normal(scale=2.0, size=800)
    frame = pd.DataFrame({"x": x, "price_in_cents": price * 100 + 1, "noise": rng.normal(size=800)})
    frame["price"] = price
    found = kinds(survey(frame, "price", ["x", "price_in_cents", "noise"], classification=False))
    assert found == {"price_in_cents": FindingKind.LEAKAGE}


def test_missing_target_values_are_counted() -> None:
    frame = table()
    frame.loc[[1, 5, 9], "churned"] = np.nan
    [missing] = [
        f
        for f in survey(frame, "churned", ["income"], classification=True)
        if f.kind is FindingKind.MISSING_TARGET
    ]
    assert "3 of 600 rows" in missing.message
    assert "data.drop_missing_target" in missing.message


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "iris", "diabetes"])
def test_ordinary_datasets_raise_no_finding(name: str) -> None:
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    assert survey(frame, "target", features, classification=name != "diabetes") == []


def test_a_good_single_predictor_is_not_called_a_leak() -> None:
    # iris's petal width separates the classes well (~0.95), which is not a leak
    from sklearn import datasets

    frame = datasets.load_iris(as_frame=True).frame
    assert survey(frame, "target", ["petal width (cm)"], classification=True) == []


def test_integers_that_repeat_or_wander_are_not_identifiers() -> None:
    rng = np.random.default_rng(1)
    assert not identifier_like(pd.Series(rng.integers(0, 100, 500)), "visits")
    # near-unique but neither counting up nor named like an id: an amount, not a key
    assert not identifier_like(pd.Series(rng.integers(0, 10**9, 500)), "income_cents")
    assert identifier_like(pd.Series(rng.integers(0, 10**9, 500)), "account_id")
    assert not identifier_like(pd.Series(rng.normal(size=500)), "measurement")


@pytest.mark.parametrize(
    ("values", "dated"),
    [
        (["2021-01-02", "2021-03-04"], True),
        (["2021-01-02 10:00", "2021-03-04 11:30"], True),
        (["2021-01-02T10:00:00Z", "2021-03-04T11:30:00+02:00"], True),
        (["03/04/2021", "12/31/2020"], True),
        (["Jan 3, 2021", "Feb 4, 2022"], True),
        (["1.2.3", "2.3.4"], False),  # versions
        (["10:30", "11:45"], False),  # times of day carry no date
        (["2021", "2022"], False),  # a year alone is a number
        (["12", "13"], False),
        (["ref-2021-a", "ref-2022-b"], False),
        (["192.168.0.1", "10.0.0.2"], False),
    ],
)
def test_date_detection(values: list[str], dated: bool) -> None:
    assert is_date_column(pd.Series(values * 20)) is dated


def test_dates_expand_to_numeric_parts_in_place() -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0],
            "when": ["2024-02-29 13:45", "2023-12-31 00:00", None],
            "b": ["x", "y", "z"],
        }
    )
    out, parts = expand_dates(frame, ["when"])
    assert parts == {"when": ["when_year", "when_month", "when_day", "when_weekday", "when_hour"]}
    assert list(out.columns) == ["a", *parts["when"], "b"]
    assert out.iloc[0][parts["when"]].tolist() == [2024, 2, 29, 3, 13]  # a Thursday
    assert out.iloc[2][parts["when"]].isna().all()  # a missing date is missing in every part


def test_dates_without_times_have_no_hour_part() -> None:
    out, parts = expand_dates(pd.DataFrame({"d": ["2024-01-01", "2024-06-30"]}), ["d"])
    assert parts["d"] == ["d_year", "d_month", "d_day", "d_weekday"]
    assert out["d_month"].tolist() == [1, 6]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["yes", "no", "yes"] * 10, Task.CLASSIFICATION),
        ([True, False] * 15, Task.CLASSIFICATION),
        ([0, 1, 2] * 20, Task.CLASSIFICATION),
        ([0.0, 1.0, None] * 20, Task.CLASSIFICATION),  # a label column with gaps reads as float
        (list(range(300)), Task.REGRESSION),  # many whole numbers: a count, not classes
        ([0.5, 1.25, 3.0] * 20, Task.REGRESSION),
    ],
)
def test_task_is_inferred_from_the_target(values: list[object], task: Task) -> None:
    found, reason = infer_task(pd.Series(values))
    assert found is task
    assert "target" in reason
