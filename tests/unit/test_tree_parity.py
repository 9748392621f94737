"""Tree learners pass the ONNX parity gate at its default tolerance: random forests, gradient
boosting (and XGBoost / LightGBM when installed) on several datasets, including a nullable
categorical column. A scaler in front of a tree (as every pipeline had) made the float32 graph
and float64 scikit-learn disagree by up to 0.06 in probability and flip labels."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.data.schema import infer_schema
from conveyor.spec.models import ParityGate
from conveyor.training.evaluation import predict
from conveyor.training.onnx_export import check_parity, export_onnx, parity_advice
from conveyor.training.pipeline import build_pipeline, splits_on_thresholds

DEFAULT = ParityGate()


def _money(n: int = 3000) -> pd.DataFrame:
    """Amounts with cents, timestamps beyond float32's integers, a nullable categorical."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(8, 2, n), 2),
            "score": np.round(rng.normal(600, 80, n), 1),
            "ts": 1.7e9 + rng.integers(0, 10**7, n),
            "district": rng.choice(
                np.array(["north", "south", "east", None], dtype=object), n, p=[0.4, 0.3, 0.2, 0.1]
            ),
        }
    )
    frame["target"] = (
        (frame.amount > 3000) ^ (frame.score > 620) ^ (frame.district == "east")
    ).astype(int)
    return frame


def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    frame: pd.DataFrame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return frame


DATASETS = {
    "breast_cancer": (lambda: _sklearn("breast_cancer"), True),
    "wine": (lambda: _sklearn("wine"), True),
    "money": (_money, True),
    "diabetes": (lambda: _sklearn("diabetes"), False),
}
ESTIMATORS = {
    True: [
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn.ensemble.ExtraTreesClassifier",
        "sklearn.tree.DecisionTreeClassifier",
        "xgboost.XGBClassifier",
        "lightgbm.LGBMClassifier",
    ],
    False: [
        "sklearn.ensemble.RandomForestRegressor",
        "sklearn.ensemble.GradientBoostingRegressor",
        "xgboost.XGBRegressor",
        "lightgbm.LGBMRegressor",
    ],
}
CASES = [(data, path) for data, (_, cls) in DATASETS.items() for path in ESTIMATORS[cls]]


def _numeric_steps(model: Any) -> list[str]:
    numeric = next(t for name, t, _ in model.steps[0][1].transformers if name == "numeric")
    return [name for name, _ in numeric.steps]


def _estimator(path: str) -> Any:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        pytest.skip(f"{module} is not installed")


@pytest.mark.parametrize(("data", "path"), CASES)
def test_tree_learners_pass_parity_by_default(data: str, path: str) -> None:
    from sklearn.model_selection import train_test_split

    estimator = _estimator(path)
    assert splits_on_thresholds(estimator)
    load, classification = DATASETS[data]
    frame = load()
    features = [c for c in frame.columns if c != "target"]
    schema = infer_schema(frame, features, "target", classification)
    train, test = train_test_split(frame, test_size=0.3, random_state=0)
    model = build_pipeline(schema, estimator, {}, seed=0)
    model.fit(train[features], train["target"])
    assert "scale" not in _numeric_steps(model)
    x = test[features]
    reference = predict(model, x, classification)
    export = export_onnx(model, schema, classification)
    assert export.model is not None, export.reason
    tolerance = DEFAULT.probability_tolerance if classification else DEFAULT.regression_tolerance
    parity = check_parity(export, x, schema, reference, classification, tolerance)
    assert parity.passed, parity


def test_linear_models_keep_their_scaler() -> None:
    from sklearn.linear_model import LogisticRegression

    assert not splits_on_thresholds(LogisticRegression)
    frame = _sklearn("wine")
    features = [c for c in frame.columns if c != "target"]
    schema = infer_schema(frame, features, "target", True)
    model = build_pipeline(schema, LogisticRegression, {}, seed=0)
    assert "scale" in _numeric_steps(model)


def test_a_failed_parity_says_why_and_what_to_set() -> None:
    from conveyor.training.onnx_export import Parity

    advice = parity_advice(Parity(False, 0, 0.012, 1e-3, 500), True, "my.Net")
    assert "float32" in advice and "my.Net" in advice
    assert "gates.onnx_parity.on_mismatch: pyfunc" in advice
    assert "gates.onnx_parity.probability_tolerance: 0.02" in advice
    flipped = parity_advice(Parity(False, 3, 0.5, 1e-3, 500), True, "my.Net")
    assert "tolerance" not in flipped  # labels differ: no tolerance makes that right


def test_a_tie_broken_the_other_way_is_not_a_mismatch() -> None:
    from conveyor.training.evaluation import Predictions
    from conveyor.training.onnx_export import _ties

    reference = Predictions(
        labels=np.array(["b", "b", "a"]),
        probabilities=np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]]),
        classes=["a", "b"],
    )
    tied = _ties(np.array(["a", "a", "a"]), reference, 1e-3)
    assert tied.tolist() == [True, False, True]


def test_a_bare_estimator_converts_with_one_matrix_input_and_a_disagreeing_graph_is_refused() -> (
    None
):
    """A model Conveyor did not fit (a forest on a plain numeric frame) converts with one
    [N, F] input and matches itself; checked against answers it does not give, the graph is
    refused with the count of rows that differ."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    from conveyor.training.evaluation import Predictions
    from conveyor.training.onnx_export import convert_checked

    frame = load_iris(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    schema = infer_schema(frame, list(x.columns), "target", True)
    own = Predictions(forest.predict(x), forest.predict_proba(x), [0, 1, 2])
    export, parity = convert_checked(forest, schema, x, own, True, DEFAULT.probability_tolerance)
    assert export.model is not None and export.input_names == ["input"]
    assert parity is not None and parity.passed and parity.rows == 150

    shifted = Predictions((own.labels + 1) % 3, own.probabilities, [0, 1, 2])
    export, parity = convert_checked(
        forest, schema, x, shifted, True, DEFAULT.probability_tolerance
    )
    assert export.model is None and parity is not None and not parity.passed
    assert "differed on 150 rows (150 labels" in export.reason
