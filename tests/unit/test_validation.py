from __future__ import annotations

import numpy as np
import pandas as pd

from conveyor.data.schema import Column, Kind, Schema
from conveyor.data.validation import check_training_frame, validate_frame
from conveyor.errors import Problem


def texts(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def training(n: int = 10, **columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "x": [float(i) for i in range(n)],
        "c": ["a", "b"] * (n // 2),
        "y": [0, 1] * (n // 2),
    }
    return pd.DataFrame(base | columns)


# -- check_training_frame ----------------------------------------------------------------


def test_a_good_frame_has_no_problems() -> None:
    assert check_training_frame(training(), "y", None, classification=True) == []
    assert check_training_frame(training(), "x", ["c"], classification=False) == []


def test_empty_frame() -> None:
    for empty in (pd.DataFrame(), pd.DataFrame({"x": [], "y": []})):
        assert texts(check_training_frame(empty, "y", None, True)) == ["the dataset has no rows"]


def test_missing_target_names_the_key_and_lists_columns() -> None:
    problems = check_training_frame(training(), "label", None, classification=True)
    assert texts(problems) == ["data.target: column 'label' not found; columns: x, c, y"]


def test_missing_feature_columns_are_listed_together() -> None:
    problems = check_training_frame(training(), "y", ["x", "nope", "gone"], True)
    assert texts(problems) == ["data.features: columns not found: 'nope', 'gone'"]


def test_no_feature_columns_at_all() -> None:
    problems = check_training_frame(training(), "y", ["nope"], True)
    assert "data.features: no feature columns" in texts(problems)
    only_target = pd.DataFrame({"y": [0, 1, 0, 1]})
    assert texts(check_training_frame(only_target, "y", None, True)) == [
        "data.features: no feature columns"
    ]


def test_all_null_column() -> None:
    problems = check_training_frame(training(empty=[None] * 10), "y", None, True)
    assert texts(problems) == ["column 'empty': every value is missing"]


def test_strings_in_a_numeric_column_name_the_values_and_rows() -> None:
    values: list[object] = [str(i) for i in range(20)]
    values[3], values[17] = "n/a", "oops"
    data = pd.DataFrame({"x": values, "y": [0, 1] * 10})
    problems = check_training_frame(data, "y", None, True)
    assert texts(problems) == [
        "column 'x': numeric column holds non-numeric values ('n/a', 'oops') at rows 3, 17"
    ]


def test_row_list_is_capped() -> None:
    values: list[object] = [float(i) for i in range(100)]
    for i in range(0, 14, 2):
        values[i] = "bad"
    problems = check_training_frame(pd.DataFrame({"x": values, "y": [0, 1] * 50}), "y", None, True)
    assert texts(problems) == [
        "column 'x': numeric column holds non-numeric values ('bad') at rows 0, 2, 4, 6, 8 …"
    ]


def test_mostly_text_column_is_categorical_not_an_error() -> None:
    data = training(c=["a", "b", "c", "1", "2", "3", "d", "e", "f", "g"])
    assert check_training_frame(data, "y", None, True) == []


def test_single_class_target() -> None:
    problems = check_training_frame(training(y=[1] * 10), "y", None, classification=True)
    assert texts(problems) == [
        "column 'y': target has a single class; a classifier needs at least two"
    ]
    assert check_training_frame(training(y=[1.0] * 10), "y", None, classification=False) == []


def test_missing_target_values_name_the_rows() -> None:
    y: list[object] = [0, 1] * 5
    y[2] = y[6] = None
    problems = check_training_frame(training(y=y), "y", None, classification=True)
    assert texts(problems) == ["column 'y': target has 2 missing values at rows 2, 6"]


def test_regression_target_must_be_numeric() -> None:
    problems = check_training_frame(training(), "c", None, classification=False)
    assert texts(problems) == ["column 'c': a regression target must be numeric"]


def test_too_few_rows() -> None:
    problems = check_training_frame(training(n=2), "y", None, classification=True)
    assert texts(problems) == ["only 2 rows; at least 4 are needed to split and train"]


def test_every_training_problem_is_reported_at_once() -> None:
    values: list[object] = [str(i) for i in range(10)]
    values[4] = "oops"
    data = pd.DataFrame({"x": values, "gap": [np.nan] * 10, "y": ["one"] * 10})
    wheres = [p.where for p in check_training_frame(data, "y", ["x", "gap", "nope"], True)]
    assert wheres == ["data.features", "column 'x'", "column 'gap'", "column 'y'"]


# -- validate_frame ----------------------------------------------------------------------

SCHEMA = Schema(
    [
        Column("x", Kind.NUMERIC, nullable=False, min=0.0, max=10.0),
        Column("c", Kind.CATEGORICAL, nullable=True, categories=["a", "b"]),
        Column("flag", Kind.BOOLEAN),
    ],
    target="y",
    target_kind=Kind.CATEGORICAL,
    classes=[0, 1],
)


def new_data(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "x": [0.0, 5.0, 10.0],
        "c": ["a", None, "b"],
        "flag": [True, False, True],
    }
    return pd.DataFrame(base | columns)


def test_data_matching_the_schema_has_no_problems() -> None:
    assert validate_frame(new_data(), SCHEMA) == []
    assert validate_frame(new_data(y=[0, 1, 0]), SCHEMA, allow_extra=False) == []
    assert validate_frame(new_data(flag=[1, 0, 1]), SCHEMA) == []


def test_empty_data() -> None:
    empty = new_data().iloc[0:0]
    assert texts(validate_frame(empty, SCHEMA)) == ["the dataset has no rows"]


def test_missing_columns() -> None:
    problems = validate_frame(new_data().drop(columns=["x", "flag"]), SCHEMA)
    assert texts(problems) == ["columns: missing: 'x', 'flag'"]


def test_extra_columns_only_when_not_allowed() -> None:
    data = new_data(extra=[1, 2, 3], more=[1, 2, 3])
    assert validate_frame(data, SCHEMA) == []
    assert texts(validate_frame(data, SCHEMA, allow_extra=False)) == [
        "columns: unexpected: 'extra', 'more'"
    ]


def test_unexpected_nulls_on_a_non_nullable_column() -> None:
    problems = validate_frame(new_data(x=[1.0, np.nan, np.nan]), SCHEMA)
    assert texts(problems) == ["column 'x': 2 unexpected missing values at rows 1, 2"]


def test_strings_in_a_numeric_column() -> None:
    problems = validate_frame(new_data(x=["1", "two", "3"]), SCHEMA)
    assert texts(problems) == [
        "column 'x': expected numbers, found 1 non-numeric values ('two') at rows 1"
    ]


def test_out_of_range_values() -> None:
    problems = validate_frame(new_data(x=[-0.5, 10.0, 11.0]), SCHEMA)
    assert texts(problems) == [
        "column 'x': 2 values outside the training range [0, 10] at rows 0, 2"
    ]


def test_unseen_categories() -> None:
    problems = validate_frame(new_data(c=["a", "z", "q"]), SCHEMA)
    assert texts(problems) == ["column 'c': 2 values of unseen categories ('z', 'q') at rows 1, 2"]


def test_non_boolean_values() -> None:
    problems = validate_frame(new_data(flag=[True, "maybe", 7]), SCHEMA)
    assert texts(problems) == ["column 'flag': expected booleans at rows 1, 2"]


def test_row_numbers_are_the_frame_index() -> None:
    data = new_data(x=[1.0, 99.0, 2.0]).set_axis([10, 20, 30])
    assert texts(validate_frame(data, SCHEMA)) == [
        "column 'x': 1 values outside the training range [0, 10] at rows 20"
    ]


def test_every_violation_is_reported_at_once() -> None:
    data = pd.DataFrame(
        {
            "x": [1.0, np.nan, 50.0],
            "c": ["a", "z", "b"],
            "extra": [1, 2, 3],
        }
    )
    problems = texts(validate_frame(data, SCHEMA, allow_extra=False))
    assert problems == [
        "columns: missing: 'flag'",
        "columns: unexpected: 'extra'",
        "column 'x': 1 unexpected missing values at rows 1",
        "column 'x': 1 values outside the training range [0, 10] at rows 2",
        "column 'c': 1 values of unseen categories ('z') at rows 1",
    ]
