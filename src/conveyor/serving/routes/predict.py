"""`POST /predict`: Conveyor's own JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.serving.http import STATE_VERSION, JsonResponse, read_body, request_id
from conveyor.serving.inputs import UnseenPolicy, decode_predict
from conveyor.serving.state import ServerState
from conveyor.tracing import REQUEST_ID

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
        settings = state.settings
        rid = request_id(request)
        with state.tracing.span("conveyor.request", **{REQUEST_ID: rid, "http.route": "/predict"}):
            with state.tracing.span("conveyor.parse"):
                body = await read_body(
                    request, settings.max_body_bytes, settings.body_timeout_seconds
                )
                decoded = await state.offload.run(
                    len(body),
                    decode_predict,
                    body,
                    state.manager,
                    UnseenPolicy(settings.unseen_categories),
                    settings.max_request_rows,
                )
            result = await state.dataplane.predict(
                decoded.columns,
                decoded.rows,
                rid,
                request.scope["state"]["conveyor_started"],
                version=decoded.version,
                model=decoded.model,
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
