"""The floor for a Python model server: FastAPI + ONNX Runtime and nothing else.

The obvious hand-written endpoint on the model `conveyor run` exported: a pydantic body
``{"features": [[13 floats], ...]}`` (rows in schema order), one ``[N, 1]`` float input per
feature as the export expects, one ``session.run``, predictions and probabilities back as
JSON through FastAPI's default response. No request ids, metrics, logging, batching or per-field error reporting. The handler is
``async def`` so the tiny ONNX call runs inline instead of hopping to the thread pool.

    BARE_ONNX_MODEL_DIR=<mlflow model dir> uvicorn bare_onnx:app --app-dir benchmarks/peers
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_DIR = Path(os.environ["BARE_ONNX_MODEL_DIR"])
EXTRA = MODEL_DIR / "extra_files"

_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
_options.inter_op_num_threads = 1
session = ort.InferenceSession(
    str(EXTRA / "model.onnx"), _options, providers=["CPUExecutionProvider"]
)
input_names: list[str] = json.loads((EXTRA / "onnx_inputs.json").read_text())

app = FastAPI(title="bare ONNX")


class PredictRequest(BaseModel):
    features: list[list[float]]


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/predict", response_model=None)
async def predict(body: PredictRequest) -> dict[str, list]:
    matrix = np.asarray(body.features, dtype=np.float32)
    feeds = {name: matrix[:, [j]] for j, name in enumerate(input_names)}
    labels, probabilities = session.run(None, feeds)
    return {"predictions": labels.tolist(), "probabilities": probabilities.tolist()}
