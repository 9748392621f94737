"""MLflow's scoring protocol: ``POST /invocations``, ``GET /ping`` and ``GET /version``, so
clients written against `mlflow models serve` (its ``ScoringServerClient`` included) work
unchanged. Answers are ``{"predictions": [...]}``; errors ``{"error_code", "message"}`` as
MLflow's server writes them (the problems, located, beside)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from conveyor.serving.codecs.registry import CodecRegistry
from conveyor.serving.http import JsonResponse
from conveyor.serving.parts import ServerParts
from conveyor.serving.routes.body import predict_body

INVOCATIONS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "exactly one of dataframe_split, dataframe_records, instances, "
                "inputs; optional params",
            },
            "example": {"dataframe_split": {"columns": ["feature_a"], "data": [[1.0]]}},
        },
        "text/csv": {"schema": {"type": "string"}, "example": "feature_a\n1.0\n"},
    },
}


def mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


def router(state: ServerParts, codecs: CodecRegistry) -> APIRouter:
    api = APIRouter(tags=["mlflow scoring"])

    @api.post("/invocations", openapi_extra={"requestBody": INVOCATIONS_BODY})
    async def invocations(request: Request) -> Response:
        """Predict as `mlflow models serve` does: dataframe_split, dataframe_records,
        instances, inputs (JSON) or text/csv in; {"predictions": [...]} out."""
        _, result = await predict_body(state, request, "/invocations", codecs)
        return JsonResponse({"predictions": result.output.predictions})

    @api.get("/ping")
    async def ping() -> Response:
        """MLflow's health check: 200 once a model is loaded, 503 before."""
        ready = state.manager.ready
        return PlainTextResponse("\n", status_code=200 if ready else 503)

    @api.get("/version")
    async def version() -> Response:
        """The MLflow version whose protocol this server speaks."""
        return PlainTextResponse(mlflow_version())

    return api
