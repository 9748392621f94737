"""`POST /predict`: Conveyor's own JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.serving.codecs.registry import CodecRegistry
from conveyor.serving.http import JsonResponse
from conveyor.serving.parts import ServerParts
from conveyor.serving.routes.body import predict_body

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
        },
        "text/csv": {
            "schema": {"type": "string", "description": "a header row naming the features"},
            "example": "feature_a,feature_b\n1.0,x\n",
        },
    },
}


def router(state: ServerParts, codecs: CodecRegistry) -> APIRouter:
    api = APIRouter()

    @api.post("/predict", openapi_extra={"requestBody": PREDICT_BODY}, tags=["predict"])
    async def predict(request: Request) -> Response:
        """Predict for one or many rows: named (`instances`), in schema order (`features`), or
        a CSV (`text/csv`) whose header names the features."""
        rid, result = await predict_body(state, request, "/predict", codecs)
        model = result.model  # a rollout may have routed it to the candidate
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
