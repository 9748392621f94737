"""Open Inference Protocol V2 over REST, as `tritonclient`, KServe and MLServer clients speak it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor import __version__
from conveyor.data.schema import Kind, Schema
from conveyor.errors import NotFoundError, Problem
from conveyor.jsonio import dumps
from conveyor.serving.http import (
    STATE_VERSION,
    JsonResponse,
    parse_json,
    read_body,
    request_id,
)
from conveyor.serving.inputs import RequestError, UnseenPolicy, bad_request, check_columns
from conveyor.serving.manager import LoadedModel
from conveyor.serving.runtime import Columns
from conveyor.serving.state import ServerState
from conveyor.serving.v2codec import (
    HEADER_LENGTH,
    Tensor,
    decode_inputs,
    encode_output,
    split_body,
)

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


def _model(state: ServerState, name: str, version: str | None) -> LoadedModel:
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
        "parameters": {"classes": [str(c) for c in schema.classes]},
    }


def _prediction_type(schema: Schema) -> str:
    if not schema.classes:
        return "FP64"
    return "INT64" if all(isinstance(c, int) for c in schema.classes) else "BYTES"


def tensors_to_columns(
    tensors: list[Tensor], schema: Schema, policy: UnseenPolicy
) -> tuple[Columns, int]:
    """One [N, n_features] tensor in metadata order, or one [N] / [N, 1] tensor per feature."""
    import numpy as np

    names = schema.names
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and tensors[0].name not in names:
        matrix = tensors[0]
        rows, width = matrix.shape
        if width != len(names):
            raise RequestError(
                [
                    Problem(
                        f"inputs[{matrix.name}].shape",
                        f"must be [N, {len(names)}] (one column per feature), got {matrix.shape}",
                    )
                ]
            )
        if matrix.data.dtype.kind in "iuf" and all(
            c.kind is not Kind.CATEGORICAL for c in schema.features
        ):
            # the common numeric case: one conversion and one finiteness check for the matrix
            values = matrix.data.astype(np.float64, copy=False)
            finite = np.isfinite(values)
            if not finite.all():
                i, j = (int(v) for v in np.argwhere(~finite)[0])
                raise RequestError(
                    [Problem(f"inputs[{matrix.name}][{i}][{j}]", "must be a finite number")]
                )
            return {n: values[:, j] for j, n in enumerate(names)}, rows
        raw = {n: matrix.data[:, j] for j, n in enumerate(names)}
    else:
        raw = {}
        problems = []
        for t in tensors:
            if t.name not in names:
                problems.append(Problem(f"inputs[{t.name}]", "unknown feature"))
            elif len(t.shape) > 2 or (len(t.shape) == 2 and t.shape[1] != 1):
                problems.append(
                    Problem(f"inputs[{t.name}].shape", f"must be [N] or [N, 1], got {t.shape}")
                )
            else:
                raw[t.name] = t.data.reshape(-1)
        problems += [
            Problem(f"inputs[{n}]", "missing feature")
            for n in names
            if n not in raw and not problems
        ]
        if problems:
            raise RequestError(problems)
        lengths = {len(v) for v in raw.values()}
        if len(lengths) != 1:
            raise RequestError(
                [Problem("inputs", f"feature tensors differ in length: {sorted(lengths)}")]
            )
    as_lists: dict[str, list[Any]] = {}
    for col in schema.features:
        values = raw[col.name]
        if col.kind is not Kind.CATEGORICAL and values.dtype.kind in "iuf":
            arr = values.astype(np.float64)
            if not np.isfinite(arr).all():
                bad = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise RequestError(
                    [Problem(f"inputs[{col.name}][{bad}]", "must be a finite number")]
                )
            raw[col.name] = arr
            continue
        as_lists[col.name] = values.tolist()
    if not as_lists:
        return {n: raw[n] for n in names}, len(raw[names[0]])
    # the slow, value-checking path only for categorical or mistyped columns
    checked, rows = check_columns(
        {n: (as_lists[n] if n in as_lists else raw[n].tolist()) for n in names},
        schema,
        policy,
        lambda name, i: f"inputs[{name}][{i}]",
    )
    return checked, rows


def router(state: ServerState) -> APIRouter:
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
        model = _model(state, name, version)
        body = await read_body(request, state.settings.max_body_bytes)
        head, binary = split_body(body, request.headers.get(HEADER_LENGTH))
        header = parse_json(head)
        if not isinstance(header, dict):
            raise bad_request("body", "must be a JSON object")
        policy = UnseenPolicy(state.settings.unseen_categories)
        columns, rows = tensors_to_columns(
            decode_inputs(header, binary), model.bundle.schema, policy
        )
        given = header.get("id")
        rid = given if isinstance(given, str) else request_id(request)
        result = await state.dataplane.predict(
            columns,
            rows,
            request_id(request),
            request.scope["state"]["conveyor_started"],
            version=version,
            model=model,
            headers=request.headers,
        )
        request.scope["state"][STATE_VERSION] = result.model.identity.version
        return _infer_response(header, result.model, result.output, rid)

    return api


def _infer_response(header: dict[str, Any], model: LoadedModel, output: Any, rid: str) -> Response:
    available = {"predictions": output.predictions}
    if output.probabilities is not None:
        available["probabilities"] = output.probabilities
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
