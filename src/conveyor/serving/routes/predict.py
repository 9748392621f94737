"""`POST /predict`: Conveyor's own JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.serving.http import STATE_VERSION, JsonResponse, parse_json, read_body, request_id
from conveyor.serving.inputs import (
    UnseenPolicy,
    bad_request,
    columns_from_instances,
    columns_from_matrix,
)
from conveyor.serving.state import ServerState

PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "instances": {"type": "array", "items": {"type": "object"}},
                            "model_version": {"type": "string"},
                        },
                        "required": ["instances"],
                    },
                    {
                        "type": "object",
                        "properties": {
                            "features": {"type": "array", "items": {"type": "array"}},
                            "model_version": {"type": "string"},
                        },
                        "required": ["features"],
                    },
                    {"type": "object", "description": "one instance: {feature: value, ...}"},
                ]
            },
            "example": {"instances": [{"feature_a": 1.0, "feature_b": "x"}]},
        }
    },
}


def router(state: ServerState) -> APIRouter:
    api = APIRouter()

    @api.post("/predict", openapi_extra={"requestBody": PREDICT_BODY}, tags=["predict"])
    async def predict(request: Request) -> Response:
        """Predict for one or many rows, named (`instances`) or in schema order (`features`)."""
        body = parse_json(await read_body(request, state.settings.max_body_bytes))
        if not isinstance(body, dict):
            raise bad_request("body", "must be a JSON object")
        version = body.pop("model_version", None)
        if version is not None and not isinstance(version, str | int):
            raise bad_request("model_version", "must be a string or integer")
        model = state.manager.get(None if version is None else str(version))
        schema = model.bundle.schema
        policy = UnseenPolicy(state.settings.unseen_categories)
        if "instances" in body:
            columns, rows = columns_from_instances(body["instances"], schema, policy)
        elif "features" in body:
            columns, rows = columns_from_matrix(body["features"], schema, policy)
        else:
            columns, rows = columns_from_instances(body, schema, policy)
        rid = request_id(request)
        result = await state.dataplane.predict(
            columns,
            rows,
            rid,
            request.scope["state"]["conveyor_started"],
            version=None if version is None else str(version),
            model=model,
            headers=request.headers,
        )
        model = result.model  # a rollout may have routed it to the candidate
        request.scope["state"][STATE_VERSION] = model.identity.version
        ident = model.identity
        payload: dict[str, Any] = {"predictions": result.output.predictions}
        if result.output.probabilities is not None:
            payload["probabilities"] = result.output.probabilities
            payload["classes"] = result.classes
        payload["model"] = {"name": ident.name, "version": ident.version, "stage": ident.stage}
        payload["request_id"] = rid
        payload["latency_ms"] = round(result.latency_ms, 3)
        return JsonResponse(payload)

    return api
