"""Admin endpoints behind a bearer token (``CONVEYOR_ADMIN_TOKEN``)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from starlette.responses import Response

from conveyor.errors import ConveyorError
from conveyor.serving.http import JsonResponse
from conveyor.serving.state import ServerState


class Unauthorized(ConveyorError):
    http_status = 401


class Forbidden(ConveyorError):
    http_status = 403


def check_token(request: Request, state: ServerState) -> None:
    """401 without a bearer token, 403 with a wrong one; compared in constant time."""
    expected = state.settings.admin_token
    if expected is None:
        raise Forbidden("admin endpoints are disabled: set CONVEYOR_ADMIN_TOKEN")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise Forbidden("wrong bearer token")


def router(state: ServerState) -> APIRouter:
    api = APIRouter(prefix="/admin", tags=["admin"])

    @api.post("/reload")
    async def reload(request: Request) -> Response:
        """Load the version the alias points at now, if it moved; swaps atomically."""
        check_token(request, state)
        swapped, ident = await state.manager.reload()
        return JsonResponse({"swapped": swapped, "name": ident.name, "version": ident.version})

    return api
