"""conveyor.training.pipeline and onnx_export: the fitted pipeline, converted to ONNX and read
back by ONNX Runtime with the same answers (a tiny model, in process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.semi_supervised import LabelSpreading

from conveyor.data.schema import Column, Kind, Schema
from conveyor.errors import SpecError
from conveyor.training.evaluation import Predictions, predict
from conveyor.training.features import prepare_features
from conveyor.training.onnx_export import check_parity, convert_checked, export_onnx, onnx_predict
from conveyor.training.pipeline import build_pipeline, import_object, splits_on_thresholds

SCHEMA = Schema(
    features=[Column("size", Kind.NUMERIC, nullable=True), Column("colour", Kind.CATEGORICAL)],
    target="label",
    target_kind=Kind.CATEGORICAL,
)


def data(n: int = 120) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    colour = rng.choice(np.array(["red", "green", "blue"]), n)
    size = rng.normal(10, 3, n)
    size[:5] = np.nan
    label = np.where((colour == "red") | (np.nan_to_num(size) > 11), "yes", "no")
    raw = pd.DataFrame({"size": size, "colour": colour})
    return prepare_features(raw, SCHEMA), pd.Series(label, name="label")


def test_the_pipeline_scales_only_for_learners_that_need_it() -> None:
    linear = build_pipeline(SCHEMA, LogisticRegression, {"C": 0.5}, seed=4)
    numeric = dict((n, t) for n, t, _ in linear.named_steps["preprocess"].transformers)["numeric"]
    assert list(numeric.named_steps) == ["impute", "scale"]
    assert linear.named_steps["estimator"].get_params()["C"] == 0.5
    assert linear.named_steps["estimator"].random_state == 4  # the seed, where accepted
    from sklearn.ensemble import RandomForestClassifier

    assert splits_on_thresholds(RandomForestClassifier) and not splits_on_thresholds(Ridge)
    forest = build_pipeline(SCHEMA, RandomForestClassifier, {}, seed=4)
    numeric = dict((n, t) for n, t, _ in forest.named_steps["preprocess"].transformers)["numeric"]
    assert list(numeric.named_steps) == ["impute"]


def test_unknown_parameters_and_imports_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        build_pipeline(SCHEMA, LogisticRegression, {"nope": 1}, seed=0)
    assert caught.value.problems[0].where == "model.params"
    with pytest.raises(SpecError, match="cannot import module 'no_such_module'"):
        import_object("no_such_module.Thing", "model.estimator", "conveyor.yaml", tmp_path)
    with pytest.raises(SpecError, match="has no 'Nope'"):
        import_object("sklearn.linear_model:Nope", "model.estimator", "conveyor.yaml", tmp_path)
    assert import_object("sklearn.linear_model:Ridge", "k", "f", tmp_path) is Ridge


def test_a_classifier_round_trips_through_onnx() -> None:
    x, y = data()
    model = build_pipeline(SCHEMA, LogisticRegression, {"max_iter": 500}, seed=0).fit(x, y)
    export = export_onnx(model, SCHEMA, classification=True)
    assert export.model is not None, export.reason
    assert export.input_names == ["size", "colour"]
    reference = predict(model, x, classification=True)
    labels, probabilities = onnx_predict(export, x, SCHEMA)[:2]
    assert np.asarray(labels).reshape(-1).tolist() == reference.labels.tolist()
    assert reference.probabilities is not None
    assert np.abs(np.asarray(probabilities) - reference.probabilities).max() < 1e-4
    parity = check_parity(export, x, SCHEMA, reference, True, tolerance=1e-4)
    assert parity.passed and parity.rows == len(x) and parity.label_mismatches == 0


def test_parity_fails_when_the_answers_differ() -> None:
    x, y = data()
    model = build_pipeline(SCHEMA, LogisticRegression, {}, seed=0).fit(x, y)
    export = export_onnx(model, SCHEMA, classification=True)
    reference = predict(model, x, classification=True)
    flipped = np.where(reference.labels == "yes", "no", "yes")
    wrong = Predictions(flipped, None, reference.classes)
    parity = check_parity(export, x, SCHEMA, wrong, True, tolerance=1e-4)
    assert not parity.passed and parity.label_mismatches == len(x)


def test_a_regressor_round_trips_within_a_relative_tolerance() -> None:
    x, _ = data()
    y = pd.Series(1000 * x["size"].fillna(10) + 3, name="label")
    model = build_pipeline(SCHEMA, Ridge, {"alpha": 1.0}, seed=0).fit(x, y)
    export = export_onnx(model, SCHEMA, classification=False)
    parity = check_parity(export, x, SCHEMA, predict(model, x, False), False, tolerance=1e-5)
    assert parity.passed, parity


def test_a_model_without_a_converter_says_why() -> None:
    numeric = Schema([Column("a", Kind.NUMERIC), Column("b", Kind.NUMERIC)], "y", Kind.NUMERIC)
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LabelSpreading().fit(x, [0, 0, 1, 1])
    export, parity = convert_checked(model, numeric, x, predict(model, x, True), True, 1e-4)
    assert export.model is None and parity is None
    assert export.reason  # skl2onnx's complaint, shortened
