"""One pure-ASGI middleware: request id in and out, timing, request metrics, access log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.serving.dataplane import new_request_id
from conveyor.serving.http import STATE_REQUEST_ID, STATE_VERSION, choose_request_id
from conveyor.serving.metrics import ServerMetrics

access = logging.getLogger("conveyor.access")
log = logging.getLogger(__name__)
CLIENT_CLOSED = 499  # the status counted for a request its client abandoned


# routes that run the model: their failures count against the model version's health
INFERENCE_ROUTES = frozenset(
    {
        "/predict",
        "/invocations",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    }
)


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        metrics: ServerMetrics,
        model_name: Any,
        on_failure: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.model_name = model_name
        self.on_failure = on_failure  # (version, status, elapsed ms) of a failed inference
        # label lookups take a lock and build a tuple each time: keep the children
        self._children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        header = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                header = value.decode("latin-1")
                break
        rid = choose_request_id(header, new_request_id())
        state = scope.setdefault("state", {})
        state[STATE_REQUEST_ID] = rid
        state["conveyor_started"] = started
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    # a route may adopt the id a body names (V2 `id`): the state has the last word
                    headers.append((b"x-request-id", state[STATE_REQUEST_ID].encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # the client hung up before its request was read: its abort, not a server error;
            # no answer can reach it (499, as proxies count such requests)
            status = CLIENT_CLOSED
            log.info(
                "%s %s: client closed the connection before its request was read (request_id=%s)",
                scope["method"],
                scope["path"],
                state[STATE_REQUEST_ID],
            )
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            if path not in ("/metrics", "/health", "/ready", "/v2/health/live", "/v2/health/ready"):
                elapsed = time.perf_counter() - started
                model = self.model_name()
                version = state.get(STATE_VERSION, "")
                key = (path, model, version, status)
                children = self._children.get(key)
                if children is None:
                    children = self._children[key] = (
                        self.metrics.requests.labels(path, model, version, str(status)),
                        self.metrics.latency.labels(path, model),
                    )
                children[0].inc()
                children[1].observe(elapsed)
                if (
                    status >= 400
                    and status != CLIENT_CLOSED
                    and self.on_failure is not None
                    and path in INFERENCE_ROUTES
                ):
                    self.on_failure(version, status, elapsed * 1000)
                if access.isEnabledFor(logging.INFO):
                    access.info(
                        "%s %s %d %.2fms request_id=%s",
                        scope["method"],
                        scope["path"],
                        status,
                        elapsed * 1000,
                        state[STATE_REQUEST_ID],
                    )
