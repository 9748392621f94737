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

    from conveyor.spec.models import ModelSpec


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


def build_pipeline(
    schema: Schema,
    estimator_cls: Any,
    params: dict[str, Any],
    seed: int,
    spec_file: str = "conveyor.yaml",
) -> Any:
    """Impute + scale numerics, one-hot categoricals, then the estimator, with a fixed seed."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in schema.features if c.kind is not Kind.CATEGORICAL]
    categorical = [c.name for c in schema.features if c.kind is Kind.CATEGORICAL]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        num = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        parts.append(("numeric", num, numeric))
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
