"""Webhooks: events POSTed as JSON, signed with HMAC-SHA256 when a secret is set.

The receiver recomputes ``hmac_sha256(secret, timestamp + "." + body)`` and compares it with
``X-Conveyor-Signature: sha256=<hex>``; the timestamp (``X-Conveyor-Timestamp``, Unix seconds)
is part of the signed text so a captured request cannot be replayed later. A webhook that
fails is logged and skipped: notifications never block the work that raised them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from conveyor.jsonio import dumps

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Conveyor-Signature"
TIMESTAMP_HEADER = "X-Conveyor-Timestamp"
EVENT_HEADER = "X-Conveyor-Event"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, max_age: float = 300) -> bool:
    """True when ``headers`` carry a valid, fresh signature of ``body`` (for receivers)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(given, sign(secret, timestamp, body))


def post_event(
    urls: Sequence[Any],
    event: str,
    payload: Mapping[str, Any],
    secret: str | None = None,
    timeout: float = 5.0,
) -> list[str]:
    """POST ``{"event": event, **payload}`` to each URL; returns the URLs that took it (2xx).

    An entry is a URL, or has ``url`` and ``format`` (``WebhookSpec``): ``slack`` posts
    ``{"text": ...}`` (a one-line summary with the runbook link) instead of the event."""
    if not urls:
        return []
    import httpx

    bodies = {"json": dumps({"event": event, **payload})}
    timestamp = str(int(time.time()))
    delivered = []
    with httpx.Client(timeout=timeout) as client:
        for hook in urls:
            url, kind = (hook, "json") if isinstance(hook, str) else (hook.url, hook.format)
            if kind not in bodies:
                bodies[kind] = dumps({"text": slack_text(event, payload)})
            body = bodies[kind]
            headers = {"Content-Type": "application/json", EVENT_HEADER: event}
            if secret:
                headers[TIMESTAMP_HEADER] = timestamp
                headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning("webhook %s: %s failed: %s", event, _host(url), exc)
                continue
            if response.is_success:
                delivered.append(url)
            else:
                log.warning("webhook %s: %s answered %d", event, _host(url), response.status_code)
    return delivered


def slack_text(event: str, payload: Mapping[str, Any]) -> str:
    """One Slack message line for an alert or rollout event (mrkdwn: *bold*, <url|label>)."""
    alert = payload.get("alert")
    if isinstance(alert, Mapping):  # alert.firing / alert.resolved
        icon = ":red_circle:" if event == "alert.firing" else ":white_check_mark:"
        state = "firing" if event == "alert.firing" else "resolved"
        text = (
            f"{icon} *{alert.get('rule')}* {state} on {alert.get('model')} version "
            f"{alert.get('version')} ({alert.get('severity')}): {alert.get('message')}"
        )
        runbook = (alert.get("details") or {}).get("runbook_url")
    else:  # rollout.*
        text = (
            f":arrows_counterclockwise: *{event}* {payload.get('model')}: version "
            f"{payload.get('champion')} → {payload.get('candidate')} ({payload.get('strategy')}, "
            f"step {int(payload.get('step', 0)) + 1}, {payload.get('state')})"
        )
        if payload.get("reason"):
            text += f": {payload.get('reason')}"
        runbook = payload.get("runbook_url")
    if runbook:
        text += f" <{runbook}|runbook>"
    return text


def _host(url: str) -> str:
    """The URL without path or query: webhook paths often carry tokens, never log them."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
