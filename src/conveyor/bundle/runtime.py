"""Runtimes run a batch of feature columns through a model: ONNX Runtime, or MLflow pyfunc
for models without an ONNX export (``serving.remote`` adds one whose model runs on an Open
Inference Protocol server). One small interface, one implementation per class.

``runtime_error`` is the one boundary where a runtime's own exceptions become Conveyor's:
values the model refuses (ONNX Runtime's INVALID_ARGUMENT, scikit-learn's ``ValueError``)
are a ``ModelInputError`` (422); anything else while loading or running is a
``RuntimeFailure`` (500, logged with its traceback). Nothing above this module sees an
onnxruntime or scikit-learn exception.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.data.schema import Kind
from conveyor.errors import ConveyorError, ModelInputError, RuntimeFailure

if TYPE_CHECKING:
    import numpy as np

    from conveyor.bundle.model import Bundle

log = logging.getLogger(__name__)
_MESSAGE_CHARS = 300  # a runtime's message can quote a whole graph node or array

Columns = dict[str, "np.ndarray"]


@dataclass(frozen=True)
class Output:
    predictions: np.ndarray
    probabilities: np.ndarray | None


class Runtime(Protocol):
    name: str

    def predict(self, columns: Columns, rows: int) -> Output: ...


def runtime_error(
    exc: Exception, runtime: str, doing: str, input_errors: tuple[type[Exception], ...] = ()
) -> ConveyorError:
    """What a runtime raised while ``doing`` something, as Conveyor's error (raise it ``from``
    the original). A call on the request path catches and calls this, so success costs
    nothing; loading uses ``runtime_errors``."""
    if isinstance(exc, ConveyorError):
        return exc
    if isinstance(exc, input_errors):
        return ModelInputError(f"the model cannot score this input: {_short(exc)}")
    log.error("%s runtime failed %s", runtime, doing, exc_info=exc)
    return RuntimeFailure(f"the {runtime} runtime failed {doing}: {_short(exc)}")


@contextlib.contextmanager
def runtime_errors(runtime: str, doing: str) -> Iterator[None]:
    """``runtime_error`` around a block (loading a model)."""
    try:
        yield
    except Exception as exc:
        raise runtime_error(exc, runtime, doing) from exc


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


class OnnxRuntime:
    """ONNX Runtime on CPU: the version's graph as exported by `conveyor run` (one [N, 1] input
    per feature), or ``graph`` converted at load (``converted_runtime``), which may take one
    [N, F] float input."""

    name = "onnx"
    reason = ""  # set when the graph was converted at load: how it was checked

    def __init__(
        self,
        bundle: Bundle,
        threads: int = 1,
        graph: bytes | None = None,
        inputs: list[str] | None = None,
    ) -> None:
        import onnxruntime as ort
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        assert graph is not None or bundle.onnx_path is not None
        self._input_errors: tuple[type[Exception], ...] = (InvalidArgument,)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        with runtime_errors(self.name, f"loading {bundle.onnx_path or 'the converted graph'}"):
            self.session = ort.InferenceSession(
                graph if graph is not None else str(bundle.onnx_path),
                options,
                providers=["CPUExecutionProvider"],
            )
        self.features = [(c.name, c.kind) for c in bundle.schema.features]
        self.inputs = inputs if inputs is not None else bundle.onnx_inputs
        self.matrix = len(self.inputs) == 1 and len(self.features) > 1
        self.probabilities = bundle.classification
        self.outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, columns: Columns, rows: int) -> Output:
        import numpy as np

        feeds: dict[str, Any] = {}
        if self.matrix:
            feeds[self.inputs[0]] = np.column_stack(
                [np.asarray(columns[name], dtype=np.float32) for name, _ in self.features]
            )
        else:
            for (name, kind), onnx_name in zip(self.features, self.inputs, strict=True):
                col = columns[name]
                if kind is Kind.CATEGORICAL:
                    feeds[onnx_name] = col.astype(object).reshape(rows, 1)
                else:
                    feeds[onnx_name] = np.ascontiguousarray(col, dtype=np.float32).reshape(rows, 1)
        try:
            result = self.session.run(None, feeds)
        except Exception as exc:
            raise runtime_error(exc, self.name, f"on {rows} rows", self._input_errors) from exc
        probabilities = np.asarray(result[1]) if len(result) > 1 and self.probabilities else None
        return Output(np.asarray(result[0]).reshape(rows), probabilities)


class PyfuncRuntime:
    """The model through MLflow, in-process: a scikit-learn estimator when the model is one
    (the sklearn flavor, or LightGBM's and XGBoost's scikit-learn classes logged with their
    own flavors: ``predict_proba`` gives probabilities), else the model's generic pyfunc (a
    Booster, a custom ``PythonModel``...)."""

    name = "pyfunc"
    reason = ""  # for a plain MLflow model: why it was not converted to ONNX at load
    ESTIMATOR_FLAVORS = ("sklearn", "lightgbm", "xgboost")

    def __init__(self, bundle: Bundle) -> None:
        import importlib

        import yaml

        flavors = (yaml.safe_load((bundle.path / "MLmodel").read_text()) or {}).get("flavors", {})
        self.flavor = next(
            (f for f in self.ESTIMATOR_FLAVORS if f in flavors),
            next((f for f in flavors if f != "python_function"), "python_function"),
        )
        self.estimator = False  # a scikit-learn API object (predict_proba, convertible)
        with runtime_errors(self.name, f"loading {bundle.path}"):
            model: Any = None
            if self.flavor in self.ESTIMATOR_FLAVORS:
                flavor = importlib.import_module(f"mlflow.{self.flavor}")
                model = flavor.load_model(str(bundle.path))
                self.estimator = hasattr(model, "get_params") and hasattr(model, "predict")
            if not self.estimator:
                import mlflow.pyfunc

                model = mlflow.pyfunc.load_model(str(bundle.path))
            self.model = model
        self.schema = bundle.schema
        self.classification = bundle.classification

    def predict(self, columns: Columns, rows: int) -> Output:
        import numpy as np
        import pandas as pd

        frame = pd.DataFrame(
            {c.name: _pandas_column(columns[c.name], c.kind) for c in self.schema.features}
        )
        try:
            labels = _one_per_row(self.model.predict(frame), rows)
            proba = None
            if self.classification and hasattr(self.model, "predict_proba"):
                proba = np.asarray(self.model.predict_proba(frame), dtype=np.float32)
        except Exception as exc:
            # scikit-learn says ValueError for values an estimator refuses (NaN, unknown category)
            raise runtime_error(exc, self.name, f"on {rows} rows", (ValueError,)) from exc
        return Output(labels, proba)


def open_runtime(bundle: Bundle, threads: int = 1) -> Runtime:
    """ONNX Runtime for a version with its graph; for a plain MLflow model, ONNX when a
    checked conversion exists (``convert.converted_runtime``), else its pyfunc; MLflow's
    pyfunc for a Conveyor version without a graph. (A model on a remote server is the
    server's concern: ``serving.remote.open_served``.)"""
    if bundle.onnx_path is not None:
        return OnnxRuntime(bundle, threads)
    if bundle.note:  # a plain MLflow model: ONNX when a conversion matches it, else its pyfunc
        from conveyor.bundle.convert import converted_runtime

        return converted_runtime(bundle, threads)
    return PyfuncRuntime(bundle)


def _pandas_column(values: np.ndarray, kind: Kind) -> Any:
    """Booleans back to booleans (a signature may say so); the rest as decoded."""
    if kind is Kind.BOOLEAN:
        import numpy as np

        if not np.isnan(values).any():
            return values.astype(bool)
    return values


def _one_per_row(result: Any, rows: int) -> np.ndarray:
    """A pyfunc's answer (array, Series, DataFrame, list) as one prediction per row: a value,
    or for several outputs per row their list."""
    import numpy as np

    values = np.asarray(result)
    if values.ndim <= 1 or values.shape[1:] == (1,):
        return values.reshape(rows)
    out = np.empty(rows, dtype=object)
    out[:] = [row.tolist() for row in values.reshape(rows, -1)]
    return out
