"""What the JSON prediction routes share: read the body within its limits, decode it (off the
event loop when large), run it through the data plane, all inside the request's spans; each
route only says how its body decodes and how its answer is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request

from conveyor.serving.http import STATE_VERSION, read_body, request_id
from conveyor.serving.inputs import PredictInput, UnseenPolicy
from conveyor.tracing import REQUEST_ID

if TYPE_CHECKING:
    from conveyor.serving.dataplane import Prediction
    from conveyor.serving.state import ServerState

# (body, manager, unseen-category policy, row limit, *extra) -> the request's model and columns
Decoder = Callable[..., PredictInput]


async def predict_body(
    state: ServerState, request: Request, route: str, decode: Decoder, *extra: Any
) -> tuple[str, Prediction]:
    """The request id and the prediction for a body ``decode`` reads (``extra`` comes after
    its usual arguments); the version that answered is noted for the access metrics."""
    settings = state.settings
    rid = request_id(request)
    with state.tracing.span("conveyor.request", **{REQUEST_ID: rid, "http.route": route}):
        with state.tracing.span("conveyor.parse"):
            body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
            decoded = await state.offload.run(
                len(body),
                decode,
                body,
                state.manager,
                UnseenPolicy(settings.unseen_categories),
                settings.max_request_rows,
                *extra,
            )
        if decoded.wanted is not None and state.features is not None:
            with state.tracing.span("conveyor.features"):
                decoded = await state.features.complete(
                    decoded, UnseenPolicy(settings.unseen_categories), settings.max_request_rows
                )
        result = await state.dataplane.predict(
            decoded.columns,
            decoded.rows,
            rid,
            request.scope["state"]["conveyor_started"],
            version=decoded.version,
            model=decoded.model,
            headers=request.headers,
            keys=decoded.keys,
        )
    # a rollout may have routed it to the candidate
    request.scope["state"][STATE_VERSION] = result.model.identity.version
    return rid, result
