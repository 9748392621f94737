"""Runtimes run a batch of feature columns through a model: ONNX Runtime, or MLflow pyfunc
for models without an ONNX export. One small interface, one implementation per class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.data.schema import Kind

if TYPE_CHECKING:
    import numpy as np

    from conveyor.serving.bundle import Bundle

Columns = dict[str, "np.ndarray"]


@dataclass(frozen=True)
class Output:
    predictions: np.ndarray
    probabilities: np.ndarray | None


class Runtime(Protocol):
    name: str

    def predict(self, columns: Columns, rows: int) -> Output: ...


class OnnxRuntime:
    """ONNX Runtime on CPU; one [N, 1] input per feature as exported by `conveyor run`."""

    name = "onnx"

    def __init__(self, bundle: Bundle, threads: int = 1) -> None:
        import onnxruntime as ort

        assert bundle.onnx_path is not None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(bundle.onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.features = [(c.name, c.kind) for c in bundle.schema.features]
        self.inputs = bundle.onnx_inputs
        self.outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, columns: Columns, rows: int) -> Output:
        import numpy as np

        feeds: dict[str, Any] = {}
        for (name, kind), onnx_name in zip(self.features, self.inputs, strict=True):
            col = columns[name]
            if kind is Kind.CATEGORICAL:
                feeds[onnx_name] = col.astype(object).reshape(rows, 1)
            else:
                feeds[onnx_name] = np.ascontiguousarray(col, dtype=np.float32).reshape(rows, 1)
        result = self.session.run(None, feeds)
        probabilities = np.asarray(result[1]) if len(result) > 1 else None
        return Output(np.asarray(result[0]).reshape(rows), probabilities)


class PyfuncRuntime:
    """The pickled scikit-learn model through MLflow, for estimators with no ONNX converter."""

    name = "pyfunc"

    def __init__(self, bundle: Bundle) -> None:
        import mlflow.sklearn

        self.model = mlflow.sklearn.load_model(str(bundle.path))
        self.schema = bundle.schema
        self.classification = bundle.classification

    def predict(self, columns: Columns, rows: int) -> Output:
        import numpy as np
        import pandas as pd

        frame = pd.DataFrame({c.name: columns[c.name] for c in self.schema.features})
        labels = np.asarray(self.model.predict(frame)).reshape(rows)
        proba = None
        if self.classification and hasattr(self.model, "predict_proba"):
            proba = np.asarray(self.model.predict_proba(frame), dtype=np.float32)
        return Output(labels, proba)


def open_runtime(bundle: Bundle, threads: int = 1) -> Runtime:
    if bundle.onnx_path is not None:
        return OnnxRuntime(bundle, threads)
    return PyfuncRuntime(bundle)
