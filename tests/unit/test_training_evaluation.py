"""conveyor.training.evaluation: holdout metrics, slices and the diagnostic plot."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from conveyor.errors import DataError
from conveyor.training.evaluation import (
    Predictions,
    compute_metrics,
    predict,
    save_plot,
    slice_masks,
)


def test_regression_metrics_by_hand() -> None:
    preds = Predictions(np.array([1.0, 2.0, 5.0]), None, [])
    out = compute_metrics([1.0, 3.0, 3.0], preds, classification=False)
    assert out["rmse"] == pytest.approx(math.sqrt((0 + 1 + 4) / 3))
    assert out["mae"] == pytest.approx(1.0)
    # r2 = 1 - SSE/SST = 1 - 5 / (8/3)
    assert out["r2"] == pytest.approx(1 - 5 / (8 / 3))


def test_r2_is_left_out_when_undefined() -> None:
    out = compute_metrics([2.0, 2.0], Predictions(np.array([2.0, 3.0]), None, []), False)
    assert set(out) == {"rmse", "mae"}


def test_classification_metrics_by_hand() -> None:
    y = ["a", "a", "b", "b"]
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    preds = Predictions(np.array(["a", "b", "b", "b"]), proba, ["a", "b"])
    out = compute_metrics(y, preds, classification=True)
    assert out["accuracy"] == pytest.approx(0.75)
    # precision: a 1/1, b 2/3; recall: a 1/2, b 2/2
    assert out["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert out["recall_macro"] == pytest.approx((0.5 + 1) / 2)
    assert out["roc_auc"] == pytest.approx(1.0)  # every b scores above every a
    expected_loss = -np.mean(np.log([0.9, 0.4, 0.8, 0.7]))
    assert out["log_loss"] == pytest.approx(expected_loss)


def test_auc_is_left_out_for_a_single_class() -> None:
    preds = Predictions(np.array(["a", "a"]), np.array([[0.9, 0.1], [0.8, 0.2]]), ["a", "b"])
    out = compute_metrics(["a", "a"], preds, classification=True)
    assert "roc_auc" not in out and out["accuracy"] == 1.0


def test_predict_keeps_probabilities_and_classes_of_a_classifier() -> None:
    x = pd.DataFrame({"v": [0.0, 1.0, 2.0, 3.0]})
    y = ["lo", "lo", "hi", "hi"]
    preds = predict(LogisticRegression().fit(x, y), x, classification=True)
    assert preds.classes == ["hi", "lo"]
    assert preds.probabilities is not None and preds.probabilities.shape == (4, 2)
    assert preds.labels.tolist() == y
    regression = predict(LinearRegression().fit(x, [0, 1, 2, 3]), x, classification=False)
    assert regression.probabilities is None and regression.classes == []
    assert regression.labels == pytest.approx([0, 1, 2, 3])


def test_slices_combine_their_filters() -> None:
    frame = pd.DataFrame({"a": [1, 5, 9], "c": ["x", "y", "x"]})
    masks = slice_masks(
        frame, {"big_x": {"a": {"gt": 2}, "c": {"in": ["x"]}}, "not_y": {"c": {"ne": "y"}}}
    )
    assert masks["big_x"].tolist() == [False, False, True]
    assert masks["not_y"].tolist() == [True, False, True]


def test_a_slice_on_a_missing_column_is_named() -> None:
    with pytest.raises(DataError) as caught:
        slice_masks(pd.DataFrame({"a": [1]}), {"s": {"nope": {"eq": 1}}})
    assert [p.where for p in caught.value.problems] == ["data.slices.s.nope"]


@pytest.mark.parametrize("classification", [True, False])
def test_the_plot_is_a_png(tmp_path: Path, classification: bool) -> None:
    labels = np.array(["a", "b", "a"]) if classification else np.array([1.0, 2.0, 2.5])
    y = ["a", "b", "b"] if classification else [1.0, 2.5, 2.0]
    path = save_plot(tmp_path / "plot.png", y, Predictions(labels, None, []), classification)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
