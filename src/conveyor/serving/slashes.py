"""Routes answer with or without a trailing slash (``/predict/`` is ``/predict``).

Starlette would answer a redirect (307) that many HTTP clients do not follow for a POST, and
that costs a round trip when they do. This ASGI middleware strips one trailing slash before
routing instead, so both spellings reach the same route.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class StripTrailingSlash:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
