"""Health, readiness, model info, metrics and feedback."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.serving.http import JsonResponse, parse_json, read_body
from conveyor.serving.parts import ServerParts
from conveyor.serving.readiness import readiness

FEEDBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "request_id": {"type": "string", "minLength": 1, "maxLength": 100},
                    "row": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "label": {},
                    "feedback": {"type": "array", "items": {"type": "object"}},
                },
            },
            "example": {"request_id": "4f1c...", "label": 1},
        }
    },
}


def router(state: ServerParts) -> APIRouter:
    api = APIRouter(tags=["operations"])

    @api.get("/health")
    async def health(verbose: bool = False) -> dict[str, Any]:
        """Liveness: the process answers. With ``?verbose=true``, also the model served and
        what the last alias refresh found of the registry (reachable or not, and when); the
        answer stays 200: a registry outage does not stop serving what is loaded."""
        if not verbose:
            return {"status": "ok"}
        manager = state.manager
        model = None
        if manager.ready:
            ident = manager.current().identity
            model = {"name": ident.name, "version": ident.version, "stage": ident.stage}
        registry: dict[str, Any] = dict(manager.refreshed)
        registry["refresh_seconds"] = state.settings.refresh_seconds
        return {"status": "ok", "model": model, "registry": registry}

    @api.get("/ready")
    async def ready() -> Response:
        """Readiness: a model is loaded and the inference log keeps what is answered (its
        ingester runs, its spool takes records); 503 with the problems otherwise."""
        answer = readiness(state)
        return JsonResponse(answer.body, status_code=200 if answer.ready else 503)

    @api.get("/model/info")
    async def model_info() -> Response:
        """Name, version, stage, semver, run id, metrics, schema and load time of the model;
        ``online_features`` when requests may carry entity keys instead of features; during a
        rollout, ``candidate``: the version loaded beside it and its runtime."""
        model = state.manager.current()
        ident = model.identity
        info: dict[str, Any] = {
            "name": ident.name,
            "version": ident.version,
            "stage": ident.stage,
            "semver": ident.semver,
            "run_id": ident.run_id,
            "runtime": model.runtime.name,
            "runtime_reason": _runtime_reason(model),
            "metrics": ident.metrics,
            "schema": model.bundle.schema.to_dict(),
            "loaded_at": model.bundle.loaded_at,
            "load_seconds": round(model.load_seconds, 3),
        }
        online = model.bundle.online_features
        if online is not None and state.features is not None:
            info["online_features"] = {
                "store": "feast",
                "repo": str(state.features.repo(online)),
                "features": online.features,
                "entity_keys": online.keys,
                "defaults": online.defaults,
                "max_age_seconds": online.max_age_seconds,
            }
        routing = state.dataplane.routing
        candidate = routing.candidate if routing is not None else None
        if candidate is not None:
            info["candidate"] = {
                "version": candidate.identity.version,
                "runtime": candidate.runtime.name,
                "runtime_reason": _runtime_reason(candidate),
                "loaded_at": candidate.bundle.loaded_at,
            }
        return JsonResponse(info)

    @api.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition."""
        return Response(
            state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @api.post("/feedback", openapi_extra={"requestBody": FEEDBACK_BODY})
    async def feedback(request: Request) -> Response:
        """Ground truth for one (`request_id`, `label`, `row`?) or many (`feedback: [...]`)
        predictions; the answer counts what joined a logged prediction, what is held until its
        prediction is logged and what was rejected, and lists the labels that did not join."""
        body = await read_body(
            request, state.settings.max_body_bytes, state.settings.body_timeout_seconds
        )
        classes = state.manager.current().bundle.schema.classes
        # decoding, checking and storing grow with the batch: off the event loop
        receipt = await asyncio.to_thread(lambda: state.feedback.submit(parse_json(body), classes))
        return JsonResponse(receipt)

    return api


def _runtime_reason(model: Any) -> str:
    if getattr(model.runtime, "reason", ""):
        return str(model.runtime.reason)
    if model.bundle.note:
        return str(model.bundle.note)
    if model.runtime.name == "onnx":
        return "the version's ONNX graph, which matched scikit-learn at registration"
    return "no ONNX graph for this version (no converter, or parity failed at registration)"
