"""Open Inference Protocol V2 over REST, as `tritonclient`, KServe and MLServer clients speak it."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor import __version__
from conveyor.data.schema import Kind, Schema
from conveyor.errors import NotFoundError, Problem
from conveyor.jsonio import dumps
from conveyor.serving.http import JsonResponse
from conveyor.serving.inputs import RequestError
from conveyor.serving.manager import LoadedModel
from conveyor.serving.parts import ServerParts
from conveyor.serving.routes.body import infer_body
from conveyor.serving.v2codec import as_datatype, encode_output

INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string"},
                                "data": {},
                                "parameters": {"type": "object"},
                            },
                        },
                    },
                    "outputs": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
    },
}


MISSING_VALUES = (
    'a missing value is NaN or null in an FP tensor, "" or null in a BYTES tensor; '
    "accepted for inputs whose parameters.nullable is true"
)


def _model(state: ServerParts, name: str, version: str | None) -> LoadedModel:
    model = state.manager.current()
    if name != model.identity.name:
        raise NotFoundError(f"model {name!r} is not served here (serving {model.identity.name!r})")
    return state.manager.get(version)  # production, or a loaded version (a rollout's candidate)


def _metadata(model: LoadedModel) -> dict[str, Any]:
    schema = model.bundle.schema
    inputs = [
        {
            "name": c.name,
            "datatype": "BYTES" if c.kind is Kind.CATEGORICAL else "FP64",
            "shape": [-1],
            "parameters": {"nullable": c.nullable},
        }
        for c in schema.features
    ]
    outputs = [{"name": "predictions", "datatype": _prediction_type(schema), "shape": [-1]}]
    if schema.classes:
        outputs.append(
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(schema.classes)]}
        )
    return {
        "name": model.identity.name,
        "versions": [model.identity.version],
        "platform": f"conveyor_{model.runtime.name}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"classes": [str(c) for c in schema.classes], "missing": MISSING_VALUES},
    }


def _prediction_type(schema: Schema) -> str:
    if not schema.classes:
        return "FP64"
    return "INT64" if all(isinstance(c, int) for c in schema.classes) else "BYTES"


def router(state: ServerParts) -> APIRouter:
    api = APIRouter(prefix="/v2", tags=["open inference protocol v2"])

    @api.get("")
    async def server_metadata() -> Response:
        return JsonResponse(
            {"name": "conveyor", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    @api.get("/health/live")
    async def live() -> Response:
        return JsonResponse({"live": True})

    @api.get("/health/ready")
    async def ready() -> Response:
        ok = state.manager.ready
        return JsonResponse({"ready": ok}, status_code=200 if ok else 503)

    @api.get("/models/{name}")
    @api.get("/models/{name}/versions/{version}")
    async def metadata(name: str, version: str | None = None) -> Response:
        return JsonResponse(_metadata(_model(state, name, version)))

    @api.get("/models/{name}/ready")
    @api.get("/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None) -> Response:
        _model(state, name, version)
        return JsonResponse({"name": name, "ready": state.manager.ready})

    @api.post("/models/{name}/infer", openapi_extra={"requestBody": INFER_BODY})
    @api.post("/models/{name}/versions/{version}/infer", openapi_extra={"requestBody": INFER_BODY})
    async def infer(name: str, request: Request, version: str | None = None) -> Response:
        _model(state, name, version)  # a name or version not served: 404 before the body
        take = functools.partial(_model, state, name, version)
        decoded, result, rid = await infer_body(state, request, take, version)
        return _infer_response(decoded.header, result.model, result.output, rid)

    return api


def _infer_response(header: dict[str, Any], model: LoadedModel, output: Any, rid: str) -> Response:
    # in the types the metadata announces, whatever the runtime produced (ONNX gives FP32)
    schema = model.bundle.schema
    available = {"predictions": as_datatype(output.predictions, _prediction_type(schema))}
    if output.probabilities is not None:
        available["probabilities"] = as_datatype(output.probabilities, "FP32")
    raw_params = header.get("parameters")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    default_binary = bool(params.get("binary_data_output", False))
    requested = header.get("outputs")
    wanted: list[tuple[str, bool]] = []
    if isinstance(requested, list) and requested:
        for i, out in enumerate(requested):
            if not isinstance(out, dict) or out.get("name") not in available:
                raise RequestError(
                    [Problem(f"outputs[{i}].name", f"must be one of {sorted(available)}")],
                    status=400,
                )
            raw_out = out.get("parameters")
            out_params: dict[str, Any] = raw_out if isinstance(raw_out, dict) else {}
            wanted.append((out["name"], bool(out_params.get("binary_data", default_binary))))
    else:
        wanted = [(n, default_binary) for n in available]
    entries = []
    blobs = []
    for name, binary in wanted:
        entry, raw = encode_output(name, available[name], binary)
        entries.append(entry)
        if raw:
            blobs.append(raw)
    response = {
        "model_name": model.identity.name,
        "model_version": model.identity.version,
        "id": rid,
        "outputs": entries,
    }
    if not blobs:
        return JsonResponse(response)
    head = dumps(response)
    return Response(
        head + b"".join(blobs),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
