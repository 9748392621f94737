"""Write the MLServer model folder for the benchmark; run with the peers venv's Python.

MLServer's scikit-learn runtime loads ``model.joblib``. The pipeline `conveyor run` logged
(``model.pkl``, cloudpickle) selects its columns by name, and a V2 ``[N, 13]`` FP64 tensor
decodes to a bare numpy array, so the same fitted pipeline is wrapped in a one-step adapter
that names the columns (``pandas.DataFrame(X, columns=schema names)``) — the same frame
``mlflow models serve`` builds from ``dataframe_split``. Nothing is refitted.

    .venv-peers/bin/python benchmarks/peers/mlserver/export_model.py MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import cloudpickle
import joblib
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

HERE = Path(__file__).resolve().parent


def main(model_dir: Path, out: Path) -> None:
    with (model_dir / "model.pkl").open("rb") as f:
        fitted = cloudpickle.load(f)
    schema = json.loads((model_dir / "extra_files" / "schema.json").read_text())
    names = [c["name"] for c in schema["features"]]
    to_frame = FunctionTransformer(functools.partial(pd.DataFrame, columns=names), validate=False)
    model = Pipeline([("to_frame", to_frame), ("model", fitted)])
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    shutil.copy(HERE / "model-settings.json", out / "model-settings.json")
    print(json.dumps({"features": names, "model": str(out / "model.joblib")}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
