"""Build and fit the model: preprocessing from the schema plus the configured estimator,
or the user's own training function."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.data.schema import Kind, Schema
from conveyor.errors import Problem, SpecError

if TYPE_CHECKING:
    import pandas as pd

    from conveyor.spec.models import ModelSpec, ProjectSpec


def import_object(path: str, key: str, spec_file: str, base_dir: Path) -> Any:
    """Import ``pkg.mod.Name`` or ``pkg.mod:name``; a failure is a ``SpecError`` at ``key``."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    if not module_name:
        raise SpecError(spec_file, [Problem(key, f"{path!r} is not an import path")])
    if str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(
            spec_file, [Problem(key, f"cannot import module {module_name!r}: {exc}")]
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SpecError(
            spec_file, [Problem(key, f"module {module_name!r} has no {attr!r}")]
        ) from None


def resolve_estimator(model: ModelSpec, spec_file: str, base_dir: Path) -> Any:
    """The estimator class or train function named in the spec, checked before any work."""
    if model.estimator is not None:
        cls = import_object(model.estimator, "model.estimator", spec_file, base_dir)
        if not inspect.isclass(cls) or not hasattr(cls, "fit"):
            raise SpecError(
                spec_file,
                [Problem("model.estimator", f"{model.estimator!r} is not an estimator class")],
            )
        return cls
    assert model.train_function is not None
    fn = import_object(model.train_function, "model.train_function", spec_file, base_dir)
    if not callable(fn):
        raise SpecError(
            spec_file,
            [Problem("model.train_function", f"{model.train_function!r} is not callable")],
        )
    return fn


def resolve_model(spec: ProjectSpec, base_dir: Path) -> Any:
    """The spec's estimator class (its params and tuned names checked) or train function."""
    target = resolve_estimator(spec.model, spec.source_file, base_dir)
    if spec.model.estimator is not None:
        check_params(spec, target)
    return target


def check_params(spec: ProjectSpec, estimator_cls: Any) -> None:
    """Every name in ``model.params`` and ``tuning.search_space`` must be a parameter of the
    estimator, so a leftover (``C`` after switching to a random forest) fails in `validate`,
    before any data is loaded or run is started, naming the key and what is valid."""
    valid = estimator_params(estimator_cls)
    if valid is None:
        return
    given = [("model", "params", name) for name in spec.model.params]
    if spec.tuning is not None:
        given += [("tuning", "search_space", name) for name in spec.tuning.search_space]
    problems = [
        Problem(spec.where(*loc), _not_a_parameter(loc[-1], estimator_cls, valid))
        for loc in given
        if loc[-1] not in valid
    ]
    if problems:
        raise SpecError(spec.source_file, problems)


def estimator_params(estimator_cls: Any) -> list[str] | None:
    """The parameter names of an estimator class (its ``get_params()`` keys), or None when it
    takes any keyword (``**kwargs``, as xgboost and lightgbm do) and cannot be checked."""
    try:
        signature = inspect.signature(estimator_cls)
    except (TypeError, ValueError):
        return None
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    try:
        # scikit-learn's own answer; built with defaults, never fitted
        return sorted(estimator_cls().get_params(deep=False))
    except Exception:  # a class that needs arguments: its signature answers
        return sorted(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def _not_a_parameter(name: str, estimator_cls: Any, valid: list[str]) -> str:
    import difflib

    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f"; did you mean `{lowered[close[0]]}`?" if close else "."
    return f"not a parameter of {estimator_cls.__name__}{hint} Valid: {', '.join(valid)}"


# tree learners: their splits do not change under scaling, and a scaler in front of them is
# where the exported graph (float32 arithmetic) and scikit-learn (float64) part ways
_TREE_CLASSES = (
    "DecisionTree",
    "ExtraTree",
    "RandomForest",
    "ExtraTrees",
    "GradientBoosting",
    "HistGradientBoosting",
    "IsolationForest",
)
_TREE_MODULES = ("xgboost", "lightgbm", "catboost")


def splits_on_thresholds(estimator_cls: Any) -> bool:
    """True for tree learners (scikit-learn's trees and their ensembles, XGBoost, LightGBM,
    CatBoost): they compare each feature with thresholds, so scaling changes nothing."""
    name = getattr(estimator_cls, "__name__", "")
    module = getattr(estimator_cls, "__module__", "")
    if module.split(".")[0] in _TREE_MODULES:
        return True
    return module.startswith("sklearn.") and name.startswith(_TREE_CLASSES)


def build_pipeline(
    schema: Schema,
    estimator_cls: Any,
    params: dict[str, Any],
    seed: int,
    spec_file: str = "conveyor.yaml",
) -> Any:
    """Impute + scale numerics (impute only for tree learners), one-hot categoricals, then the
    estimator, with a fixed seed."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in schema.features if c.kind is not Kind.CATEGORICAL]
    categorical = [c.name for c in schema.features if c.kind is Kind.CATEGORICAL]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if not splits_on_thresholds(estimator_cls):
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore"), categorical))
    pre = ColumnTransformer(parts, remainder="drop")
    est_params = dict(params)
    if "random_state" in inspect.signature(estimator_cls).parameters:
        est_params.setdefault("random_state", seed)
    try:
        estimator = estimator_cls(**est_params)
    except TypeError as exc:
        raise SpecError(spec_file, [Problem("model.params", str(exc))]) from None
    return Pipeline([("preprocess", pre), ("estimator", estimator)])


def fit_model(
    model: ModelSpec,
    target: Any,
    schema: Schema,
    x_train: pd.DataFrame,
    y_train: pd.Series,
    params: dict[str, Any],
    seed: int,
    spec_file: str = "conveyor.yaml",
) -> Any:
    """Fit the spec's estimator pipeline, or call the user's ``train_function``."""
    from conveyor.errors import ConveyorError

    if model.estimator is not None:
        pipe = build_pipeline(schema, target, params, seed, spec_file)
        try:
            return pipe.fit(x_train, y_train)
        except (ValueError, TypeError) as exc:
            raise SpecError(
                spec_file, [Problem("model.params", f"training failed: {exc}")]
            ) from None
    fitted = target(x_train, y_train, params)
    if not hasattr(fitted, "predict"):
        raise ConveyorError(
            f"train_function {model.train_function!r} returned {type(fitted).__name__}, which has no predict()"
        )
    return fitted
