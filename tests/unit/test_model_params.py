"""model.params and tuning.search_space are checked against the estimator before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conveyor.errors import SpecError
from conveyor.spec import load_spec
from conveyor.training.pipeline import estimator_params, resolve_model

SPEC = """\
name: wine
task: classification
data: {{source: sklearn:wine, target: target}}
model:
  estimator: {estimator}
  params:
{params}
"""


def spec_with(tmp_path: Path, estimator: str, params: dict[str, Any], tuning: str = "") -> Any:
    lines = "\n".join(f"    {k}: {v}" for k, v in params.items()) or "    {}"
    path = tmp_path / "conveyor.yaml"
    path.write_text(SPEC.format(estimator=estimator, params=lines) + tuning)
    return load_spec(path)


def test_a_leftover_parameter_after_switching_estimators_is_named(tmp_path: Path) -> None:
    spec = spec_with(
        tmp_path,
        "sklearn.ensemble.RandomForestClassifier",
        {"C": 1.0, "n_estimators": 50, "max_dpeth": 4},
    )
    with pytest.raises(SpecError) as err:
        resolve_model(spec, tmp_path)
    c, depth = err.value.problems
    assert c.where == "model.params.C (line 7)"
    assert c.message.startswith("not a parameter of RandomForestClassifier. Valid: ")
    assert "n_estimators" in c.message and "max_depth" in c.message
    assert depth.where == "model.params.max_dpeth (line 9)"
    assert "did you mean `max_depth`?" in depth.message
    assert err.value.path == str(tmp_path / "conveyor.yaml")


def test_valid_parameters_pass_and_case_slips_are_suggested(tmp_path: Path) -> None:
    good = spec_with(tmp_path, "sklearn.linear_model.LogisticRegression", {"C": 2, "max_iter": 50})
    assert resolve_model(good, tmp_path).__name__ == "LogisticRegression"
    bad = spec_with(tmp_path, "sklearn.linear_model.LogisticRegression", {"c": 2})
    with pytest.raises(SpecError, match="did you mean `C`"):
        resolve_model(bad, tmp_path)


def test_tuned_names_are_parameters_too(tmp_path: Path) -> None:
    tuning = "tuning:\n  search_space:\n    C: {type: float, low: 0.1, high: 10}\n"
    spec = spec_with(tmp_path, "sklearn.ensemble.RandomForestClassifier", {}, tuning)
    with pytest.raises(SpecError) as err:
        resolve_model(spec, tmp_path)
    (problem,) = err.value.problems
    assert problem.where == "tuning.search_space.C (line 10)"


class TakesAnyKeyword:
    """As xgboost's and lightgbm's estimators: extra keywords go to the booster."""

    def __init__(self, n_estimators: int = 10, **kwargs: Any) -> None:
        self.n_estimators = n_estimators

    def fit(self, x: Any, y: Any) -> TakesAnyKeyword:
        return self


class NeedsArguments:
    """A meta-estimator that cannot be built without its inner estimator."""

    def __init__(self, estimator: Any, weight: float = 1.0) -> None:
        self.estimator = estimator
        self.weight = weight

    def fit(self, x: Any, y: Any) -> NeedsArguments:
        return self


def test_estimators_that_take_any_keyword_are_not_checked() -> None:
    assert estimator_params(TakesAnyKeyword) is None
    assert estimator_params(NeedsArguments) == ["estimator", "weight"]
    from sklearn.ensemble import RandomForestRegressor

    names = estimator_params(RandomForestRegressor)
    assert names is not None and set(names) == set(RandomForestRegressor().get_params())


def test_train_function_params_are_its_own(tmp_path: Path) -> None:
    (tmp_path / "mytrain.py").write_text("def fit(x, y, params):\n    return None\n")
    path = tmp_path / "conveyor.yaml"
    path.write_text(
        "name: wine\ntask: classification\ndata: {source: sklearn:wine, target: target}\n"
        "model: {train_function: 'mytrain:fit', params: {anything: 1}}\n"
    )
    assert callable(resolve_model(load_spec(path), tmp_path))
