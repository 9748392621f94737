"""HTTP helpers shared by the routes: fast JSON responses, body limits, request ids, errors."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from conveyor.errors import ConveyorError, Problem
from conveyor.jsonio import dumps
from conveyor.serving.inputs import RequestError

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
STATE_REQUEST_ID = "conveyor_request_id"
STATE_VERSION = "conveyor_version"


class BodyTooLarge(RequestError):
    def __init__(self, limit: int) -> None:
        super().__init__([Problem("body", f"larger than the {limit}-byte limit")], status=413)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body:
        raise RequestError([Problem("body", "empty; expected a JSON object")], status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError([Problem("body", f"malformed JSON: {exc}")], status=400) from None


def request_id(request: Request) -> str:
    rid: str = request.scope.setdefault("state", {}).get(STATE_REQUEST_ID, "")
    return rid


def choose_request_id(header: str | None, fresh: str) -> str:
    return header if header is not None and _REQUEST_ID.match(header) else fresh


def error_response(exc: ConveyorError, rid: str, v2: bool) -> Response:
    body: dict[str, Any] = {"error": exc.message} if v2 else exc.to_dict()
    if not v2:
        body["request_id"] = rid
    headers = {"X-Request-ID": rid} if rid else {}
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    return JsonResponse(body, status_code=exc.http_status, headers=headers)
