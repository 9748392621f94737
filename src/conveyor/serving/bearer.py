"""The bearer token that guards the admin endpoints and the console's actions: compared in
constant time, and failed attempts limited per client so a token cannot be guessed."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import deque

from starlette.requests import Request

from conveyor.errors import Forbidden, RateLimitedError, Unauthorized
from conveyor.settings import Settings

FAILURES_ALLOWED = 10  # per client in WINDOW_SECONDS; then every attempt waits (429)
WINDOW_SECONDS = 60.0
_CLIENTS_KEPT = 10_000  # failures are remembered for this many clients at most


class BearerGuard:
    """Checks ``Authorization: Bearer <token>`` against ``CONVEYOR_ADMIN_TOKEN``: 403 when the
    token is unset (the endpoints are off), 401 without a token, 403 for a wrong one, and 429
    (with Retry-After) for a client past ``FAILURES_ALLOWED`` wrong tokens in a minute, even
    with the right one, until its oldest failure leaves the window."""

    def __init__(self, settings: Settings, off: str) -> None:
        self.settings = settings
        self.off = off
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, request: Request) -> None:
        expected = self.settings.admin_token
        if expected is None:
            raise Forbidden(f"{self.off}: set CONVEYOR_ADMIN_TOKEN")
        client = request.client.host if request.client is not None else ""
        now = time.monotonic()
        self._refuse_if_limited(client, now)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
        if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
            self._fail(client, now)
            raise Forbidden("wrong admin token")

    def _refuse_if_limited(self, client: str, now: float) -> None:
        with self._lock:
            failures = self._failures.get(client)
            if failures is None:
                return
            while failures and failures[0] <= now - WINDOW_SECONDS:
                failures.popleft()
            if not failures:
                del self._failures[client]
                return
            if len(failures) >= FAILURES_ALLOWED:
                wait = max(1, math.ceil(failures[0] + WINDOW_SECONDS - now))
                raise RateLimitedError(
                    f"{len(failures)} wrong tokens from this client in the last minute; "
                    f"retry in {wait} s",
                    retry_after=wait,
                )

    def _fail(self, client: str, now: float) -> None:
        with self._lock:
            if client not in self._failures and len(self._failures) >= _CLIENTS_KEPT:
                self._failures.pop(next(iter(self._failures)))  # the longest-known client
            self._failures.setdefault(client, deque()).append(now)
