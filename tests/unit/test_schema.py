from __future__ import annotations

import json

import numpy as np
import pandas as pd

from conveyor.data.schema import Column, Kind, Schema, infer_schema


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31.0, 45.0, np.nan, 22.5],
            "rooms": [1, 2, 3, 2],
            "city": ["paris", "lyon", None, "lyon"],
            "member": [True, False, True, True],
            "label": np.array([1, 0, 2, 1], dtype=np.int64),
        }
    )


FEATURES = ["age", "rooms", "city", "member"]


def test_kinds_are_inferred_from_dtypes() -> None:
    schema = infer_schema(frame(), FEATURES, "label", classification=True)
    assert schema.names == FEATURES
    kinds = {c.name: c.kind for c in schema.features}
    assert kinds == {
        "age": Kind.NUMERIC,
        "rooms": Kind.NUMERIC,
        "city": Kind.CATEGORICAL,
        "member": Kind.BOOLEAN,
    }


def test_categorical_override_turns_a_numeric_column_into_categories() -> None:
    schema = infer_schema(frame(), FEATURES, "label", classification=True, categorical=["rooms"])
    rooms = schema.column("rooms")
    assert rooms is not None
    assert rooms.kind is Kind.CATEGORICAL
    assert rooms.categories == ["1", "2", "3"]
    assert (rooms.min, rooms.max) == (None, None)


def test_categorical_override_does_not_change_booleans() -> None:
    schema = infer_schema(frame(), FEATURES, "label", classification=True, categorical=["member"])
    member = schema.column("member")
    assert member is not None and member.kind is Kind.BOOLEAN


def test_nullable_min_max_and_categories() -> None:
    schema = infer_schema(frame(), FEATURES, "label", classification=True)
    age, rooms, city, member = (schema.column(n) for n in FEATURES)
    assert age == Column("age", Kind.NUMERIC, nullable=True, min=22.5, max=45.0)
    assert rooms == Column("rooms", Kind.NUMERIC, nullable=False, min=1.0, max=3.0)
    assert city == Column("city", Kind.CATEGORICAL, nullable=True, categories=["lyon", "paris"])
    assert member == Column("member", Kind.BOOLEAN, nullable=False)
    assert isinstance(rooms.min, float) and not isinstance(rooms.min, np.floating)


def test_all_null_numeric_column_has_no_range() -> None:
    data = pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 2.0]})
    col = infer_schema(data, ["x"], "y", classification=False).features[0]
    assert col.nullable is True
    assert (col.min, col.max) == (None, None)


def test_classes_for_classification_are_sorted_plain_python() -> None:
    schema = infer_schema(frame(), FEATURES, "label", classification=True)
    assert schema.target == "label"
    assert schema.target_kind is Kind.CATEGORICAL
    assert schema.classes == [0, 1, 2]
    assert all(type(c) is int for c in schema.classes)


def test_string_classes_ignore_missing_targets() -> None:
    data = frame().assign(label=["b", "a", None, "b"])
    assert infer_schema(data, FEATURES, "label", classification=True).classes == ["a", "b"]


def test_regression_has_a_numeric_target_and_no_classes() -> None:
    schema = infer_schema(frame(), FEATURES, "age", classification=False)
    assert schema.target_kind is Kind.NUMERIC
    assert schema.classes == []


def test_to_dict_from_dict_round_trip_through_json() -> None:
    schema = infer_schema(frame(), FEATURES, "label", classification=True, categorical=["rooms"])
    data = json.loads(schema.to_json())
    assert data["target_kind"] == "categorical"
    assert [c["kind"] for c in data["features"]] == [
        "numeric",
        "categorical",
        "categorical",
        "boolean",
    ]
    again = Schema.from_dict(data)
    assert again == schema
    assert all(isinstance(c.kind, Kind) for c in again.features)
    assert again.to_dict() == schema.to_dict()


def test_from_dict_without_classes() -> None:
    data = infer_schema(frame(), FEATURES, "age", classification=False).to_dict()
    del data["classes"]
    assert Schema.from_dict(data).classes == []


def schema_of(*columns: Column) -> Schema:
    return Schema(list(columns), "y", Kind.CATEGORICAL, [0, 1])


def test_identical_schemas_are_compatible() -> None:
    old = infer_schema(frame(), FEATURES, "label", classification=True)
    assert old.incompatibilities(infer_schema(frame(), FEATURES, "label", True)) == []


def test_range_and_category_changes_are_compatible() -> None:
    old = schema_of(Column("a", Kind.NUMERIC, min=0, max=1), Column("c", Kind.CATEGORICAL))
    new = schema_of(
        Column("a", Kind.NUMERIC, min=-5, max=9), Column("c", Kind.CATEGORICAL, categories=["z"])
    )
    assert old.incompatibilities(new) == []


def test_removed_feature_is_incompatible() -> None:
    old = schema_of(Column("a", Kind.NUMERIC), Column("b", Kind.NUMERIC))
    new = schema_of(Column("a", Kind.NUMERIC))
    assert old.incompatibilities(new) == ["feature 'b' was removed"]


def test_kind_change_is_incompatible() -> None:
    old = schema_of(Column("a", Kind.NUMERIC))
    new = schema_of(Column("a", Kind.CATEGORICAL))
    assert old.incompatibilities(new) == ["feature 'a' changed from numeric to categorical"]


def test_added_required_feature_is_incompatible() -> None:
    old = schema_of(Column("a", Kind.NUMERIC))
    new = schema_of(Column("a", Kind.NUMERIC), Column("b", Kind.BOOLEAN, nullable=False))
    assert old.incompatibilities(new) == ["feature 'b' was added and is required"]


def test_added_nullable_feature_is_compatible() -> None:
    old = schema_of(Column("a", Kind.NUMERIC))
    new = schema_of(Column("a", Kind.NUMERIC), Column("b", Kind.NUMERIC, nullable=True))
    assert old.incompatibilities(new) == []


def test_every_incompatibility_is_listed() -> None:
    old = schema_of(Column("a", Kind.NUMERIC), Column("b", Kind.NUMERIC))
    new = schema_of(Column("a", Kind.BOOLEAN), Column("c", Kind.CATEGORICAL))
    assert old.incompatibilities(new) == [
        "feature 'a' changed from numeric to boolean",
        "feature 'b' was removed",
        "feature 'c' was added and is required",
    ]


def test_reordering_features_is_compatible() -> None:
    old = schema_of(Column("a", Kind.NUMERIC), Column("b", Kind.NUMERIC))
    new = schema_of(Column("b", Kind.NUMERIC), Column("a", Kind.NUMERIC))
    assert old.incompatibilities(new) == []
