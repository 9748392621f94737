"""conveyor.training.features: raw columns to model inputs, and to ONNX Runtime feeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conveyor.data.schema import Column, Kind, Schema
from conveyor.training.features import MISSING_CATEGORY, onnx_feeds, prepare_features

SCHEMA = Schema(
    features=[
        Column("size", Kind.NUMERIC, nullable=True),
        Column("colour", Kind.CATEGORICAL, nullable=True),
        Column("flag", Kind.BOOLEAN),
    ],
    target="label",
    target_kind=Kind.CATEGORICAL,
)


def frame() -> pd.DataFrame:
    # columns out of schema order, an extra one, numbers as text, a missing category
    return pd.DataFrame(
        {
            "label": ["a", "b", "a"],
            "flag": [True, False, True],
            "colour": ["red", None, "blue"],
            "size": ["1.5", None, "x"],
        },
        index=[10, 11, 12],
    )


def test_columns_follow_the_schema_with_one_type_each() -> None:
    prepared = prepare_features(frame(), SCHEMA)
    assert list(prepared.columns) == ["size", "colour", "flag"]
    assert list(prepared.index) == [10, 11, 12]
    assert prepared["size"].dtype == np.float64
    assert prepared["size"].iloc[0] == 1.5
    assert prepared["size"].iloc[1:].isna().all()  # missing and unparsable alike
    assert prepared["colour"].tolist() == ["red", MISSING_CATEGORY, "blue"]
    assert prepared["colour"].dtype == object
    assert prepared["flag"].tolist() == [1.0, 0.0, 1.0]


def test_feeds_are_one_column_tensor_per_feature() -> None:
    prepared = prepare_features(frame(), SCHEMA)
    feeds = onnx_feeds(prepared, SCHEMA, ["size", "colour", "flag"])
    assert set(feeds) == {"size", "colour", "flag"}
    assert feeds["size"].shape == (3, 1) and feeds["size"].dtype == np.float32
    assert feeds["colour"].dtype == object and feeds["colour"][:, 0].tolist() == ["red", "", "blue"]
    assert feeds["flag"][:, 0].tolist() == [1.0, 0.0, 1.0]


def test_a_single_graph_input_gets_one_float_matrix() -> None:
    numeric = Schema(
        features=[Column("a", Kind.NUMERIC), Column("b", Kind.NUMERIC)],
        target="y",
        target_kind=Kind.NUMERIC,
    )
    prepared = prepare_features(pd.DataFrame({"b": [3, 4], "a": [1, 2]}), numeric)
    feeds = onnx_feeds(prepared, numeric, ["input"])
    assert list(feeds) == ["input"]
    assert feeds["input"].dtype == np.float32
    assert feeds["input"].tolist() == [[1.0, 3.0], [2.0, 4.0]]
