from __future__ import annotations

import pytest

from conveyor.data.schema import Column, Kind, Schema
from conveyor.registry.semver import Lineage, next_version, parse

BASE = Schema([Column("a", Kind.NUMERIC), Column("b", Kind.CATEGORICAL)], "y", Kind.CATEGORICAL)


def lineage(
    schema: Schema = BASE, data: str = "d1", params: str = "p1", estimator: str = ""
) -> Lineage:
    return Lineage(schema, data, params, estimator)


def test_first_version_is_1_0_0() -> None:
    assert next_version(None, None, lineage()) == ("1.0.0", "first version")
    assert next_version("4.2.1", None, lineage())[0] == "1.0.0"
    assert next_version(None, lineage(), lineage())[0] == "1.0.0"


def test_same_data_and_params_is_a_patch() -> None:
    assert next_version("1.4.2", lineage(), lineage()) == (
        "1.4.3",
        "retrained on the same data and parameters",
    )


def test_compatible_schema_change_is_not_major() -> None:
    wider = Schema(
        [*BASE.features, Column("c", Kind.NUMERIC, nullable=True)], "y", BASE.target_kind
    )
    assert next_version("1.4.2", lineage(), lineage(wider))[0] == "1.4.3"


def test_data_change_is_minor() -> None:
    assert next_version("1.4.2", lineage(), lineage(data="d2")) == ("1.5.0", "data changed")


def test_params_change_is_minor() -> None:
    assert next_version("1.4.2", lineage(), lineage(params="p2")) == ("1.5.0", "parameters changed")


def test_data_and_params_change_is_one_minor() -> None:
    assert next_version("2.0.9", lineage(), lineage(data="d2", params="p2")) == (
        "2.1.0",
        "data and parameters changed",
    )


def test_estimator_change_is_minor_with_its_own_reason() -> None:
    forest = "sklearn.ensemble.RandomForestClassifier"
    logistic = "sklearn.linear_model.LogisticRegression"
    before = lineage(estimator=logistic)
    assert next_version("1.4.2", before, lineage(params="p2", estimator=forest)) == (
        "1.5.0",
        "estimator (LogisticRegression → RandomForestClassifier) changed",
    )
    both = next_version("1.4.2", before, lineage(data="d2", params="p2", estimator=forest))
    assert both[1] == "data and estimator (LogisticRegression → RandomForestClassifier) changed"
    # the same estimator with other params; a version from before the estimator was recorded
    assert next_version("1.4.2", before, lineage(params="p2", estimator=logistic))[1] == (
        "parameters changed"
    )
    assert next_version("1.4.2", lineage(), lineage(params="p2", estimator=forest))[1] == (
        "parameters changed"
    )


def test_breaking_schema_is_major_and_says_why() -> None:
    narrower = Schema([Column("a", Kind.BOOLEAN)], "y", Kind.CATEGORICAL)
    label, reason = next_version("1.4.2", lineage(), lineage(narrower, data="d2", params="p2"))
    assert label == "2.0.0"
    assert reason == (
        "input schema changed: feature 'a' changed from numeric to boolean; feature 'b' was removed"
    )


def test_added_required_feature_is_major() -> None:
    more = Schema([*BASE.features, Column("c", Kind.NUMERIC)], "y", BASE.target_kind)
    assert next_version("3.1.4", lineage(), lineage(more))[0] == "4.0.0"


def test_numbers_are_not_compared_as_text() -> None:
    assert next_version("1.9.9", lineage(), lineage())[0] == "1.9.10"
    assert next_version("9.10.0", lineage(), lineage(data="x"))[0] == "9.11.0"


def test_parse() -> None:
    assert parse("1.0.0") == (1, 0, 0)
    assert parse("10.20.30") == (10, 20, 30)


@pytest.mark.parametrize(
    "label", ["", "1", "1.0", "1.0.0.0", "v1.0.0", "1.0.0-rc1", "1.a.0", "1..0", "-1.0.0", " 1.0.0"]
)
def test_parse_rejects_what_is_not_a_semantic_version(label: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        parse(label)


def test_a_bad_previous_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="'latest'"):
        next_version("latest", lineage(), lineage())
