"""The baseline: the same job as `conveyor run` on the wine example, written the obvious way.

Train a scaled logistic regression on scikit-learn's wine data, log it to a fresh SQLite
MLflow store in the current directory, register it and point the ``staging`` alias at it.
Like most hand-written scripts it lets MLflow infer the pip requirements (no
``pip_requirements=``), which is the slow part this comparison is about.

Run it from an empty directory; with ``--json`` the last stdout line is a JSON object with
per-step seconds (``timings_s``) measured inside this process.

    python benchmarks/plain_mlflow.py --json
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print step timings as JSON")
    parser.add_argument("--name", default="wine-plain", help="registered model name")
    args = parser.parse_args(argv)

    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[step] = now - mark
        mark = now

    import mlflow
    from mlflow import MlflowClient
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    lap("import")

    x, y = load_wine(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=42, stratify=y
    )
    lap("data")

    db = Path.cwd() / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.set_experiment("wine")
    lap("tracking")

    params = {"C": 1.0, "max_iter": 1000}
    with mlflow.start_run(run_name="wine-plain") as run:
        model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(**params))]).fit(
            x_train, y_train
        )
        lap("train")

        pred = model.predict(x_test)
        metrics = {
            "accuracy": float(accuracy_score(y_test, pred)),
            "f1_macro": float(f1_score(y_test, pred, average="macro")),
        }
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        lap("evaluate")

        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=x_test.head(5),
            registered_model_name=None,
        )
        lap("log_model")

    version = mlflow.register_model(info.model_uri, args.name)
    MlflowClient().set_registered_model_alias(args.name, "staging", version.version)
    lap("register")

    if args.json:
        timings["total_in_process"] = time.perf_counter() - _T0
        payload = {
            "run_id": run.info.run_id,
            "model_uri": info.model_uri,
            "registered_version": str(version.version),
            "metrics": metrics,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
