"""HTTP helpers shared by the routes: fast JSON responses, body limits, request ids, errors,
and decoding large bodies off the event loop."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from starlette.requests import Request
from starlette.responses import Response

from conveyor.errors import ConveyorError, Problem
from conveyor.jsonio import dumps
from conveyor.serving.inputs import RequestError
from conveyor.serving.jsonbody import parse_json

if TYPE_CHECKING:
    import anyio

__all__ = ["parse_json"]  # shared by every route that reads a JSON body

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
REQUEST_ID_RULE = "1-100 characters of letters, digits and . _ : -"
STATE_REQUEST_ID = "conveyor_request_id"
STATE_VERSION = "conveyor_version"
# Bodies up to this size are decoded on the event loop: a request this small is a few
# milliseconds of work at worst, and a thread hop would cost the 1-row path more than it saves.
OFFLOAD_BYTES = 64 * 1024
# Large decodes are GIL-bound Python: more threads than cores buy no speed, only memory (each
# holds a parsed body, about ten times its size), so a few at a time and the rest wait.
OFFLOAD_THREADS = 2

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class BodyTooLarge(RequestError):
    def __init__(self, limit: int) -> None:
        super().__init__([Problem("body", f"larger than the {limit}-byte limit")], status=413)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class BodyTooSlow(RequestError):
    def __init__(self, timeout: float) -> None:
        super().__init__([Problem("body", f"not received within {timeout:g} s")], status=408)


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` without reading it all, and
    (408) a body still arriving ``timeout`` seconds after its headers: a client trickling its
    body in would otherwise hold a connection and a task for as long as it likes."""
    import anyio

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTooSlow(timeout or 0) from None
    return b"".join(chunks)


class Offload:
    """Runs a request's decoding (parse, checks: work that grows with its rows) on a worker
    thread when the body is larger than ``threshold`` bytes, so a large or hostile body never
    holds the event loop and every other request (health probes included) keeps its pace.
    One per server process, built by its composition root."""

    def __init__(self, threshold: int = OFFLOAD_BYTES, threads: int = OFFLOAD_THREADS) -> None:
        self.threshold = threshold
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None  # made in the loop, on first use

    async def run(self, size: int, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        if size <= self.threshold:
            return fn(*args)
        import anyio.to_thread

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)


def request_id(request: Request) -> str:
    rid: str = request.scope.setdefault("state", {}).get(STATE_REQUEST_ID, "")
    return rid


def choose_request_id(header: str | None, fresh: str) -> str:
    return header if header is not None and _REQUEST_ID.match(header) else fresh


def body_request_id(request: Request, given: object) -> str:
    """The one id of a request that may also name itself in its body (the Open Inference
    Protocol's ``id``): a valid ``X-Request-ID`` header wins, else the body's ``id``, else the
    id the middleware made. It becomes the request's id for the log row, the response and
    ``/feedback``; a body ``id`` that cannot be one is refused (400, naming ``id``)."""
    header = request.headers.get("x-request-id")
    if given is None or given == "" or (header is not None and _REQUEST_ID.match(header)):
        return request_id(request)
    if not isinstance(given, str) or not _REQUEST_ID.match(given):
        raise RequestError([Problem("id", f"must be {REQUEST_ID_RULE}")], status=400)
    request.scope.setdefault("state", {})[STATE_REQUEST_ID] = given
    return given


def error_response(exc: ConveyorError, rid: str, v2: bool, mlflow: bool = False) -> Response:
    """The error in the protocol's own shape: V2 ``{"error"}``, MLflow's scoring server
    ``{"error_code", "message"}`` (with Conveyor's located problems beside), else Conveyor's."""
    body: dict[str, Any] = {"error": exc.message} if v2 else exc.to_dict()
    if mlflow:
        body = {"error_code": _mlflow_code(exc.http_status), "message": exc.message, **body}
    if not v2:
        body["request_id"] = rid
    headers = {"X-Request-ID": rid} if rid else {}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    return JsonResponse(body, status_code=exc.http_status, headers=headers)


def _mlflow_code(status: int) -> str:
    """The error code MLflow's scoring server would give for ``status``."""
    if status == 404:
        return "RESOURCE_DOES_NOT_EXIST"
    if status == 503:
        return "TEMPORARILY_UNAVAILABLE"
    return "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"
