"""What the prediction routes share: read the body within its limits, decode it (off the
event loop when large), run it through the data plane, all inside the request's spans; each
route only names its formats (a ``CodecRegistry``) and writes its answer."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from fastapi import Request

from conveyor.serving.http import STATE_VERSION, body_request_id, read_body, request_id
from conveyor.serving.inputs import UnseenPolicy
from conveyor.serving.v2codec import HEADER_LENGTH
from conveyor.serving.v2inputs import InferInput, decode_infer
from conveyor.tracing import REQUEST_ID

if TYPE_CHECKING:
    from conveyor.serving.codecs.registry import CodecRegistry
    from conveyor.serving.dataplane import Prediction
    from conveyor.serving.manager import LoadedModel
    from conveyor.serving.parts import ServerParts


async def predict_body(
    state: ServerParts, request: Request, route: str, codecs: CodecRegistry
) -> tuple[str, Prediction]:
    """The request id and the prediction for a body one of ``codecs`` reads; the version
    that answered is noted for the access metrics."""
    settings = state.settings
    policy = UnseenPolicy(settings.unseen_categories)
    rid = request_id(request)
    span = state.tracing.span("conveyor.request", **{REQUEST_ID: rid, "http.route": route})
    with ExitStack() as holding, span:
        with state.tracing.span("conveyor.parse"):
            body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
            holding.enter_context(state.manager.inflight.request())  # taking the model: held
            decoded = await state.offload.run(
                len(body),
                codecs.decode,
                body,
                request.headers.get("content-type", ""),
                state.manager,
                policy,
                settings.max_request_rows,
                state.features,
            )
        if decoded.wanted is not None and state.features is not None:
            with state.tracing.span("conveyor.features"):
                decoded = await state.features.complete(decoded, policy, settings.max_request_rows)
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


async def infer_body(
    state: ServerParts, request: Request, take: Callable[[], LoadedModel], version: str | None
) -> tuple[InferInput, Prediction, str]:
    """An Open Inference Protocol request for the model ``take()`` gives once the body is in:
    its decoded header, the prediction and the request's id (the body's ``id`` when the
    client gave one)."""
    settings = state.settings
    route = "/v2/models/{name}/infer"
    with (
        ExitStack() as holding,
        state.tracing.span("conveyor.request", **{"http.route": route}) as span,
    ):
        with state.tracing.span("conveyor.parse"):
            body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
            holding.enter_context(state.manager.inflight.request())  # taking the model: held
            model = take()
            decoded = await state.offload.run(
                len(body),
                decode_infer,
                body,
                request.headers.get(HEADER_LENGTH),
                model.bundle.schema,
                UnseenPolicy(settings.unseen_categories),
                settings.max_request_rows,
            )
        rid = body_request_id(request, decoded.header.get("id"))
        state.tracing.annotate(span, **{REQUEST_ID: rid})
        result = await state.dataplane.predict(
            decoded.columns,
            decoded.rows,
            rid,
            request.scope["state"]["conveyor_started"],
            version=version,
            model=model,
            headers=request.headers,
        )
    request.scope["state"][STATE_VERSION] = result.model.identity.version
    return decoded, result, rid
